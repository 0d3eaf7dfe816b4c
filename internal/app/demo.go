package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"google.golang.org/grpc"

	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/internal/config"
)

// Demo is the whole product in one process: the auth, jobs and logs services
// on their own loopback gRPC ports, and the gateway on cfg.Addr in front of
// them. The parts talk over real gRPC, as separate processes would.
type Demo struct {
	// URL is the gateway's base URL, e.g. "http://127.0.0.1:8080".
	URL string

	cfg      config.Config
	logger   *slog.Logger
	verifier *auth.Verifier
	http     *http.Server
	served   chan error
	backends Backends

	mu       sync.Mutex
	auth     *Backend
	jobs     *Backend
	logs     *Backend
	jobsAddr string
	logsAddr string
}

// StartDemo starts every part and returns once the gateway listens.
func StartDemo(ctx context.Context, cfg config.Config, logger *slog.Logger) (d *Demo, err error) {
	tokens, err := TokenConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(tokens)
	if err != nil {
		return nil, err
	}
	d = &Demo{cfg: cfg, logger: logger, verifier: v, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()

	authAddr := ""
	if d.auth, authAddr, err = serveBackend(func() (*Backend, error) { return NewAuthBackend(cfg, tokens, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if d.logs, d.logsAddr, err = serveBackend(func() (*Backend, error) { return NewLogsBackend(cfg, v, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if d.jobs, d.jobsAddr, err = serveBackend(func() (*Backend, error) { return NewJobsBackend(cfg, v, d.logsAddr, logger) }, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		conn **grpc.ClientConn
		addr string
	}{{&d.backends.Auth, authAddr}, {&d.backends.Jobs, d.jobsAddr}, {&d.backends.Logs, d.logsAddr}} {
		if *c.conn, err = Dial(c.addr); err != nil {
			return nil, err
		}
	}
	h, err := NewGatewayHandler(ctx, cfg, v, d.backends, logger)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	d.URL = "http://" + lis.Addr().String()
	d.http = NewHTTPServer(cfg.Addr, h, logger)
	go func() { d.served <- d.http.Serve(lis) }()
	return d, nil
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

// RestartBackends stops the jobs and logs services, as a crash or a deploy
// would, and starts new ones on the same addresses and data: open streams
// break, running jobs resume from their checkpoints, and clients resume with
// Last-Event-ID.
func (d *Demo) RestartBackends(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := errors.Join(d.jobs.Close(), d.logs.Close()); err != nil {
		return err
	}
	var err error
	if d.logs, _, err = serveBackend(func() (*Backend, error) { return NewLogsBackend(d.cfg, d.verifier, d.logger) }, d.logsAddr); err != nil {
		return err
	}
	d.jobs, _, err = serveBackend(func() (*Backend, error) { return NewJobsBackend(d.cfg, d.verifier, d.logsAddr, d.logger) }, d.jobsAddr)
	return err
}

// Wait blocks until the gateway's HTTP server stops.
func (d *Demo) Wait() error {
	err := <-d.served
	d.served <- err
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets open requests finish until ctx ends, then
// closes everything.
func (d *Demo) Shutdown(ctx context.Context) error {
	var errs []error
	if d.http != nil {
		errs = append(errs, d.http.Shutdown(ctx))
	}
	return errors.Join(append(errs, d.Close())...)
}

// Close stops everything at once.
func (d *Demo) Close() error {
	var errs []error
	if d.http != nil {
		errs = append(errs, ignoreClosed(d.http.Close()))
	}
	for _, c := range []*grpc.ClientConn{d.backends.Auth, d.backends.Jobs, d.backends.Logs} {
		if c != nil {
			errs = append(errs, c.Close())
		}
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

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
