// Package storerpc serves store streams on gRPC server streams with the
// contracts the ssegate gateway relies on:
//
//   - a stream that will send something sends its headers as soon as it is
//     accepted, before the first message, so the gateway commits 200 at once;
//   - a stream that has nothing to send because the reader is already at the
//     end of a finished stream returns without headers or messages (a
//     trailers-only OK), which the gateway answers with 204 so the browser
//     stops reconnecting;
//   - a service shutting down ends its streams with UNAVAILABLE, which the
//     gateway treats as transient: the browser reconnects with Last-Event-ID;
//   - a reader resuming before the oldest event retention kept is told so
//     in the headers (resume.MetadataReset, the oldest id), and the gateway
//     sends it a reset event before the events that follow.
package storerpc

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/services/store"
)

// MetadataLastEventID is the gRPC metadata key that carries Last-Event-ID
// when the request has no field for it (or leaves it 0).
const MetadataLastEventID = "last-event-id"

// ErrShutdown is the cause of the contexts a Lifetime ends at Close.
var ErrShutdown = errors.New("storerpc: service is shutting down")

// Lifetime tracks a service's calls and goroutines so that Close can end
// them and wait until they are gone.
type Lifetime struct {
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewLifetime returns a running Lifetime.
func NewLifetime() *Lifetime {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Lifetime{ctx: ctx, cancel: cancel}
}

// Context returns a context that ends, with cause ErrShutdown, at Close.
func (l *Lifetime) Context() context.Context { return l.ctx }

// Enter registers a call: the returned context ends with ctx or at Close,
// and done must be called when the call returns. After Close it returns an
// UNAVAILABLE status error.
func (l *Lifetime) Enter(ctx context.Context) (_ context.Context, done func(), _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, Status(ErrShutdown)
	}
	l.wg.Add(1)
	cctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.ctx, func() { cancel(ErrShutdown) })
	return cctx, func() {
		stop()
		cancel(context.Canceled)
		l.wg.Done()
	}, nil
}

// Go runs f in a goroutine that Close waits for; f gets Context(). It
// reports false, without running f, after Close.
func (l *Lifetime) Go(f func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Go(func() { f(l.ctx) })
	return true
}

// Close ends every context handed out and waits for the calls and
// goroutines to return. It is idempotent.
func (l *Lifetime) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel(ErrShutdown)
	l.wg.Wait()
}

// ResumePoint returns where a stream resumes: field, the request field the
// gateway fills from Last-Event-ID, or else the `last-event-id` metadata of
// ctx. A malformed value is an INVALID_ARGUMENT status error.
func ResumePoint(ctx context.Context, field uint64) (uint64, error) {
	after, err := store.ResumePoint(field, metadata.ValueFromIncomingContext(ctx, MetadataLastEventID))
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	return after, nil
}

// CatchUpWait bounds how long CatchUp waits.
const CatchUpWait = time.Second

// CatchUp returns stream s as it is once it has an event after, waiting at
// most CatchUpWait for it (s as Get returned it when after is within it).
// A reader resumes with an id that some replica sent it; a replica whose
// store answers from a server that has not caught up yet (a new leader)
// may not have it for a moment, and refusing the resume point would stop
// the browser for good. It returns the stream as last read, past the wait.
func CatchUp(ctx context.Context, st store.Streams, ns string, s store.Stream, after uint64) (store.Stream, error) {
	if after <= s.Last || s.Finished {
		return s, nil
	}
	timer := time.NewTimer(CatchUpWait)
	defer timer.Stop()
	for {
		changed := st.Changed(ns, s.Name)
		cur, err := st.Get(ctx, ns, s.Name)
		if err != nil || after <= cur.Last || cur.Finished {
			return cur, err
		}
		select {
		case <-changed:
		case <-timer.C:
			return cur, nil
		case <-ctx.Done():
			return cur, context.Cause(ctx)
		}
	}
}

// Serve sends the events of stream s (as Get returned it) with ids above
// after, through send, following new ones while follow is set; see
// store.Follow. The caller has checked that after <= s.Last. If the reader is
// already at the end and nothing will follow (s finished, or follow unset),
// Serve returns nil at once without sending headers; otherwise it sends the
// headers first. ctx must be the server stream's context or derive from it.
func Serve(ctx context.Context, st store.Streams, ns string, s store.Stream, after uint64, follow bool, send func(store.Event) error) error {
	if after >= s.Last && (s.Finished || !follow) {
		return nil
	}
	header := metadata.MD{}
	if after > 0 && s.First > after+1 {
		// Retention removed events the reader has not seen: say so, and
		// from where it goes on.
		header.Set(resume.MetadataReset, strconv.FormatUint(s.First, 10))
	}
	if err := grpc.SendHeader(ctx, header); err != nil {
		return err
	}
	return store.Follow(ctx, st, ns, s.Name, after, follow, send)
}

// Status turns an error from the store, a context or Serve into a gRPC
// status error whose message is fit for a browser: status errors pass
// through, shutdown and a closed or unreachable store are UNAVAILABLE
// (transient), a removed stream is NOT_FOUND, context errors keep their code, and anything
// else is INTERNAL without detail (log the original).
func Status(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	switch {
	case errors.Is(err, ErrShutdown), errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "service is shutting down, try again")
	case errors.Is(err, store.ErrUnavailable):
		return status.Error(codes.Unavailable, "the service's storage is unavailable, try again")
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "no longer exists")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "internal error")
}

// LogStatus is Status for a service's caller that logs what the caller
// does not get: when err becomes INTERNAL, it is logged as msg with args
// and "err".
func LogStatus(ctx context.Context, logger *slog.Logger, err error, msg string, args ...any) error {
	st := Status(err)
	if status.Code(st) == codes.Internal {
		logger.ErrorContext(ctx, msg, append(args, "err", err)...)
	}
	return st
}
