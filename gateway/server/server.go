// Package server is the ssegate gateway assembled from its configuration:
// upstreams dialled and their descriptors loaded (from descriptor set files
// or server reflection), REST and SSE routes for their services, the
// session middleware, the OpenAPI document and the /docs page made from the
// same descriptors, health and readiness, Prometheus metrics, access logs
// with request ids, and an HTTP server with TLS, HTTP/2, h2c, timeouts that
// spare streams, a graceful drain and a reload that keeps open streams.
//
// The ssegate binary is this package and a config loader; embed it the same
// way:
//
//	cfg, err := config.Load("ssegate", os.Args[1:], os.Getenv)
//	srv, err := server.New(ctx, cfg, logger)
//	err = srv.ListenAndServe(ctx) // drains when ctx ends
package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/health"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/metrics"
	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/gateway/upstream"
)

// Server is one running gateway.
type Server struct {
	// HTTP is the HTTP server of the public port; its Handler is the
	// gateway's.
	HTTP *http.Server
	// MetricsHTTP serves /metrics and /debug/pprof/ on their own listener;
	// nil when cfg.Metrics is off.
	MetricsHTTP *http.Server
	// Gateway is the REST and SSE core, for Drain and OpenStreams.
	Gateway *gateway.Gateway
	// Metrics is nil when cfg.Metrics is off.
	Metrics *metrics.Metrics

	cfg      config.Config
	opts     options
	logger   *slog.Logger
	sessions *session.Middleware // nil with -auth none
	keys     io.Closer           // stops the session keys' refreshes
	revoked  *revocations        // nil without session-revocations
	stopping atomic.Bool

	mu      sync.Mutex // serializes Reload
	current atomic.Pointer[upstreams]
}

// Option changes how New assembles the server.
type Option func(*options)

type options struct {
	handlers    []handler
	public      []string
	gatewayOpts []gateway.Option
	dialOpts    []upstream.DialOption
	loadOpts    []upstream.LoadOption
	identityKey crypto.Signer
	identityKID string
}

type handler struct {
	pattern string
	h       http.Handler
}

// WithHandler serves h at pattern (an http.ServeMux pattern) beside the
// gateway's routes, behind the session middleware, for a page served from
// the API's own origin.
func WithHandler(pattern string, h http.Handler) Option {
	return func(o *options) { o.handlers = append(o.handlers, handler{pattern, h}) }
}

// WithPublicRoutes adds routes served without a session (see
// session.WithPublicRoutes), such as a page's.
func WithPublicRoutes(routes ...string) Option {
	return func(o *options) { o.public = append(o.public, routes...) }
}

// WithGatewayOptions adds options to the gateway core, after those cfg
// implies.
func WithGatewayOptions(opts ...gateway.Option) Option {
	return func(o *options) { o.gatewayOpts = append(o.gatewayOpts, opts...) }
}

