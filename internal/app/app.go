// Package app assembles ssegate's parts into running servers: the gateway's
// HTTP handler (auth middleware, REST, SSE, the demo page, health and
// metrics) and server (TLS, HTTP/2, graceful drain), each backend's gRPC
// server, and the all-in-one demo. The binaries in cmd/ only load a
// config and call into here, so tests start exactly what users run.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/ssegate/ssegate/apidocs"
	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/gen/openapi"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/internal/health"
	"github.com/ssegate/ssegate/internal/metrics"
	"github.com/ssegate/ssegate/internal/requestid"
	"github.com/ssegate/ssegate/web"
)

// TokenConfig returns the session token settings: HS256 with the
// configured secret, or with a random one that lives as long as the process
// (enough for the all-in-one demo, not for separate processes).
func TokenConfig(cfg config.Config, logger *slog.Logger) (identity.Config, error) {
	c, random, err := tokenConfig(cfg)
	if random {
		logger.Warn(randomSecretWarning)
	}
	return c, err
}

const randomSecretWarning = "no session-secret set: using a random one; sessions end when the process stops"

// tokenConfig is TokenConfig without the log, for a caller that reports
// the random secret only once it has started (a failed start prints its
// error alone); random tells whether the secret is one.
func tokenConfig(cfg config.Config) (c identity.Config, random bool, err error) {
	if cfg.SessionAlgorithm == identity.ES256 || cfg.SessionAlgorithm == identity.RS256 {
		c, err = keySetConfig(cfg)
		return c, false, err
	}
	secret := []byte(cfg.SessionSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return identity.Config{}, false, err
		}
		random = true
	}
	return identity.Config{Algorithm: identity.HS256, Secret: secret, Lifetime: cfg.SessionTTL}, random, nil
}

// Verifier returns the verifier of the session tokens TokenConfig
// describes.
func Verifier(cfg config.Config, logger *slog.Logger) (*identity.Verifier, error) {
	tokens, err := TokenConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	return identity.NewVerifier(tokens)
}

// keySetConfig loads the ES256/RS256 keys: the verification keys by kid,
// and the signing key where one is configured (the auth service).
func keySetConfig(cfg config.Config) (identity.Config, error) {
	files := map[string]string{}
	for _, kv := range cfg.SessionVerificationKeys {
		kid, path, _ := strings.Cut(kv, "=") // validated by config
		files[kid] = path
	}
	keys, err := identity.LoadVerificationKeys(files)
	if err != nil {
		return identity.Config{}, fmt.Errorf("session-verification-keys: %w", err)
	}
	c := identity.Config{Algorithm: cfg.SessionAlgorithm, VerificationKeys: keys, Lifetime: cfg.SessionTTL}
	if cfg.SessionSigningKeyFile != "" {
		if c.SigningKey, err = identity.LoadSigningKey(cfg.SessionSigningKeyFile); err != nil {
			return identity.Config{}, fmt.Errorf("session-signing-key-file: %w", err)
		}
		c.SigningKeyID = cfg.SessionSigningKeyID
	}
	return c, nil
}

// Backends are the gRPC connections the gateway reaches its services by.
type Backends struct {
	Auth, Jobs, Logs *grpc.ClientConn
}

// DialBackends connects to the services at the addresses cfg lists.
func DialBackends(cfg config.Config) (b Backends, err error) {
	for _, c := range []struct {
		conn  **grpc.ClientConn
		name  string
		addrs []string
	}{{&b.Auth, "auth-addr", cfg.AuthAddrs}, {&b.Jobs, "jobs-addr", cfg.JobsAddrs}, {&b.Logs, "logs-addr", cfg.LogsAddrs}} {
		if *c.conn, err = Dial(cfg, c.addrs); err != nil {
			return b, errors.Join(fmt.Errorf("%s: %w", c.name, err), b.Close())
		}
	}
	return b, nil
}

