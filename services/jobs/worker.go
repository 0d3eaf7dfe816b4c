package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ssegate/ssegate/services/prime"
	"github.com/ssegate/ssegate/services/store"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// cancelRequest is the cause of a job's context when a user cancels it.
type cancelRequest struct{ by string }

func (c *cancelRequest) Error() string { return "cancelled by " + c.by }

// errNotRunning makes a worker's write fail when the job already ended, or
// is no longer the worker's (another replica took it over).
var errNotRunning = errors.New("jobs: job is not running")

// worker runs one job in this process.
type worker struct {
	s       *Service
	id      string
	limit   uint32
	counter *prime.Counter
	started time.Time // when this process took the job up
	elapsed uint64    // ms the job had run before that
	// epoch is the job's term this worker writes in; anyEpoch writes in
	// whichever (a cancel from a replica that does not run the job).
	epoch    uint64
	anyEpoch bool
	// failed is set once checkpoint has ended the job as failed.
	failed bool
}

// mine reports whether r is a running job that this worker may write.
func (w *worker) mine(r *record) bool {
	return r.State == jobsv1.JobState_JOB_STATE_RUNNING && (w.anyEpoch || r.Epoch == w.epoch)
}

// work runs job j from its checkpoint until it completes, is cancelled, or
// the service closes or loses the job's lease (then it stops quietly; the
// next process, or replica, resumes it). It reports whether it ended the
// job.
func (s *Service) work(ctx context.Context, j store.Stream, rec record) bool {
	w := &worker{s: s, id: j.Name, limit: rec.Limit, started: s.cfg.now(), elapsed: rec.ElapsedMS, epoch: rec.Epoch}
	cp := prime.Checkpoint{Done: rec.Done, Count: rec.Count, Largest: rec.Largest}
	counter, err := prime.Resume(rec.Limit, s.cfg.chunkSize, cp)
	if err != nil {
		s.cfg.logger.Error("jobs: cannot resume job", "job", j.Name, "err", err)
		return w.end(jobsv1.JobState_JOB_STATE_FAILED, "failed: the saved state of the job is invalid",
			&jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Failed{Failed: &jobsv1.Failed{
				Message: "the saved state of the job is invalid",
			}}})
	}
	w.counter = counter

	var first string
	if j.Last == 0 {
		first = fmt.Sprintf("job %s started by %s\n  count:    the primes below %d\n  chunks:   %d numbers each",
			j.Name, j.Owner, rec.Limit, s.cfg.chunkSize)
		if d := s.cfg.minChunkDuration; d > 0 {
			first += fmt.Sprintf(", paced to %v apiece", d)
		}
		first += fmt.Sprintf("\n  progress: at most every %v", s.cfg.progressInterval)
	} else if s.cfg.leases != nil {
		first = fmt.Sprintf("job %s resumed by replica %s\n  from: %s", j.Name, s.cfg.replica, w.summary(cp))
	} else {
		first = fmt.Sprintf("job %s resumed after a restart\n  from: %s", j.Name, w.summary(cp))
	}
	if !w.checkpoint(ctx, logEvent(first)) {
		return w.failed
	}

	nextMilestone := milestoneAfter(cp.Done, rec.Limit)
	lastReport := s.cfg.now()
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	schedule := s.cfg.now()
	for !counter.Finished() {
		if ctx.Err() != nil {
			return w.stop(ctx)
		}
		counter.Next()
		now := s.cfg.now()
		if now.Sub(lastReport) >= s.cfg.progressInterval || counter.Finished() {
			lastReport = now
			var extra []*jobsv1.WatchJobResponse
			if done := counter.Checkpoint().Done; nextMilestone < 100 && percent(done, rec.Limit) >= float64(nextMilestone) {
				extra = append(extra, logEvent("sieved "+w.summary(counter.Checkpoint())))
				nextMilestone = milestoneAfter(done, rec.Limit)
			}
			if !w.checkpoint(ctx, extra...) {
				return w.failed
			}
		}
		// Pace: each chunk ends one minimum duration after the previous
		// one's scheduled end, so timer slack does not add up; after a stall
		// (a slow store, a busy machine) the schedule restarts from now
		// rather than racing through the chunks it missed, so progress
		// stays visible.
		if d := s.cfg.minChunkDuration; d > 0 && !counter.Finished() {
			now := s.cfg.now()
			if schedule = schedule.Add(d); schedule.Before(now) {
				schedule = now
			}
			if wait := schedule.Sub(now); wait > 0 {
				pace.Reset(wait)
				select {
				case <-ctx.Done():
					pace.Stop()
				case <-pace.C:
				}
			}
		}
	}

	final := counter.Checkpoint()
	elapsed := w.elapsedMS()
	return w.end(jobsv1.JobState_JOB_STATE_COMPLETED,
		fmt.Sprintf("done: %d primes below %d, the largest %d, in %v",
			final.Count, rec.Limit, final.Largest, time.Duration(elapsed)*time.Millisecond),
		&jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Completed{Completed: &jobsv1.Completed{
			Count: final.Count, Largest: final.Largest, ElapsedMs: elapsed,
		}}})
}

