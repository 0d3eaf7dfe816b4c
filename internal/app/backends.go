package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/ssegate/ssegate/gateway/auth"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/config"
	authsvc "github.com/ssegate/ssegate/services/auth"
	"github.com/ssegate/ssegate/services/identity"
	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
)

// Backend is one service's gRPC server and what it owns.
type Backend struct {
	Server *grpc.Server
	// service stops the service: it ends its open streams with UNAVAILABLE,
	// so clients reconnect, and saves what a successor resumes from.
	service func() error
	// release frees what the service used, in order, once it has stopped.
	release []func() error
}

// Close stops the service, then the server, then frees the rest.
func (b *Backend) Close() error {
	var errs []error
	if b.service != nil {
		errs = append(errs, b.service())
	}
	b.Server.Stop()
	for _, f := range b.release {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// newServer returns a gRPC server whose every call must carry a verified
// identity, but for the methods listed as public.
func newServer(v *auth.Verifier, logger *slog.Logger, public ...string) (*grpc.Server, error) {
	ic, err := identity.New(v, identity.WithPublicMethods(public...), identity.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	return grpc.NewServer(ic.ServerOptions()...), nil
}

// NewAuthBackend builds the auth service: users from cfg.UsersFile, or the
// demo users.
func NewAuthBackend(cfg config.Config, tokens auth.Config, logger *slog.Logger) (*Backend, error) {
	users, err := authsvc.DefaultUsers()
	if cfg.UsersFile != "" {
		users, err = authsvc.LoadUsers(cfg.UsersFile)
	}
	if err != nil {
		return nil, err
	}
	issuer, err := auth.NewIssuer(tokens)
	if err != nil {
		return nil, err
	}
	verifier, err := auth.NewVerifier(tokens)
	if err != nil {
		return nil, err
	}
	svc, err := authsvc.New(users, issuer, authsvc.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	srv, err := newServer(verifier, logger, authsvc.PublicMethods()...)
	if err != nil {
		return nil, err
	}
	authv1.RegisterAuthServiceServer(srv, svc)
	return &Backend{Server: srv}, nil
}

// NewLogsBackend builds the logs service on its own store under
// cfg.DataDir/logs, tailing cfg.LogDir when set.
func NewLogsBackend(cfg config.Config, v *auth.Verifier, logger *slog.Logger) (*Backend, error) {
	db, err := store.Open(filepath.Join(cfg.DataDir, "logs"), store.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	opts := []logs.Option{logs.WithLogger(logger)}
	if cfg.LogDir != "" {
		opts = append(opts, logs.WithDir(cfg.LogDir))
	}
	svc, err := logs.New(db, opts...)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	srv, err := newServer(v, logger)
	if err != nil {
		return nil, errors.Join(err, svc.Close(), db.Close())
	}
	logsv1.RegisterLogServiceServer(srv, svc)
	return &Backend{Server: srv, service: svc.Close, release: []func() error{db.Close}}, nil
}

// NewJobsBackend builds the jobs service on its own store under
// cfg.DataDir/jobs; jobs write their logs to the logs service at logsAddr
// with their creator's identity.
func NewJobsBackend(cfg config.Config, v *auth.Verifier, logsAddr string, logger *slog.Logger) (*Backend, error) {
	conn, err := Dial(logsAddr, identity.DialOptions()...)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "jobs"), store.WithLogger(logger))
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	svc, err := jobs.New(db, logsv1.NewLogServiceClient(conn), jobs.WithMinChunkDuration(cfg.JobPace), jobs.WithLogger(logger))
	if err != nil {
		return nil, errors.Join(err, db.Close(), conn.Close())
	}
	srv, err := newServer(v, logger)
	if err != nil {
		return nil, errors.Join(err, svc.Close(), db.Close(), conn.Close())
	}
	jobsv1.RegisterJobServiceServer(srv, svc)
	return &Backend{Server: srv, service: svc.Close, release: []func() error{db.Close, conn.Close}}, nil
}

// RunBackend serves b on addr until ctx ends, then closes it.
func RunBackend(ctx context.Context, b *Backend, addr string, logger *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Join(err, b.Close())
	}
	logger.Info("serving gRPC", "addr", lis.Addr().String())
	served := make(chan error, 1)
	go func() { served <- b.Server.Serve(lis) }()
	select {
	case <-ctx.Done():
		return b.Close()
	case err := <-served:
		return errors.Join(err, b.Close())
	}
}