// Close closes the connections that are open.
func (b Backends) Close() error {
	var errs []error
	for _, c := range []*grpc.ClientConn{b.Auth, b.Jobs, b.Logs} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Gateway is the gateway's HTTP side, assembled: the handler, the SSE
// gateway inside it (for draining), its metrics and its readiness.
type Gateway struct {
	// Handler serves everything: /healthz, /readyz and /metrics, and behind
	// the session middleware the demo page, the OpenAPI document, the REST
	// routes and the SSE routes.
	Handler http.Handler
	// SSE is the gateway core, for Drain and OpenStreams.
	SSE *gateway.Gateway
	// Metrics is nil when cfg.Metrics is off.
	Metrics *metrics.Metrics

	checks   []health.Check
	stopping atomic.Bool
}

// NewGateway assembles the gateway in front of the backends b; opts come
// after those cfg implies.
func NewGateway(ctx context.Context, cfg config.Config, v *identity.Verifier, b Backends, logger *slog.Logger, opts ...gateway.Option) (*Gateway, error) {
	g := &Gateway{}
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		pfx, err := config.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %w", err)
		}
		trusted = append(trusted, pfx)
	}
	mw, err := session.NewMiddleware(v,
		session.WithAllowedOrigins(cfg.AllowedOrigins...),
		session.WithPublicRoutes(append(session.DefaultPublicRoutes(), "GET /assets/*")...),
		session.WithTLS(cfg.TLS() || cfg.PublicHTTPS),
		session.WithLogger(logger),
	)
	if err != nil {
		return nil, err
	}
	gwOpts := []gateway.Option{
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
		gateway.WithLogger(logger),
		gateway.WithOpenAPI(openapi.JSON),
		gateway.WithServeMuxOptions(mw.ServeMuxOptions()...),
		// Records the route of each request for the access log and
		// forwards the request id to backends.
		gateway.WithServeMuxOptions(runtime.WithMetadata(annotate)),
	}
	if cfg.Metrics {
		g.Metrics = metrics.New()
		gwOpts = append(gwOpts, gateway.WithObserver(g.Metrics))
	}
	gw, err := gateway.New(append(gwOpts, opts...)...)
	if err != nil {
		return nil, err
	}
	g.SSE = gw
	if err := gw.Register(ctx, authv1.File_ssegate_auth_v1_auth_proto.Services().Get(0), b.Auth, authv1.RegisterAuthServiceHandler); err != nil {
		return nil, err
	}
	if err := gw.Register(ctx, jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0), b.Jobs, jobsv1.RegisterJobServiceHandler); err != nil {
		return nil, err
	}
	if err := gw.Register(ctx, logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0), b.Logs, logsv1.RegisterLogServiceHandler); err != nil {
		return nil, err
	}
	page := web.Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /assets/", page)
	docs := apidocs.Handler()
	mux.Handle("GET "+apidocs.Page, docs)
	mux.Handle("GET "+apidocs.Page+"/", docs)
	mux.Handle("/", gw)

	g.checks = []health.Check{
		{Name: "gateway", Err: func() error {
			if g.stopping.Load() || gw.Draining() {
				return health.ErrDraining
			}
			return nil
		}},
		health.Conn("auth", b.Auth), health.Conn("jobs", b.Jobs), health.Conn("logs", b.Logs),
	}
	// Health and metrics are for the infrastructure, outside the session
	// middleware: no cookie, no Origin check.
	top := http.NewServeMux()
	top.Handle("GET /healthz", health.Live())
	top.Handle("GET /readyz", health.Ready(g.checks...))
	if g.Metrics != nil {
		top.Handle("GET /metrics", g.Metrics.Handler())
	}
	top.Handle("/", mw.Wrap(reached(mux)))
	g.Handler = requestid.Handler(observe(top, g.Metrics, logger))
	return g, nil
}

// Ready returns nil when the gateway should get traffic: it is not
// stopping and every backend has a healthy connection.
func (g *Gateway) Ready() error {
	rep := health.Run(g.checks...)
	if rep.Status == "ok" {
		return nil
	}
	return fmt.Errorf("not ready: %v", rep.Failing)
}

// NewGatewayHandler returns NewGateway's handler.
func NewGatewayHandler(ctx context.Context, cfg config.Config, v *identity.Verifier, b Backends, logger *slog.Logger, opts ...gateway.Option) (http.Handler, error) {
	g, err := NewGateway(ctx, cfg, v, b, logger, opts...)
	if err != nil {
		return nil, err
	}
	return g.Handler, nil
}

// NewHTTPServer returns an http.Server with settings that protect the
// server without cutting healthy streams: bounded header reads and sizes,
// an idle timeout for keep-alive connections between requests, and no
// global WriteTimeout (streams get a deadline per write instead). It speaks
// HTTP/1.1 and, over TLS, HTTP/2; with cfg.H2C also cleartext HTTP/2.
func NewHTTPServer(cfg config.Config, h http.Handler, logger *slog.Logger) *http.Server {
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
	return srv
}

// NewLogger returns the structured logger the binaries use: JSON lines on w
// at the configured level.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	return slog.New(requestid.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// CheckSessionKeys tells a binary that runs as its own process whether it
// has what it needs to share sessions with the others: the common HS256
// secret, or for ES256/RS256 the key set, plus the signing key where tokens
// are signed (the auth service).
func CheckSessionKeys(cfg config.Config, signs bool) error {
	switch {
	case cfg.SessionAlgorithm == identity.HS256 && cfg.SessionSecret == "":
		return errors.New("session-secret: required when the services run as separate processes")
	case cfg.SessionAlgorithm != identity.HS256 && signs && cfg.SessionSigningKeyFile == "":
		return errors.New("session-signing-key-file: the auth service needs the key that signs sessions")
	}
	return nil
}
