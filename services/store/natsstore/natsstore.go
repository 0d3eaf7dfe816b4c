// Package natsstore implements store.Streams on NATS JetStream, for
// services that run as several replicas sharing one history, and
// store.Leases for the work they share.
//
// Layout, under a prefix (default "ssegate"):
//
//   - a key-value bucket <prefix> (the JetStream stream KV_<prefix>) holds
//     each stream's metadata under s.<namespace>.<name>, and the leases
//     under l.<name>; every change is a write checked against the key's
//     revision, and a Batch's Update is run again on a conflict;
//   - one JetStream stream per namespace, <prefix>-<namespace>, holds the
//     events of every stream of the namespace on the subject
//     <prefix>.<namespace>.<name>; each event carries its id, which the
//     store keeps one above the previous one on that subject by publishing
//     with an expected last subject sequence;
//   - Changed is woken by an ordered consumer on the bucket that reads only
//     the headers of the changes readers care about (and, as a safety net,
//     by a look at the streams readers wait on every two seconds).
//
// Names that are not plain tokens are encoded, so any name is kept. The
// metadata is the commit point: a batch's events are written with it, in
// one revision-checked write, and published to the events stream after it
// (by the writer, or the next writer if it died first), so a batch is
// atomic and the events stream holds only committed events. A batch is
// therefore bounded by the servers' max_payload (1 MB by default).
//
// Retention is the same as store.DB's: MaxEvents is the events stream's
// limit of messages per subject, finished streams are pruned in the
// background.
//
// Durability is the NATS servers': run a cluster of three with replicas 3
// and `sync_interval: always` in each server's jetstream block. With the
// default sync interval a server that loses power, or several that crash
// together, can lose writes they acknowledged (a 2025 Jepsen analysis of
// NATS 2.12 found exactly that).
package natsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssegate/ssegate/services/store"
)

// Defaults of the options.
const (
	DefaultPrefix   = "ssegate"
	DefaultReplicas = 3
	DefaultTimeout  = 5 * time.Second
	// DefaultCacheBytes bounds the events a store keeps in memory, so that
	// many readers of one stream fetch each event from NATS once.
	DefaultCacheBytes = 16 << 20
)

// Option configures Open.
type Option func(*config)

type config struct {
	prefix        string
	replicas      int
	now           func() time.Time
	logger        *slog.Logger
	retention     store.Retention
	pruneInterval time.Duration
	timeout       time.Duration
	cacheBytes    int
	natsOpts      []nats.Option
	noPublish     bool // tests: leave committed events unpublished
	laggingLeader bool // tests: every other metadata read is the one before
	noWatch       bool // tests: no change watch
}

// WithPrefix names the bucket and streams (default DefaultPrefix): stores
// with different prefixes share a NATS cluster without seeing each other.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithReplicas sets how many servers keep each stream (default 3; 1 for a
// single server).
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithClock sets the clock that stamps events and drives retention by age.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets the logger for background work and connection changes.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithRetention sets what the store keeps (default store.DefaultRetention()).
func WithRetention(r store.Retention) Option { return func(c *config) { c.retention = r } }

// WithPruneInterval sets how often finished streams are pruned (default one
// minute); 0 turns the background pruning off.
func WithPruneInterval(d time.Duration) Option { return func(c *config) { c.pruneInterval = d } }

// WithTimeout bounds each operation that has no earlier deadline (default
// DefaultTimeout); one that runs out fails with store.ErrUnavailable.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithCacheBytes bounds the in-memory cache of events (default
// DefaultCacheBytes; 0 turns it off).
func WithCacheBytes(n int) Option { return func(c *config) { c.cacheBytes = n } }

