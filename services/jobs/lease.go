package jobs

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/ssegate/ssegate/services/store"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// leaseName is the name of job id's lease.
func leaseName(id string) string { return "jobs-" + id }

var (
	// errLeaseLost is the cause of a run's context when its lease is lost.
	errLeaseLost = errors.New("jobs: the job's lease was lost")
	// errRunDone is the cause once a run's work and shipping are done.
	errRunDone = errors.New("jobs: run done")
)

// leased runs job j while holding its lease l: its work if it is running,
// and the shipping of its log, renewing the lease meanwhile. Once both are
// done or stopped the lease is given up, so that when a replica closes the
// others take its jobs over at their next look. Losing the lease stops
// both quietly: the job is someone else's.
func (s *Service) leased(j store.Stream, rec record, l store.Lease) {
	// The lease's context ends when the lease is lost or the service
	// closes; the work's too when a user cancels the job, which leaves
	// its log to ship.
	ctx, cancel := context.WithCancelCause(s.life.Context())
	workCtx, cancelWork := context.WithCancelCause(ctx)
	var r *run
	s.mu.Lock()
	s.owned[j.Name] = true
	if rec.State == jobsv1.JobState_JOB_STATE_RUNNING {
		r = &run{cancel: cancelWork, done: make(chan struct{})}
		s.runs[j.Name] = r
	}
	s.mu.Unlock()
	disown := func() {
		s.mu.Lock()
		delete(s.owned, j.Name)
		if r != nil && s.runs[j.Name] == r {
			delete(s.runs, j.Name)
		}
		s.mu.Unlock()
	}
	started := s.life.Go(func(context.Context) {
		defer disown()
		lost := make(chan bool, 1)
		go func() { lost <- s.hold(ctx, cancel, j.Name, l) }()
		done := make(chan struct{}, 2)
		n := 0
		if r != nil {
			n++
			go func() {
				defer func() { done <- struct{}{} }()
				defer close(r.done)
				defer cancelWork(errRunDone)
				if !s.work(workCtx, j, rec) {
					// Stopped with the job still running (or ended
					// elsewhere): its next holder ships the rest too.
					cancel(errRunDone)
				}
			}()
		}
		if s.logs != nil && (r != nil || rec.Shipped < j.Last) {
			n++
			go func() {
				defer func() { done <- struct{}{} }()
				s.shipLog(ctx, j, rec)
			}()
		}
		for range n {
			<-done
		}
		cancel(errRunDone)
		if !<-lost {
			s.release(j.Name, l)
		}
	})
	if !started {
		disown()
		cancelWork(context.Canceled)
		cancel(context.Canceled)
		s.release(j.Name, l)
	}
}

// release gives a lease up, bounded in time: the service may be closing.
func (s *Service) release(id string, l store.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.leaseTTL/3)
	defer cancel()
	if err := l.Release(ctx); err != nil {
		// It lapses by itself.
		s.cfg.logger.Warn("jobs: give up the lease of a job", "job", id, "err", err)
	}
}

// hold renews lease l every third of its time until ctx ends. When the
// lease is lost, or could not be renewed for so long that another replica
// may take the job over any moment, it stops the run (stop) and reports
// true.
func (s *Service) hold(ctx context.Context, stop context.CancelCauseFunc, id string, l store.Lease) (lost bool) {
	every := s.cfg.leaseTTL / 3
	renewed := s.cfg.now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		err := l.Renew(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false
		case err == nil:
			renewed = s.cfg.now()
			continue
		case errors.Is(err, store.ErrLeaseLost):
			s.cfg.logger.Warn("jobs: lost the lease of a job; another replica runs it", "job", id)
		case s.cfg.now().Sub(renewed) >= s.cfg.leaseTTL-every:
			s.cfg.logger.Warn("jobs: could not renew the lease of a job; leaving it to the replica that gets the lease", "job", id, "err", err)
		default:
			continue // the next try may get through
		}
		stop(errLeaseLost)
		return true
	}
}

// takeOverLoop looks for jobs that need a replica, at once and then every
// half lease (at random, a quarter either way, so replicas do not look in
// step), until ctx ends.
func (s *Service) takeOverLoop(ctx context.Context) {
	for {
		s.takeOver(ctx)
		half := s.cfg.leaseTTL / 2
		t := time.NewTimer(half*3/4 + rand.N(half/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// needsOwner reports whether job j has work left for a replica: it runs,
// or lines of its log are not shipped.
func (s *Service) needsOwner(j store.Stream, rec record) bool {
	return rec.State == jobsv1.JobState_JOB_STATE_RUNNING || (s.logs != nil && rec.Shipped < j.Last)
}

func (s *Service) isOwned(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned[id]
}

// takeOver takes up every job that needs a replica and whose lease nobody
// holds: its replica died, or closed, or lost the store for longer than a
// lease. Of replicas that look at once, the lease goes to one.
func (s *Service) takeOver(ctx context.Context) {
	all, err := s.st.List(ctx, Namespace)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.logger.Warn("jobs: list jobs to take over", "err", err)
		}
		return
	}
	for _, j := range all {
		rec, err := decodeRecord(j.Attrs)
		if err != nil || !s.needsOwner(j, rec) || s.isOwned(j.Name) {
			continue
		}
		l, err := s.cfg.leases.Acquire(ctx, leaseName(j.Name), s.cfg.replica, s.cfg.leaseTTL)
		if errors.Is(err, store.ErrLeaseHeld) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("jobs: take a job's lease", "job", j.Name, "err", err)
			}
			return
		}
		s.adopt(ctx, j.Name, l)
	}
}

// adopt starts job id, whose lease l this replica now holds, in a new
// term: from then on its former worker can write nothing.
func (s *Service) adopt(ctx context.Context, id string, l store.Lease) {
	var from string
	j, err := s.st.Append(ctx, Namespace, id, store.Batch{Update: updateRecord(func(r *record) error {
		from = r.Runner
		r.Runner = s.cfg.replica
		r.Epoch++
		return nil
	})})
	var rec record
	if err == nil {
		rec, err = decodeRecord(j.Attrs)
	}
	if err != nil || !s.needsOwner(j, rec) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.cfg.logger.Warn("jobs: take a job over", "job", id, "err", err)
		}
		s.release(id, l)
		return
	}
	s.cfg.logger.Info("jobs: taking a job over", "job", id, "from", from, "running", rec.State == jobsv1.JobState_JOB_STATE_RUNNING,
		"done", rec.Done, "limit", rec.Limit)
	s.start(j, rec, l)
}
