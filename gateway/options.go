package gateway

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jonboulle/clockwork"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/relay"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Option configures a Gateway.
type Option func(*config) error

type config struct {
	heartbeat    time.Duration
	retry        time.Duration
	headerWait   time.Duration
	writeTimeout time.Duration
	queue        int
	queueBytes   int
	maxBody      int64
	// Shared streams: the window kept, each browser's queue, the linger
	// after the last browser, and the routes shared by config.
	shareWindow      int
	shareWindowBytes int
	shareQueue       int
	shareLinger      time.Duration
	shareOverrides   map[string]ssegatev1.Share
	bodyReadTimeout  time.Duration
	busyRetry        time.Duration
	perPrincipal     int
	clock            clockwork.Clock
	logger           *slog.Logger
	muxOptions       []runtime.ServeMuxOption
	observer         Observer

	maxLifetime     time.Duration
	lifetimeJitter  time.Duration
	reconnectJitter time.Duration
	maxStreams      int
	perClientIP     int
	clientIP        ClientIPFunc
	identity        *identity.Minter
	revocations     Revocations
}

func defaultConfig() config {
	return config{
		heartbeat:        15 * time.Second,
		retry:            3 * time.Second,
		headerWait:       300 * time.Millisecond,
		writeTimeout:     10 * time.Second,
		queue:            relay.DefaultQueue,
		queueBytes:       relay.DefaultQueueBytes,
		maxBody:          1 << 20,
		shareWindow:      1024,
		shareWindowBytes: 1 << 20,
		shareQueue:       256,
		shareLinger:      5 * time.Second,
		bodyReadTimeout:  10 * time.Second,
		busyRetry:        10 * time.Second,
		observer:         nopObserver{},
		clock:            clockwork.NewRealClock(),
		logger:           slog.New(slog.DiscardHandler),

		reconnectJitter: 5 * time.Second,
		clientIP:        DefaultClientIP,
	}
}

var errNonPositive = errors.New("gateway: duration must be positive")

// WithHeartbeat sets the idle time after which a stream gets a comment line,
// so proxies and load balancers do not cut it. Default 15 s.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errNonPositive
		}
		c.heartbeat = d
		return nil
	}
}

// WithRetry sets the reconnection delay sent as retry: with the first event
// of methods whose options do not set one. Default 3 s.
func WithRetry(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errNonPositive
		}
		c.retry = d
		return nil
	}
}

// WithHeaderWait bounds how long a new stream waits for the backend's
// response headers before committing 200. Within it, a backend that ends at
// once can still choose the status (204, or an error). Default 300 ms.
func WithHeaderWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errNonPositive
		}
		c.headerWait = d
		return nil
	}
}

// WithWriteTimeout sets the deadline of each write to a stream's client; a
// client that does not take an event within it is evicted and its upstream
// cancelled. Zero disables it. Default 10 s.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errNonPositive
		}
		c.writeTimeout = d
		return nil
	}
}

// WithQueue bounds the messages received from a backend and not yet written
// to the client, per stream. Default 64.
func WithQueue(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("gateway: queue must be positive")
		}
		c.queue = n
		return nil
	}
}

// WithQueueBytes bounds the same messages by their encoded size, so a
// stream's memory is bounded in bytes whatever its messages weigh; one
// message larger than n is still taken when the queue is empty. Default
// 1 MiB.
func WithQueueBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("gateway: queue bytes must be positive")
		}
		c.queueBytes = n
		return nil
	}
}

// WithShare shares the streams of fullMethod ("/pkg.Service/Method") as
// mode says, whatever its ssegate.v1.stream share option (see
// ssegatev1.Share); SHARE_UNSPECIFIED turns sharing off.
func WithShare(fullMethod string, mode ssegatev1.Share) Option {
	return func(c *config) error {
		if len(fullMethod) < 3 || fullMethod[0] != '/' {
			return errors.New("gateway: share: " + fullMethod + " is not a full method name")
		}
		if c.shareOverrides == nil {
			c.shareOverrides = map[string]ssegatev1.Share{}
		}
		c.shareOverrides[fullMethod] = mode
		return nil
	}
}

