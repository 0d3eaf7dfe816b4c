package jobs

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// LogName returns the name of the log that job id writes to in the logs
// service, which lets only the job's owner read it.
func LogName(id string) string { return logs.JobLogPrefix + id }

// startShipping ships the log lines of job j to the logs service, from
// where the last shipping stopped, in the background.
func (s *Service) startShipping(j store.Stream, rec record) {
	if s.logs == nil {
		return
	}
	s.life.Go(func(ctx context.Context) { s.shipLog(ctx, j, rec) })
}

// shipLog ships the log lines of job j, as its owner, until the log is
// finished or ctx ends.
func (s *Service) shipLog(ctx context.Context, j store.Stream, rec record) {
	// Every line goes to the logs service as the job's owner: the logs
	// client's connection signs, for each call, an identity token that
	// names the owner and this service as the one acting for them, at any
	// time, long after the owner's session ended.
	ctx = identity.NewContext(ctx, identity.Principal{Subject: j.Owner})
	if err := s.ship(ctx, j.Name, rec.Shipped); err != nil && ctx.Err() == nil {
		s.cfg.logger.Error("jobs: ship job log", "job", j.Name, "err", err)
	}
}

// ship follows the job's events after id `from` and appends each log line
// to the job's log, then finishes the log with the terminal event, each
// numbered with its event id (AppendRequest.source_seq). A line is sent
// until the logs service has it, and only then the next: the log gets
// every line, in order, whatever the outages. The last line shipped is
// recorded with the job, so that a restart ships from there; the line that
// was in flight then is sent again, and the logs service, which keeps the
// last number it accepted, stores it only if it had not. ship returns nil
// once the log is finished, or ctx's cause.
func (s *Service) ship(ctx context.Context, id string, from uint64) error {
	name := LogName(id)
	return store.Follow(ctx, s.st, Namespace, id, from, true, func(e store.Event) error {
		m, err := decodeEvent(e)
		if err != nil {
			return err
		}
		req := &logsv1.AppendRequest{Name: name, SourceSeq: e.ID}
		switch {
		case terminal(m):
			req.Finish = true
		case m.GetLog() != "":
			req.Text = m.GetLog()
		default:
			return nil
		}
		if err := s.appendLog(ctx, id, req); err != nil {
			return err
		}
		_, err = s.st.Append(ctx, Namespace, id, store.Batch{Update: updateRecord(func(r *record) error {
			r.Shipped = max(r.Shipped, e.ID)
			return nil
		})})
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrClosed) {
			// Only a hint for a restart: one that starts further back sends
			// lines the logs service already has, and it drops them.
			s.cfg.logger.Warn("jobs: record the shipped part of the job log", "job", id, "event", e.ID, "err", err)
			err = nil
		}
		return err
	})
}

// appendLog sends req until the logs service accepts it, or reports that
// it had it already, and returns nil then; otherwise it returns only when
// ctx ends, with its cause, or when the job is gone from the store. Between
// tries it waits as retryWait says. The first failure of a line is logged
// (and the first refusal), and the success that follows, rather than every
// try: an outage costs two log lines per job.
func (s *Service) appendLog(ctx context.Context, job string, req *logsv1.AppendRequest) error {
	var warned, alarmed bool
	for try := 0; ; try++ {
		// Waiting for a connection, rather than failing at once while there
		// is none, sends the line as soon as the logs service is back.
		cctx, cancel := context.WithTimeout(ctx, s.cfg.logTimeout)
		_, err := s.logs.Append(cctx, req, grpc.WaitForReady(true))
		cancel()
		code := status.Code(err)
		if code == codes.FailedPrecondition && req.GetFinish() && req.GetText() == "" {
			code, err = codes.OK, nil // already finished, by a logs service that says so
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err == nil {
			if try > 0 {
				s.cfg.logger.Info("jobs: job log line shipped after failures", "job", job, "event", req.GetSourceSeq(), "tries", try+1)
			}
			return nil
		}
		refused := refusal(code)
		switch {
		case refused && !alarmed:
			// Not skipped: that would lose the line without a trace.
			// Whatever refuses it (a key the logs service does not trust,
			// a log taken by another user) may be fixed on either side.
			alarmed = true
			s.cfg.logger.Error("jobs: the logs service refuses a line of the job log; trying again", "job", job, "event", req.GetSourceSeq(), "code", code, "err", err)
		case !refused && !warned:
			warned = true
			s.cfg.logger.Warn("jobs: job log line not shipped; trying again", "job", job, "event", req.GetSourceSeq(), "code", code, "err", err)
		}
		// A job that retention removed has no log left to write.
		if _, err := s.st.Get(ctx, Namespace, job); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrClosed) {
			return err
		}
		t := time.NewTimer(s.retryWait(try, refused))
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// retryWait returns the wait after try (from 0) failed: the first retry
// wait doubled per try up to the maximum, at once the maximum for a
// refusal, then a random part of it between a half and all, so that the
// jobs of a process that lost the logs service do not retry in step.
func (s *Service) retryWait(try int, refused bool) time.Duration {
	d := s.cfg.logRetryMax
	if !refused && try < 32 {
		d = min(s.cfg.logRetryMin<<try, d)
	}
	return d/2 + rand.N(d/2+1)
}

// refusal reports whether code says that the logs service refuses the
// request itself, so that trying again soon is no use.
func refusal(code codes.Code) bool {
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented, codes.Unauthenticated:
		return true
	}
	return false
}
