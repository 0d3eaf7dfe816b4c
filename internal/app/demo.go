package app

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	gwconfig "github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/server"
	"github.com/ssegate/ssegate/gateway/upstream"
	"github.com/ssegate/ssegate/gen/descriptorset"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/web"
)

// demoServices are the services each of the demo's upstreams exposes.
var demoServices = map[string]string{
	"auth": "ssegate.auth.v1.AuthService",
	"jobs": "ssegate.jobs.v1.JobService",
	"logs": "ssegate.logs.v1.LogService",
}

// GatewayConfig is the gateway's configuration of the demo, as a team
// writes one for its own services: the demo's settings, with an upstream
// per service at addrs ("auth", "jobs", "logs": host:port) whose
// descriptors come from the descriptor set that make generate builds,
// written to cfg.DataDir. secret is the HS256 secret the services sign
// sessions with (unused for ES256/RS256).
func GatewayConfig(cfg config.Config, secret []byte, addrs map[string]string) (gwconfig.Config, error) {
	gw := cfg.Config
	if gw.SessionAlgorithm == identity.HS256 {
		gw.SessionSecret = string(secret)
	} else if len(gw.SessionVerificationKeys) == 0 && cfg.SessionSigningKeyFile != "" {
		gw.SessionVerificationKeys = []string{cfg.SessionSigningKeyID + "=" + cfg.SessionSigningKeyFile}
	}
	set := filepath.Join(cfg.DataDir, "ssegate.binpb")
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return gwconfig.Config{}, err
	}
	if err := os.WriteFile(set, descriptorset.Bytes, 0o644); err != nil {
		return gwconfig.Config{}, err
	}
	// The auth service publishes the sessions signed out: every gateway
	// in front refuses them and ends their streams.
	if gw.Auth != gwconfig.AuthNone {
		gw.SessionRevocations = AuthService
	}
	gw.Upstreams = nil
	for _, name := range []string{"auth", "jobs", "logs"} {
		gw.Upstreams = append(gw.Upstreams, upstream.Config{
			Name: name, Addrs: []string{addrs[name]}, DescriptorSet: set, Services: []string{demoServices[name]},
		})
	}
	return gw, gw.Validate()
}

// Demo is the whole product in one process: the auth, jobs and logs services
// on their own loopback gRPC ports, and the gateway on cfg.Addr in front of
// them. The parts talk over real gRPC, as separate processes would.
type Demo struct {
	// URL is the gateway's base URL, e.g. "http://127.0.0.1:8080", or
	// https when cfg names a certificate.
	URL string
	// MetricsURL is the base URL of the metrics listener, e.g.
	// "http://127.0.0.1:9464"; empty when metrics are off.
	MetricsURL string

	cfg      config.Config
	logger   *slog.Logger
	trust    Trust
	jobsKey  *identity.Issuer // signs the jobs service's calls to logs
	identity *identity.Minter // signs as the gateway does
	server   *server.Server
	served   chan error

	mu       sync.Mutex
	auth     *Backend
	jobs     *Backend
	logs     *Backend
	authAddr string
	jobsAddr string
	logsAddr string
	tokens   identity.Config
	gwConfig gwconfig.Config
	gwKey    crypto.Signer
	gwKID    string
}

// DemoOption changes how StartDemo starts.
type DemoOption func(*demoOptions)

type demoOptions struct {
	lis net.Listener
}

// WithListener serves the gateway on lis instead of listening on cfg.Addr,
// for tests that watch the connections.
func WithListener(lis net.Listener) DemoOption {
	return func(o *demoOptions) { o.lis = lis }
}

// StartDemo starts every part and returns once the gateway listens. It
// listens first, so a busy port fails before anything else has started or
// logged; on any failure it closes what it started and returns the error.
func StartDemo(ctx context.Context, cfg config.Config, logger *slog.Logger, opts ...DemoOption) (*Demo, error) {
	var o demoOptions
	for _, opt := range opts {
		opt(&o)
	}
	lis := o.lis
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, err
		}
	}
	var metricsLis net.Listener
	if cfg.Metrics {
		var err error
		if metricsLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = lis.Close()
			return nil, err
		}
	}
	d, err := startDemo(ctx, cfg, logger, lis)
	if err != nil {
		_ = lis.Close() // never served: nothing else closes it
		if metricsLis != nil {
			_ = metricsLis.Close()
		}
		return nil, err
	}
	if metricsLis != nil {
		d.MetricsURL = "http://" + metricsLis.Addr().String()
		go func() { _ = d.server.ServeMetrics(metricsLis) }()
	}
	return d, nil
}