// WithShareWindow bounds the recent events a shared upstream keeps for
// browsers that resume, by count and by bytes. Default 1024 events, 1 MiB.
func WithShareWindow(events, bytes int) Option {
	return func(c *config) error {
		if events <= 0 || bytes <= 0 {
			return errors.New("gateway: share window must be positive")
		}
		c.shareWindow, c.shareWindowBytes = events, bytes
		return nil
	}
}

// WithShareQueue bounds the events queued for one browser of a shared
// upstream (they are bounded in bytes by WithQueueBytes too); a browser
// that falls further behind is evicted and resumes. Default 256.
func WithShareQueue(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("gateway: share queue must be positive")
		}
		c.shareQueue = n
		return nil
	}
}

// WithShareLinger keeps a shared upstream open this long after its last
// browser left, so that browsers reconnecting after a drain find it.
// Default 5 s.
func WithShareLinger(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errNonPositive
		}
		c.shareLinger = d
		return nil
	}
}

// WithMaxBodyBytes bounds request bodies, for routes whose method sets no
// limit of its own (ssegate.v1.route max_body_bytes); a larger body gets
// 413 before any upstream call. Default 1 MiB.
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("gateway: body limit must be positive")
		}
		c.maxBody = n
		return nil
	}
}

// WithBodyReadTimeout bounds the time to receive a request's body; a
// client that takes longer gets 408. Streams have no body and are not
// concerned. Zero disables it. Default 10 s.
func WithBodyReadTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errNonPositive
		}
		c.bodyReadTimeout = d
		return nil
	}
}

// WithBusyRetry sets the reconnection delay sent to an SSE client refused
// by a stream cap; a random part of up to d again is added, so that clients
// waiting for a place come back spread out. Default 10 s.
func WithBusyRetry(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errNonPositive
		}
		c.busyRetry = d
		return nil
	}
}

// WithMaxStreamsPerPrincipal caps the concurrent streams of one signed-in
// user; over it a new stream gets 429. Zero, the default, means no cap.
func WithMaxStreamsPerPrincipal(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("gateway: stream cap must not be negative")
		}
		c.perPrincipal = n
		return nil
	}
}

// WithClock replaces the clock behind heartbeats, header waits and session
// expiry; tests use a fake one.
func WithClock(clock clockwork.Clock) Option {
	return func(c *config) error {
		if clock == nil {
			return errors.New("gateway: nil clock")
		}
		c.clock = clock
		return nil
	}
}

// WithLogger sets the logger; by default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("gateway: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithIdentity signs, with m, the identity token every upstream call on
// behalf of a signed-in user carries (identity.MetadataIdentity): the
// user, the session id and the forwarded claims, for the audience the
// service was registered with (see Audience), valid for minutes. Backends
// verify it with the public key of m's issuer. Without it, upstream calls
// carry no identity at all: the browser's session token never leaves the
// gateway.
func WithIdentity(m *identity.Minter) Option {
	return func(c *config) error {
		if m == nil {
			return errors.New("gateway: nil minter")
		}
		c.identity = m
		return nil
	}
}

// Revocations tells streams when their session is revoked (signed out);
// *revocation.Set is one.
type Revocations interface {
	// Watch returns a channel closed when session is revoked (at once if
	// it is) and stop, called when the stream ends.
	Watch(session string) (revoked <-chan struct{}, stop func())
}

// WithRevocations ends the open streams of a session when r says it is
// revoked: an SSE stream with an error event (UNAUTHENTICATED, "session
// ended"), an NDJSON one by closing it. Requests in flight otherwise
// finish; the session middleware refuses the session's next ones.
func WithRevocations(r Revocations) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("gateway: nil revocations")
		}
		c.revocations = r
		return nil
	}
}

// WithServeMuxOptions adds options to the grpc-gateway ServeMux that serves
// the REST routes, for example header matchers and metadata annotators.
// They apply to the SSE routes as well where they concern the upstream call.
func WithServeMuxOptions(opts ...runtime.ServeMuxOption) Option {
	return func(c *config) error {
		c.muxOptions = append(c.muxOptions, opts...)
		return nil
	}
}