// New dials cfg's upstreams, loads their descriptors and assembles the
// server. An upstream that cannot be reached, serves no reflection, or
// whose descriptors do not resolve, and two methods that claim one route,
// stop it with an error that names the upstream and the cause. It does not
// listen: see Serve and ListenAndServe.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts ...Option) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("upstreams: none configured (-upstream NAME=HOST:PORT with -descriptor-set FILE or -reflection, or a config file)")
	}
	s := &Server{cfg: cfg, logger: logger}
	for _, o := range opts {
		o(&s.opts)
	}
	if cfg.Metrics {
		s.Metrics = metrics.New()
	}
	s.revoked = s.newRevocations()
	if s.sessions, s.keys, err = s.newSessions(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.keys.Close(), s.revoked.Close())
		}
	}()
	minter, err := s.newMinter()
	if err != nil {
		return nil, err
	}
	if s.Gateway, err = gateway.New(s.gatewayOptions(minter)...); err != nil {
		return nil, err
	}
	up, err := s.load(ctx, cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	if err := s.use(up); err != nil {
		return nil, errors.Join(err, up.closeExcept(nil))
	}
	if err := s.watchRevocations(); err != nil {
		return nil, errors.Join(err, up.closeExcept(nil))
	}
	hosts, err := allowedHosts(cfg, cfg.Addr)
	if err != nil {
		return nil, errors.Join(err, up.closeExcept(nil))
	}
	if s.HTTP, err = newHTTPServer(cfg, s.handler(hosts), logger); err != nil {
		return nil, errors.Join(err, up.closeExcept(nil))
	}
	if s.Metrics != nil {
		metricsHosts, err := allowedHosts(cfg, cfg.MetricsAddr)
		if err != nil {
			return nil, errors.Join(err, up.closeExcept(nil))
		}
		s.MetricsHTTP = &http.Server{
			Addr: cfg.MetricsAddr, Handler: s.metricsHandler(metricsHosts.WithAnyIP()), ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

func (s *Server) newSessions(ctx context.Context) (*session.Middleware, io.Closer, error) {
	v, keys, err := Verifier(ctx, s.cfg, s.logger)
	if err != nil || v == nil {
		return nil, keys, err
	}
	opts := []session.Option{
		session.WithCookieName(s.cfg.CookieName()),
		session.WithAllowedOrigins(s.cfg.AllowedOrigins...),
		session.WithTLS(s.cfg.TLS() || s.cfg.PublicHTTPS),
		session.WithLogger(s.logger),
	}
	if s.revoked != nil {
		opts = append(opts, session.WithRevocations(s.revoked.set))
	}
	m, err := session.NewMiddleware(v, opts...)
	if err != nil {
		return nil, nil, errors.Join(err, keys.Close())
	}
	return m, keys, nil
}

func (s *Server) gatewayOptions(minter *identity.Minter) []gateway.Option {
	cfg := s.cfg
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		pfx, _ := config.ParsePrefix(p) // validated
		trusted = append(trusted, pfx)
	}
	opts := []gateway.Option{
		gateway.WithHeartbeat(cfg.Heartbeat),
		gateway.WithRetry(cfg.Retry),
		gateway.WithHeaderWait(cfg.HeaderWait),
		gateway.WithWriteTimeout(cfg.WriteTimeout),
		gateway.WithMaxStreamsPerPrincipal(cfg.MaxStreamsPerUser),
		gateway.WithMaxStreams(cfg.MaxStreams),
		gateway.WithMaxStreamsPerClientIP(cfg.MaxStreamsPerIP),
		gateway.WithClientIP(ClientIP(trusted)),
		gateway.WithMaxLifetime(cfg.MaxLifetime, cfg.LifetimeJitter),
		gateway.WithReconnectJitter(cfg.ReconnectJitter),
		gateway.WithBusyRetry(cfg.BusyRetry),
		gateway.WithQueueBytes(cfg.QueueBytes),
		gateway.WithMaxBodyBytes(int64(cfg.MaxBodyBytes)),
		gateway.WithBodyReadTimeout(cfg.BodyReadTimeout),
		gateway.WithLogger(s.logger),
		// Records the route of each request for the access log and
		// forwards the request id to backends.
		gateway.WithServeMuxOptions(runtime.WithMetadata(annotate)),
	}
	for _, e := range cfg.StreamShare {
		method, mode, _ := config.ParseShare(e) // validated
		opts = append(opts, gateway.WithShare(method, mode))
	}
	if s.sessions != nil {
		opts = append(opts, gateway.WithServeMuxOptions(s.sessions.ServeMuxOptions()...))
	}
	if minter != nil {
		opts = append(opts, gateway.WithIdentity(minter))
	}
	if s.revoked != nil {
		opts = append(opts, gateway.WithRevocations(s.revoked.set))
	}
	if s.Metrics != nil {
		opts = append(opts, gateway.WithObserver(s.Metrics))
	}
	return append(opts, s.opts.gatewayOpts...)
}

// use serves up: its routes, its public routes and its document.
func (s *Server) use(up *upstreams) error {
	if s.sessions != nil {
		if err := s.sessions.SetPublicRoutes(s.publicRoutes(up)...); err != nil {
			return err
		}
	}
	if err := s.Gateway.Serve(up.routes); err != nil {
		return err
	}
	s.current.Store(up)
	return nil
}

// Scheme is "https" when the server terminates TLS, else "http".
func (s *Server) Scheme() string {
	if s.cfg.TLS() {
		return "https"
	}
	return "http"
}

// Handler serves everything: health, readiness and metrics, and behind the
// session middleware the docs, the extra handlers and the gateway's routes.
func (s *Server) Handler() http.Handler { return s.HTTP.Handler }

// Ready returns nil when the server should get traffic: it is not stopping,
// every upstream has a healthy connection, and with session-revocations it
// follows the issuer's revocations.
func (s *Server) Ready() error {
	rep := health.Run(s.checks()...)
	if rep.Status == "ok" {
		return nil
	}
	return fmt.Errorf("not ready: %v", rep.Failing)
}

func (s *Server) checks() []health.Check {
	checks := []health.Check{{Name: "gateway", Err: func() error {
		if s.stopping.Load() || s.Gateway.Draining() {
			return health.ErrDraining
		}
		return nil
	}}}
	for _, u := range s.current.Load().list {
		checks = append(checks, health.Conn(u.cfg.Name, u.conn))
	}
	if s.revoked != nil && s.revoked.watcher != nil {
		// Fail open, but not ready: a gateway that cannot follow the
		// revocations still serves (locking everyone out while the issuer
		// is away would be worse), keeps the revocations it has, and asks
		// the load balancer for no traffic until it follows them again.
		checks = append(checks, health.Check{Name: "revocations", Err: s.revoked.watcher.Err})
	}
	return checks
}

// ServeMetrics serves the metrics and the profiler on lis until Shutdown or
// Close; it returns nil after those, and at once when metrics are off.
func (s *Server) ServeMetrics(lis net.Listener) error {
	if s.MetricsHTTP == nil {
		return lis.Close()
	}
	s.logger.Info("serving metrics", "addr", lis.Addr().String())
	return ignoreClosed(s.MetricsHTTP.Serve(lis))
}

// Serve accepts connections on lis until Shutdown or Close; it returns nil
// after those.
func (s *Server) Serve(lis net.Listener) error {
	s.logger.Info("serving HTTP", "addr", lis.Addr().String(), "tls", s.cfg.TLS(), "h2c", s.cfg.H2C)
	var err error
	if s.cfg.TLS() {
		err = s.HTTP.ServeTLS(lis, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	} else {
		err = s.HTTP.Serve(lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops gracefully within cfg.DrainTimeout (or ctx, if sooner):
// readiness turns false; every open stream ends at an event boundary with a
// reconnect event whose retry is jittered, its upstream call cancelled, and
// new streams are told to come back; then the listeners close and the
// server waits for the requests left; then the upstream connections close.
// Connections still open at the deadline are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	s.stopping.Store(true)
	open := s.Gateway.OpenStreams()
	drainErr := s.Gateway.Drain(ctx)
	drained := time.Since(start)
	err := s.HTTP.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, ignoreClosed(s.HTTP.Close()))
	}
	s.logger.Info("stopped serving HTTP", "streams", open, "left", s.Gateway.OpenStreams(),
		"drain", drained, "total", time.Since(start), "drain_error", errString(drainErr), "shutdown_error", errString(err))
	return errors.Join(drainErr, err, s.closeMetrics(), s.revoked.Close(), s.current.Load().closeExcept(nil), s.keys.Close())
}

// Close closes every connection at once, upstreams included.
func (s *Server) Close() error {
	s.stopping.Store(true)
	return errors.Join(ignoreClosed(s.HTTP.Close()), s.closeMetrics(), s.revoked.Close(), s.current.Load().closeExcept(nil), s.keys.Close())
}

func (s *Server) closeMetrics() error {
	if s.MetricsHTTP == nil {
		return nil
	}
	return ignoreClosed(s.MetricsHTTP.Close())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// newHTTPServer returns an http.Server with settings that protect the
// server without cutting healthy streams: bounded header reads and sizes,
// an idle timeout for keep-alive connections between requests, and no
// global WriteTimeout (streams get a deadline per write instead). It speaks
// HTTP/1.1 and, over TLS, HTTP/2; with cfg.H2C also cleartext HTTP/2.
func newHTTPServer(cfg config.Config, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(cfg.TLS())
	protocols.SetUnencryptedHTTP2(cfg.H2C)
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: cfg.HTTP2MaxStreams,
			// Ping a connection that has been silent this long, and close it
			// when the ping goes unanswered: a dead client's streams end.
			SendPingTimeout: cfg.IdleTimeout,
			PingTimeout:     15 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.TLS() {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.TLS() || cfg.H2C {
		if err := ConfigureHTTP2(srv); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// ConfigureHTTP2 makes srv serve HTTP/2 (over TLS, and cleartext when
// srv.Protocols says so) with x/net's implementation rather than
// net/http's copy, for its choice of write scheduler: the default ones
// look at every open stream of a connection for each frame they send, so
// with 250 SSE streams on a connection and one event for all of them, the
// scheduler took a quarter of the gateway's CPU. The random scheduler
// looks only at the streams that have frames waiting; the priorities a
// browser may send mean nothing to event streams. srv.HTTP2 still applies.
func ConfigureHTTP2(srv *http.Server) error {
	h2 := &http2.Server{NewWriteScheduler: http2.NewRandomWriteScheduler}
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return fmt.Errorf("http2: %w", err)
	}
	return nil
}
