package jobs

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// LogName returns the name of the log that job id writes to in the logs
// service, which lets only the job's owner read it.
func LogName(id string) string { return logs.JobLogPrefix + id }

// logTries is how many times a line is sent before it is given up.
const logTries = 3

// startShipping ships the log lines of job j to the logs service, from
// where the last shipping stopped, in the background.
func (s *Service) startShipping(j store.Stream, rec record) {
	if s.logs == nil {
		return
	}
	p := auth.Principal{Subject: j.Owner, Token: rec.Token}
	s.life.Go(func(ctx context.Context) {
		ctx = metadata.NewOutgoingContext(ctx, p.Metadata())
		if err := s.ship(ctx, j.Name, rec.Shipped); err != nil && ctx.Err() == nil {
			s.cfg.logger.Error("jobs: ship job log", "job", j.Name, "err", err)
		}
	})
}

// ship follows the job's events after id `from` and appends each log line
// to the job's log, then finishes the log after the terminal event. Every
// line shipped is recorded with the job, so a restart ships the rest and
// repeats at most the line that was in flight.
func (s *Service) ship(ctx context.Context, id string, from uint64) error {
	name := LogName(id)
	return store.Follow(ctx, s.st, Namespace, id, from, true, func(e store.Event) error {
		m, err := decodeEvent(e)
		if err != nil {
			return err
		}
		var req *logsv1.AppendRequest
		switch {
		case m.GetEvent() == nil:
		case terminal(m):
			req = &logsv1.AppendRequest{Name: name, Finish: true}
		default:
			if text, ok := m.GetEvent().(*jobsv1.WatchJobResponse_Log); ok {
				req = &logsv1.AppendRequest{Name: name, Text: text.Log}
			}
		}
		if req == nil {
			return nil
		}
		if err := s.appendLog(ctx, req); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx) // shutting down: the next process ships it
			}
			s.cfg.logger.Error("jobs: give up a line of the job log", "job", id, "event", e.ID, "err", err)
		}
		_, err = s.st.Append(ctx, Namespace, id, store.Batch{Update: updateRecord(func(r *record) error {
			r.Shipped = max(r.Shipped, e.ID)
			return nil
		})})
		return err
	})
}

// appendLog sends one request, trying again after errors that may pass.
func (s *Service) appendLog(ctx context.Context, req *logsv1.AppendRequest) error {
	wait := s.cfg.logBackoff
	var err error
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.logTimeout)
		_, err = s.logs.Append(cctx, req)
		cancel()
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.FailedPrecondition:
			if req.GetFinish() && req.GetText() == "" {
				return nil // already finished: a shipping resumed after a restart
			}
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown:
			if try < logTries {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return errors.Join(err, ctx.Err())
				case <-t.C:
				}
				wait *= 4
				continue
			}
		}
		return err
	}
}
