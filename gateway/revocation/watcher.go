package revocation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Defaults of a Watcher's reconnect waits.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

// ErrNotWatching is what Err wraps while the watch is not established.
var ErrNotWatching = errors.New("revocation: not watching the issuer's revocations")

// ConnFunc returns the connection to the issuer's
// ssegate.v1.SessionRevocationService, asked at every (re)connect, so that
// a reload of the gateway's upstreams is followed.
type ConnFunc func() (grpc.ClientConnInterface, error)

// Option configures a Watcher.
type Option func(*Watcher)

// WithClock sets the clock of the waits between reconnects.
func WithClock(c clockwork.Clock) Option { return func(w *Watcher) { w.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(w *Watcher) { w.log = l } }

// WithRetry sets the waits between reconnects: the first, doubling up to
// the longest, each shortened at random by up to half.
func WithRetry(first, longest time.Duration) Option {
	return func(w *Watcher) { w.retryMin, w.retryMax = first, longest }
}

// Watcher follows an issuer's revocations into a Set: it calls
// WatchRevocations, resuming after the last revocation it received, and
// calls again whenever the stream breaks, waiting longer after each
// failure. Close stops it.
type Watcher struct {
	set      *Set
	conn     ConnFunc
	clock    clockwork.Clock
	log      *slog.Logger
	retryMin time.Duration
	retryMax time.Duration

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	err    error  // nil while watching
	cursor uint64 // the id of the last revocation received
}

// Watch starts a Watcher of the revocations conn serves, into set.
func Watch(set *Set, conn ConnFunc, opts ...Option) (*Watcher, error) {
	if set == nil || conn == nil {
		return nil, errors.New("revocation: a watcher needs a set and a connection")
	}
	w := &Watcher{set: set, conn: conn, clock: clockwork.NewRealClock(), log: slog.New(slog.DiscardHandler),
		retryMin: DefaultRetryMin, retryMax: DefaultRetryMax, done: make(chan struct{}),
		err: fmt.Errorf("%w: starting", ErrNotWatching)}
	for _, o := range opts {
		o(w)
	}
	if w.clock == nil || w.log == nil || w.retryMin <= 0 || w.retryMax < w.retryMin {
		return nil, errors.New("revocation: nil clock or logger, or bad retry waits")
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx)
	return w, nil
}

// Err is nil while the watch is established (the issuer accepted the
// call); otherwise it wraps ErrNotWatching with the cause, for readiness
// checks. Revocations received before stay in the set either way.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops the watcher and waits for it.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	for try := 0; ; try++ {
		watched, err := w.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if watched {
			try = 0
		}
		w.mu.Lock()
		wasWatching := w.err == nil
		w.err = fmt.Errorf("%w: %w", ErrNotWatching, err)
		w.mu.Unlock()
		if wasWatching || try == 0 {
			// Loud: until it is back, a session signed out elsewhere is not
			// refused here.
			w.log.Error("revocation: not watching the session revocations; sessions revoked meanwhile are not refused until it is back",
				"err", err, "after_id", w.lastID())
		}
		if status.Code(err) == codes.OutOfRange {
			// The issuer lost its history: everything again, from the start.
			w.log.Warn("revocation: the issuer has no revocation after the last one received; reading them all again", "after_id", w.lastID())
			w.mu.Lock()
			w.cursor = 0
			w.mu.Unlock()
		}
		t := w.clock.NewTimer(w.wait(try))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

func (w *Watcher) lastID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cursor
}

// wait is the time to wait after failure try (from 0).
func (w *Watcher) wait(try int) time.Duration {
	d := w.retryMax
	if try < 32 {
		d = min(w.retryMin<<try, d)
	}
	return d/2 + rand.N(d/2+1)
}

// watch follows one call until it breaks; watched tells whether the
// issuer accepted it.
func (w *Watcher) watch(ctx context.Context) (watched bool, _ error) {
	conn, err := w.conn()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ssegatev1.NewSessionRevocationServiceClient(conn).WatchRevocations(ctx,
		&ssegatev1.WatchRevocationsRequest{AfterId: w.lastID()})
	if err != nil {
		return false, err
	}
	if md, err := stream.Header(); err == nil && md != nil {
		watched = true
		w.mu.Lock()
		was := w.err
		w.err = nil
		w.mu.Unlock()
		if was != nil {
			w.log.Info("revocation: watching the session revocations", "after_id", w.lastID())
		}
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return watched, errors.New("the issuer ended the stream")
		}
		if err != nil {
			return watched, err
		}
		if msg.GetSessionId() != "" {
			w.set.Revoke(msg.GetSessionId(), msg.GetExpireTime().AsTime())
		}
		w.mu.Lock()
		w.cursor = msg.GetId()
		w.mu.Unlock()
	}
}