// WithNATSOptions adds options to the connection: credentials
// (nats.UserCredentials), TLS (nats.RootCAs, nats.ClientCert), a name.
func WithNATSOptions(opts ...nats.Option) Option {
	return func(c *config) { c.natsOpts = append(c.natsOpts, opts...) }
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Store is store.Streams and store.Leases on NATS JetStream. Close it when
// done.
type Store struct {
	cfg   config
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.Stream // the bucket's stream
	kvPre string           // "$KV.<prefix>."

	mu       sync.Mutex
	closed   bool
	waiters  store.Waiters // by meta key
	nsStream map[string]jetstream.Stream
	tails    map[string]tail // subject -> its newest event known
	metas    map[string]*known
	flights  map[string]*flight
	lagged   map[string]*lagged // tests: WithLaggingLeader

	cache *cache
	watch jetstream.ConsumeContext
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

var (
	_ store.Streams = (*Store)(nil)
	_ store.Leases  = (*Store)(nil)
)

// Open connects to the NATS servers at url (comma-separated URLs), makes
// sure the bucket exists, and starts watching for changes. It fails, with a
// message that says what to fix, when no server answers or JetStream is not
// enabled; a JetStream that answers "unavailable" is asked again until ctx
// ends. Once open, the connection reconnects by itself for as long as
// the store is open: operations meanwhile fail with store.ErrUnavailable.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{
		prefix:        DefaultPrefix,
		replicas:      DefaultReplicas,
		now:           time.Now,
		logger:        slog.Default(),
		retention:     store.DefaultRetention(),
		pruneInterval: time.Minute,
		timeout:       DefaultTimeout,
		cacheBytes:    DefaultCacheBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch r := cfg.retention; {
	case url == "":
		return nil, errors.New("natsstore: no NATS URL")
	case !validPrefix.MatchString(cfg.prefix):
		return nil, fmt.Errorf("natsstore: prefix %q is not 1 to 64 letters, digits, '-' or '_'", cfg.prefix)
	case cfg.replicas < 1 || cfg.replicas > 5:
		return nil, fmt.Errorf("natsstore: %d replicas; NATS keeps a stream on 1 to 5 servers", cfg.replicas)
	case cfg.now == nil || cfg.logger == nil:
		return nil, errors.New("natsstore: nil clock or logger")
	case r.MaxEvents < 0 || r.MaxFinished < 0 || r.MaxAge < 0 || cfg.pruneInterval < 0 || cfg.timeout <= 0 || cfg.cacheBytes < 0:
		return nil, fmt.Errorf("natsstore: negative retention %+v, prune interval %v or cache size, or a timeout %v that is not positive",
			r, cfg.pruneInterval, cfg.timeout)
	}
	s := &Store{
		cfg: cfg, kvPre: "$KV." + cfg.prefix + ".",
		nsStream: make(map[string]jetstream.Stream), tails: make(map[string]tail),
		metas: make(map[string]*known), flights: make(map[string]*flight), lagged: make(map[string]*lagged),
		cache: newCache(cfg.cacheBytes),
	}
	natsOpts := append([]nats.Option{
		nats.Name("ssegate"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No writes held back while disconnected, to be sent when the
		// connection is back: a write fails then, and says so.
		nats.ReconnectBufSize(-1),
		nats.Timeout(cfg.timeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !s.isClosed() {
				cfg.logger.Warn("natsstore: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			cfg.logger.Info("natsstore: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
			s.wakeAll() // readers read again, in case a change was missed
		}),
	}, cfg.natsOpts...)
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("natsstore: connect to %s: %w", redact(url), err)
	}
	s.nc = nc
	if s.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: %w", err)
	}
	if err := s.openWhenReady(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	pctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if cfg.pruneInterval > 0 {
		s.wg.Go(func() { s.pruneLoop(pctx) })
	}
	s.wg.Go(func() { s.checkLoop(pctx) })
	return s, nil
}

// openWhenReady calls open until it succeeds, fails for good, or ctx
// ends: a cluster that has just formed (or is electing a leader) answers
// "unavailable", or has no peers online to place a replicated stream on,
// for a while before it can create one, and a service started with it
// should wait for it rather than exit.
func (s *Store) openWhenReady(ctx context.Context) error {
	for {
		err := s.open(ctx)
		if err == nil || !(errors.Is(err, store.ErrUnavailable) || isPlacement(err)) || ctx.Err() != nil {
			return err
		}
		s.cfg.logger.Info("natsstore: waiting for JetStream", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// open makes sure the bucket exists and starts the change watch.
func (s *Store) open(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	kv, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        "KV_" + s.cfg.prefix,
		Description: "ssegate: stream metadata and leases",
		Subjects:    []string{s.kvPre + ">"},
		// A key-value bucket with one revision per key, whose messages may
		// carry a TTL (leases), read from the leader only so that a write
		// is seen by the next read wherever it comes from.
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Discard:           jetstream.DiscardNew,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowMsgTTL:       true,
		Duplicates:        2 * time.Minute,
		Storage:           jetstream.FileStorage,
		Replicas:          s.cfg.replicas,
	})
	if err != nil {
		return s.openError(err)
	}
	s.kv = kv
	if s.cfg.noWatch {
		return nil
	}
	return s.startWatch(ctx)
}

// The JetStream API's codes for a stream it cannot place on enough
// servers: no suitable peers (some are offline, or too few have
// JetStream), insufficient resources.
const (
	errCodeNoPeers     jetstream.ErrorCode = 10005
	errCodeNoPlacement jetstream.ErrorCode = 10074
)

func isPlacement(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == errCodeNoPeers || api.ErrorCode == errCodeNoPlacement)
}

// openError explains the errors Open meets most.
func (s *Store) openError(err error) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("natsstore: JetStream is not enabled on the NATS server (add a jetstream block to its config): %w", err)
	case isPlacement(err):
		return fmt.Errorf("natsstore: the NATS cluster cannot keep %d replicas now (fewer servers with JetStream up?): %w", s.cfg.replicas, err)
	case errors.As(err, &api) && api.Code == 500 && s.cfg.replicas > 1:
		return fmt.Errorf("natsstore: %d replicas need a NATS cluster of at least %d servers with JetStream: %w", s.cfg.replicas, s.cfg.replicas, err)
	}
	return fmt.Errorf("natsstore: open: %w", s.mapErr(err))
}

// Close stops background work, wakes every waiting reader and closes the
// connection. Readers woken by it get store.ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.waiters.Close()
	s.stop()
	s.wg.Wait()
	if s.watch != nil {
		s.watch.Stop()
		<-s.watch.Closed()
	}
	s.nc.Close()
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Check reports whether the store can serve: it is connected and the
// bucket's leader answers within the timeout. For health checks.
func (s *Store) Check(ctx context.Context) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	if !s.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to NATS (%s)", store.ErrUnavailable, s.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	_, err := s.kv.GetLastMsgForSubject(ctx, s.kvPre+"health")
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return s.mapErr(err)
	}
	return nil
}

// opContext bounds one operation.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < s.cfg.timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// mapErr turns what NATS returns into the store's errors: a closed store is
// store.ErrClosed, a server that does not answer (or a cluster without a
// leader) store.ErrUnavailable.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrFinished),
		errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable), errors.Is(err, context.Canceled):
		return err
	case s.isClosed() || errors.Is(err, nats.ErrConnectionClosed):
		return store.ErrClosed
	case errors.As(err, &api) && api.Code != 503:
		return fmt.Errorf("natsstore: %w", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded), errors.As(err, &api):
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return fmt.Errorf("natsstore: %w", err)
}

// redact drops passwords from URLs for messages.
func redact(url string) string {
	return regexp.MustCompile(`://[^@/]*@`).ReplaceAllString(url, "://…@")
}