// startDemo starts the parts behind lis. A failure closes the parts started
// so far and leaves lis to the caller.
func startDemo(ctx context.Context, cfg config.Config, logger *slog.Logger, lis net.Listener) (_ *Demo, err error) {
	tokens, randomSecret, err := tokenConfig(cfg)
	if err != nil {
		return nil, err
	}
	// The gateway's identity key (identity-signing-key-file, or a fresh
	// one) and the jobs service's (fresh): the backends get their public
	// keys here, in the process, so no key file is needed.
	gwKey, gwKID, err := demoGatewayKey(cfg)
	if err != nil {
		return nil, err
	}
	jobsKey, err := identity.NewSigningKey()
	if err != nil {
		return nil, err
	}
	// d is not the named result: a failing return sets that to nil before
	// this cleanup runs, and d must still be closed. The start's error is
	// the one to report, not the cleanup's.
	d := &Demo{cfg: cfg, logger: logger, served: make(chan error, 1), trust: Trust{
		Gateway: map[string]crypto.PublicKey{gwKID: gwKey.Public()},
		Jobs:    map[string]crypto.PublicKey{"demo-jobs": jobsKey.Public()},
	}}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	if d.jobsKey, err = JobsIssuer(cfg, jobsKey, "demo-jobs"); err != nil {
		return nil, err
	}
	gwIssuer, _, err := server.IdentityIssuer(cfg.Identity, gwKey, gwKID)
	if err != nil {
		return nil, err
	}
	if d.identity, err = identity.NewMinter(gwIssuer, time.Now); err != nil {
		return nil, err
	}

	d.tokens = tokens
	if d.auth, d.authAddr, err = serveBackend(func() (*Backend, error) { return NewAuthBackend(cfg, tokens, d.trust, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if d.logs, d.logsAddr, err = serveBackend(func() (*Backend, error) { return NewLogsBackend(cfg, d.trust, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if d.jobs, d.jobsAddr, err = serveBackend(func() (*Backend, error) { return NewJobsBackend(cfg, d.trust, d.jobsKey, []string{d.logsAddr}, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	d.gwConfig, err = GatewayConfig(cfg, tokens.Secret, map[string]string{"auth": d.authAddr, "jobs": d.jobsAddr, "logs": d.logsAddr})
	if err != nil {
		return nil, err
	}
	d.gwKey, d.gwKID = gwKey, gwKID
	if d.server, err = d.newGateway(ctx); err != nil {
		return nil, err
	}
	d.URL = d.server.Scheme() + "://" + lis.Addr().String()
	go func() { d.served <- d.server.Serve(lis) }()
	if randomSecret {
		logger.Warn(randomSecretWarning)
	}
	return d, nil
}

// newGateway assembles a gateway in front of the demo's services, with the
// demo's page.
func (d *Demo) newGateway(ctx context.Context) (*server.Server, error) {
	page := web.Handler()
	return server.New(ctx, d.gwConfig, d.logger, server.WithIdentityKey(d.gwKey, d.gwKID),
		server.WithHandler("GET /{$}", page), server.WithHandler("GET /assets/", page),
		server.WithPublicRoutes("GET /", "GET /assets/*"))
}

// StartGateway starts another gateway in front of the same services, as a
// second instance behind a load balancer, on lis; it serves until closed.
func (d *Demo) StartGateway(ctx context.Context, lis net.Listener) (*server.Server, error) {
	srv, err := d.newGateway(ctx)
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(lis) }()
	return srv, nil
}

// serveBackend builds a backend and serves it on addr.
func serveBackend(build func() (*Backend, error), addr string) (*Backend, string, error) {
	b, err := build()
	if err != nil {
		return nil, "", err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", errors.Join(err, b.Close())
	}
	go func() { _ = b.Server.Serve(lis) }()
	return b, lis.Addr().String(), nil
}

// demoGatewayKey is the gateway's identity key: identity-signing-key-file
// with its kid when set, else a fresh one.
func demoGatewayKey(cfg config.Config) (crypto.Signer, string, error) {
	if cfg.IdentitySigningKeyFile != "" {
		key, _, err := gwconfig.IdentityKey(cfg.IdentitySigningKeyFile)
		return key, cfg.IdentityKeyID, err
	}
	key, err := identity.NewSigningKey()
	return key, "demo-gateway", err
}

// Identity signs identity tokens as the demo's gateway does, for tests
// that call a backend directly on a user's behalf.
func (d *Demo) Identity() *identity.Minter { return d.identity }

// Gateway is the demo's gateway: its readiness, metrics and open streams.
func (d *Demo) Gateway() *server.Server { return d.server }

// LogsAddr is the logs service's gRPC address, for tests that append
// entries directly.
func (d *Demo) LogsAddr() string { return d.logsAddr }

// JobsAddr is the jobs service's gRPC address.
func (d *Demo) JobsAddr() string { return d.jobsAddr }

// StopBackends stops the jobs and logs services, as a crash would, and
// leaves their addresses unserved until StartBackends.
func (d *Demo) StopBackends() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := errors.Join(d.jobs.Close(), d.logs.Close())
	d.jobs, d.logs = nil, nil
	return err
}

// StartBackends starts new jobs and logs services on the addresses and data
// of the stopped ones: running jobs resume from their checkpoints, the
// gateway reconnects by itself, and clients resume with Last-Event-ID.
func (d *Demo) StartBackends() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.jobs != nil || d.logs != nil {
		return errors.New("app: backends already running")
	}
	var err error
	if d.logs, _, err = serveBackend(func() (*Backend, error) { return NewLogsBackend(d.cfg, d.trust, d.logger) }, d.logsAddr); err != nil {
		return err
	}
	d.jobs, _, err = serveBackend(func() (*Backend, error) {
		return NewJobsBackend(d.cfg, d.trust, d.jobsKey, []string{d.logsAddr}, d.logger)
	}, d.jobsAddr)
	return err
}

// StopAuth stops the auth service, as a crash would, and leaves its
// address unserved until StartAuth.
func (d *Demo) StopAuth() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.auth == nil {
		return errors.New("app: auth not running")
	}
	err := d.auth.Close()
	d.auth = nil
	return err
}

// StartAuth starts a new auth service on the address and data of the
// stopped one: the sessions signed out stay revoked.
func (d *Demo) StartAuth() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.auth != nil {
		return errors.New("app: auth already running")
	}
	var err error
	d.auth, _, err = serveBackend(func() (*Backend, error) { return NewAuthBackend(d.cfg, d.tokens, d.trust, d.logger) }, d.authAddr)
	return err
}

// RestartBackends stops the jobs and logs services, as a crash or a deploy
// would, and starts new ones on the same addresses and data: open streams
// break, running jobs resume from their checkpoints, and clients resume with
// Last-Event-ID.
func (d *Demo) RestartBackends(ctx context.Context) error {
	if err := d.StopBackends(); err != nil {
		return err
	}
	return d.StartBackends()
}

// Wait blocks until the gateway's HTTP server stops.
func (d *Demo) Wait() error {
	err := <-d.served
	d.served <- err
	return err
}

// Shutdown stops gracefully (see Server.Shutdown): open streams get a
// reconnect event, requests finish within cfg.DrainTimeout or ctx, then
// everything is closed.
func (d *Demo) Shutdown(ctx context.Context) error {
	var errs []error
	if d.server != nil {
		errs = append(errs, d.server.Shutdown(ctx))
	}
	return errors.Join(append(errs, d.Close())...)
}

// Close stops everything at once.
func (d *Demo) Close() error {
	var errs []error
	if d.server != nil {
		errs = append(errs, d.server.Close())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range []*Backend{d.jobs, d.logs, d.auth} {
		if b != nil {
			errs = append(errs, b.Close())
		}
	}
	d.jobs, d.logs, d.auth = nil, nil, nil
	return errors.Join(errs...)
}