// milestoneAfter returns the next multiple of 10 percent above done.
func milestoneAfter(done, limit uint32) int {
	return int(percent(done, limit))/10*10 + 10
}

func (w *worker) summary(cp prime.Checkpoint) string {
	return fmt.Sprintf("%d of %d numbers (%.1f%%), %d primes so far, the largest %d",
		cp.Done, w.limit, percent(cp.Done, w.limit), cp.Count, cp.Largest)
}

func (w *worker) elapsedMS() uint64 {
	return w.elapsed + uint64(max(w.s.cfg.now().Sub(w.started), 0)/time.Millisecond)
}

// checkpoint stores extra events, then progress and partial events with the
// counter's state as the job's checkpoint. It reports false if the job must
// stop: the service is closing, or the store failed (the job is then marked
// failed if the store still takes that).
func (w *worker) checkpoint(ctx context.Context, extra ...*jobsv1.WatchJobResponse) bool {
	cp := w.counter.Checkpoint()
	events, err := encodeEvents(append(extra,
		progressEvent(cp.Done, w.limit),
		partialEvent(cp.Count, cp.Largest))...)
	if err == nil {
		elapsed := w.elapsedMS()
		_, err = w.s.st.Append(ctx, Namespace, w.id, store.Batch{
			Events: events,
			Update: updateRecord(func(r *record) error {
				if !w.mine(r) {
					return errNotRunning
				}
				r.Done, r.Count, r.Largest, r.ElapsedMS = cp.Done, cp.Count, cp.Largest, elapsed
				return nil
			}),
		})
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, errNotRunning), errors.Is(err, store.ErrFinished):
		return false // ended, or taken over, elsewhere: that writes its end
	case errors.Is(err, store.ErrUnavailable) && ctx.Err() == nil:
		// Left running at its last checkpoint, for whoever holds its
		// lease next (this replica too) once the store is back.
		w.s.cfg.logger.Warn("jobs: the store is unavailable; the job stops at its last checkpoint", "job", w.id, "err", err)
		return false
	}
	if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
		w.s.cfg.logger.Error("jobs: store job progress", "job", w.id, "err", err)
		w.failed = w.end(jobsv1.JobState_JOB_STATE_FAILED, "failed: the job's progress could not be saved",
			&jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Failed{Failed: &jobsv1.Failed{
				Message: "the job's progress could not be saved",
			}}})
	}
	return false
}

// stop ends the job after its context ended: cancelled by a user, or left
// running for the next process when the service closes. It reports whether
// it ended the job.
func (w *worker) stop(ctx context.Context) bool {
	var c *cancelRequest
	if !errors.As(context.Cause(ctx), &c) {
		return false // shutting down: the job stays running in the store
	}
	cp := w.counter.Checkpoint()
	return w.end(jobsv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled by %s after %s", c.by, w.summary(cp)),
		cancelledEvent(c.by))
}

func cancelledEvent(by string) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Cancelled{Cancelled: &jobsv1.Cancelled{By: by}}}
}

// end stores the job's last log line and terminal event, its final state,
// and finishes its stream, and reports whether it did. It uses no job
// context: the end must be written even though that context is cancelled.
func (w *worker) end(state jobsv1.JobState, line string, last *jobsv1.WatchJobResponse) bool {
	events, err := encodeEvents(logEvent(line), last)
	if err != nil {
		w.s.cfg.logger.Error("jobs: end job", "job", w.id, "err", err)
		return false
	}
	var cp prime.Checkpoint
	if w.counter != nil {
		cp = w.counter.Checkpoint()
	}
	elapsed := w.elapsedMS()
	now := w.s.cfg.now()
	_, err = w.s.st.Append(context.Background(), Namespace, w.id, store.Batch{
		Events: events,
		Finish: true,
		Update: updateRecord(func(r *record) error {
			if !w.mine(r) {
				return errNotRunning
			}
			r.State, r.StateTime, r.ElapsedMS = state, now, elapsed
			if w.counter != nil {
				r.Done, r.Count, r.Largest = cp.Done, cp.Count, cp.Largest
			}
			return nil
		}),
	})
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, errNotRunning) && !errors.Is(err, store.ErrFinished) {
		// Unavailable: the job stays running at its checkpoint and whoever
		// runs it next ends it.
		w.s.cfg.logger.Error("jobs: end job", "job", w.id, "state", strings.ToLower(strings.TrimPrefix(state.String(), "JOB_STATE_")), "err", err)
	}
	return err == nil
}