// Observer is told about every stream route and stream, SSE and NDJSON,
// for metrics and logs. Its methods are called from the streams'
// goroutines, concurrently.
type Observer interface {
	// RouteAdded is called once per stream route when it is registered,
	// before any stream, so that its series exist from the start.
	RouteAdded(route string)
	// StreamStarted is called when a stream was admitted, before the
	// upstream call.
	StreamStarted(route string)
	// StreamProgress is called after each write to a stream's client with
	// what it carried, so counters move while streams run.
	StreamProgress(route string, p relay.Progress)
	// StreamEnded is called once per admitted stream when it has ended.
	StreamEnded(info StreamInfo)
	// StreamRejected is called for a stream refused before any upstream
	// call because of a cap or a drain; reason is one of RejectReasons.
	StreamRejected(route, reason string)
	// SharedUpstream is called with +1 when a shared upstream opens and -1
	// when it closes.
	SharedUpstream(route string, delta int)
	// SharedBrowsers is called with +1 when a browser attaches to a shared
	// upstream and -1 when it leaves.
	SharedBrowsers(route string, delta int)
	// ShareWindow is called for each browser of a shared route: hit when
	// its resume point was in the window (or it started a shared
	// upstream), miss when it got an upstream of its own.
	ShareWindow(route string, hit bool)
}

// WithObserver sets the stream observer.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("gateway: nil observer")
		}
		c.observer = o
		return nil
	}
}

type nopObserver struct{}

func (nopObserver) RouteAdded(string)                     {}
func (nopObserver) StreamStarted(string)                  {}
func (nopObserver) StreamProgress(string, relay.Progress) {}
func (nopObserver) StreamEnded(StreamInfo)                {}
func (nopObserver) StreamRejected(string, string)         {}
func (nopObserver) SharedUpstream(string, int)            {}
func (nopObserver) SharedBrowsers(string, int)            {}
func (nopObserver) ShareWindow(string, bool)              {}

// WithMaxLifetime ends every stream after at most d, less a random part
// of jitter, at an event boundary with a reconnect event: the client
// reconnects, perhaps to another instance, and resumes. Zero, the default,
// means no limit.
func WithMaxLifetime(d, jitter time.Duration) Option {
	return func(c *config) error {
		if d < 0 || jitter < 0 || (d > 0 && jitter >= d) {
			return errors.New("gateway: lifetime and jitter must be positive, jitter below lifetime")
		}
		c.maxLifetime, c.lifetimeJitter = d, jitter
		return nil
	}
}

// WithReconnectJitter sets the random delay added to the retry sent in a
// reconnect event (at the end of a lifetime or on drain), so that clients
// spread out their reconnects. Default 5 s.
func WithReconnectJitter(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errNonPositive
		}
		c.reconnectJitter = d
		return nil
	}
}

// WithMaxStreams caps the concurrent streams of the whole gateway; over it a
// new stream gets 503 with Retry-After. Zero, the default, means no cap.
func WithMaxStreams(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("gateway: stream cap must not be negative")
		}
		c.maxStreams = n
		return nil
	}
}

// WithMaxStreamsPerClientIP caps the concurrent streams from one client
// address; over it a new stream gets 429 with Retry-After. Zero, the
// default, means no cap.
func WithMaxStreamsPerClientIP(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("gateway: stream cap must not be negative")
		}
		c.perClientIP = n
		return nil
	}
}

// ClientIPFunc returns the address a request comes from, for the per-IP cap.
type ClientIPFunc func(*http.Request) string

// DefaultClientIP is the host part of the connection's remote address. Behind
// a proxy, use a ClientIPFunc that trusts that proxy's forwarding header.
func DefaultClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WithClientIP replaces DefaultClientIP.
func WithClientIP(fn ClientIPFunc) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("gateway: nil client IP function")
		}
		c.clientIP = fn
		return nil
	}
}
