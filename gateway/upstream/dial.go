package upstream

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	_ "google.golang.org/grpc/health" // client-side health checking, named in serviceConfig
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

const (
	// DefaultKeepalive is how often an idle connection is pinged.
	DefaultKeepalive = 30 * time.Second
	// MinKeepalive is the shortest ping interval grpc-go allows; shorter
	// ones would be raised to it silently.
	MinKeepalive = 10 * time.Second
	// DefaultMaxMessageBytes bounds a message either way.
	DefaultMaxMessageBytes = 4 << 20

	// keepaliveTimeout is how long a ping may go unanswered before the
	// connection counts as dead.
	keepaliveTimeout = 10 * time.Second
)

// serviceConfig balances calls round-robin over the addresses whose gRPC
// health service says SERVING: a backend that stops (its health turns
// NOT_SERVING first) or fails its checks gets no new calls. A backend
// without a health service counts as healthy (grpc-go's rule).
const serviceConfig = `{
	"loadBalancingConfig": [{"round_robin": {}}],
	"healthCheckConfig": {"serviceName": ""}
}`

type dialOptions struct {
	keepalive time.Duration
	maxBytes  int
	extra     []grpc.DialOption
	err       error
}

// DialOption changes how Dial connects.
type DialOption func(*dialOptions)

// WithKeepalive pings idle connections every interval (at least
// MinKeepalive), so that a backend that vanished without closing (a dead
// host, a dropped NAT entry) is noticed within the interval plus 10 s. Zero
// turns pings off, for servers whose enforcement policy refuses them
// (grpc-go servers by default allow one ping per 5 minutes, and only
// during calls). The default is DefaultKeepalive.
func WithKeepalive(interval time.Duration) DialOption {
	return func(o *dialOptions) {
		if interval != 0 && interval < MinKeepalive {
			o.err = fmt.Errorf("keepalive %s is shorter than %s", interval, MinKeepalive)
			return
		}
		o.keepalive = interval
	}
}

// WithMaxMessageBytes bounds messages sent and received, in bytes. The
// default is DefaultMaxMessageBytes.
func WithMaxMessageBytes(n int) DialOption {
	return func(o *dialOptions) {
		if n <= 0 {
			o.err = fmt.Errorf("max message bytes %d is not positive", n)
			return
		}
		o.maxBytes = n
	}
}

// WithGRPCOptions adds grpc.DialOptions after Dial's own, so they win
// (interceptors, a stats handler, a custom dialer).
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.extra = append(o.extra, opts...) }
}

// Dial connects to the upstream cfg describes: calls are balanced
// round-robin over its healthy addresses, each address reconnects by
// itself, quickly, when its backend restarts, idle connections are pinged,
// and the connection never goes idle. Dial does not wait for the
// connection; it starts connecting at once.
func Dial(cfg Config, opts ...DialOption) (*grpc.ClientConn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := dialOptions{keepalive: DefaultKeepalive, maxBytes: DefaultMaxMessageBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, o.err)
	}
	creds, err := transportCredentials(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}

	// A resolver of its own per connection: the fixed list of addresses.
	// Each address is its own authority (what TLS verifies and :authority
	// says), as if dialled alone, unless tls.server_name overrides it.
	r := manual.NewBuilderWithScheme("ssegate")
	var state resolver.State
	for _, a := range cfg.Addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: a})
	}
	r.InitialState(state)

	dial := []grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(o.maxBytes),
			grpc.MaxCallSendMsgSize(o.maxBytes),
		),
		// Never idle: readiness reports the connection's state, and an idle
		// connection would first fail the check, then the first call.
		grpc.WithIdleTimeout(0),
	}
	if cfg.TLS != nil && cfg.TLS.ServerName != "" {
		// WithAuthority outranks the per-address names above.
		dial = append(dial, grpc.WithAuthority(cfg.TLS.ServerName))
	}
	if o.keepalive > 0 {
		dial = append(dial, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: o.keepalive, Timeout: keepaliveTimeout, PermitWithoutStream: true,
		}))
	}
	cc, err := grpc.NewClient(r.Scheme()+":///"+cfg.Name, append(dial, o.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}
	cc.Connect()
	return cc, nil
}
