package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/upstream"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/internal/config"
	authsvc "github.com/ssegate/ssegate/services/auth"
	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
)

// Backend is one service's gRPC server and what it owns.
type Backend struct {
	Server *grpc.Server
	// Health is the server's gRPC health service, which clients' round-robin
	// balancing checks; it says NOT_SERVING as soon as Close begins.
	Health *health.Server
	// service stops the service: it ends its open streams with UNAVAILABLE,
	// so clients reconnect, and saves what a successor resumes from.
	service func() error
	// release frees what the service used, in order, once it has stopped.
	release []func() error
}

// Close turns the health status to NOT_SERVING, so that clients balance
// new calls to other backends, then stops the service, then the server,
// then frees the rest.
func (b *Backend) Close() error {
	var errs []error
	b.Health.Shutdown()
	if b.service != nil {
		errs = append(errs, b.service())
	}
	b.Server.Stop()
	for _, f := range b.release {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// openMethods are served without an identity: clients' health checks
// carry none, and the status tells nothing private; server reflection, for
// a gateway (or grpcurl) that reads the services from the server, tells
// the API's shape, which the docs publish anyway.
var openMethods = []string{
	"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List",
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}

// serverOptions are the options of every service's gRPC server, matching
// what the gateway's upstream.Dial does: the same message limit, and pings
// accepted at most every upstream.MinKeepalive, with or without streams.
func serverOptions(cfg config.Config) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.GRPCMaxMessageBytes),
		grpc.MaxSendMsgSize(cfg.GRPCMaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: upstream.MinKeepalive, PermitWithoutStream: true}),
	}
	if cfg.GRPCKeepalive > 0 {
		// The server pings idle clients too, so it drops the connections
		// of a gateway that vanished.
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.GRPCKeepalive, Timeout: 10 * time.Second}))
	}
	return opts
}

// newBackend returns a Backend whose server requires a verified identity
// token on every call but the methods listed as public and the health
// checks (trusting whom trust says, with name as the audience), and
// serves service sd once register has added it.
func newBackend(cfg config.Config, trust Trust, name string, logger *slog.Logger, sd protoreflect.ServiceDescriptor, register func(*grpc.Server), public ...string) (*Backend, error) {
	ic, err := trust.interceptor(cfg, name, logger, slices.Concat(public, openMethods)...)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(append(serverOptions(cfg), ic.ServerOptions()...)...)
	register(srv)
	reflection.Register(srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(string(sd.FullName()), healthpb.HealthCheckResponse_SERVING)
	return &Backend{Server: srv, Health: hs}, nil
}

// NewAuthBackend builds the auth service: users from cfg.UsersFile, or the
// demo users, signing sessions as tokens says, and keeping the sessions
// signed out in its own store under cfg.DataDir/auth, which it serves to
// the gateways as ssegate.v1.SessionRevocationService.
func NewAuthBackend(cfg config.Config, tokens identity.Config, trust Trust, logger *slog.Logger) (*Backend, error) {
	users, err := authsvc.DefaultUsers()
	if cfg.UsersFile != "" {
		users, err = authsvc.LoadUsers(cfg.UsersFile)
	}
	if err != nil {
		return nil, err
	}
	issuer, err := identity.NewIssuer(tokens)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "auth"), store.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	revocations, err := authsvc.NewRevocations(context.Background(), db, logger)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	svc, err := authsvc.New(users, issuer, authsvc.WithLogger(logger), authsvc.WithRevocations(revocations))
	if err != nil {
		return nil, errors.Join(err, revocations.Close(), db.Close())
	}
	b, err := newBackend(cfg, trust, AuthService, logger, authv1.File_ssegate_auth_v1_auth_proto.Services().Get(0),
		func(s *grpc.Server) {
			authv1.RegisterAuthServiceServer(s, svc)
			ssegatev1.RegisterSessionRevocationServiceServer(s, revocations)
		}, slices.Concat(authsvc.PublicMethods(), authsvc.RevocationMethods())...)
	if err != nil {
		return nil, errors.Join(err, revocations.Close(), db.Close())
	}
	b.service, b.release = revocations.Close, []func() error{db.Close}
	return b, nil
}

// NewLogsBackend builds the logs service on its own store under
// cfg.DataDir/logs, tailing cfg.LogDir when set.
func NewLogsBackend(cfg config.Config, trust Trust, logger *slog.Logger) (*Backend, error) {
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
	b, err := newBackend(cfg, trust, LogsService, logger, logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0),
		func(s *grpc.Server) { logsv1.RegisterLogServiceServer(s, svc) })
	if err != nil {
		return nil, errors.Join(err, svc.Close(), db.Close())
	}
	b.service, b.release = svc.Close, []func() error{db.Close}
	return b, nil
}

// NewJobsBackend builds the jobs service on its own store under
// cfg.DataDir/jobs; jobs write their logs to the logs service at logsAddrs
// as their creator, with identity tokens that signer signs (see
// JobsIssuer).
func NewJobsBackend(cfg config.Config, trust Trust, signer *identity.Issuer, logsAddrs []string, logger *slog.Logger) (*Backend, error) {
	minter, err := identity.NewMinter(signer, time.Now)
	if err != nil {
		return nil, err
	}
	// Dialled as the gateway dials an upstream (the descriptor source is
	// the gateway's concern, unused here).
	logsUpstream := upstream.Config{Name: LogsService, Addrs: logsAddrs, Reflection: true}
	conn, err := upstream.Dial(logsUpstream, upstream.WithKeepalive(cfg.GRPCKeepalive),
		upstream.WithMaxMessageBytes(cfg.GRPCMaxMessageBytes), upstream.WithGRPCOptions(minter.DialOptions(LogsService)...))
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "jobs"), store.WithLogger(logger))
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	svc, err := jobs.New(db, logsv1.NewLogServiceClient(conn), jobs.WithMinChunkDuration(cfg.JobPace),
		jobs.WithMaxRunningPerUser(cfg.MaxJobsPerUser), jobs.WithLogger(logger))
	if err != nil {
		return nil, errors.Join(err, db.Close(), conn.Close())
	}
	b, err := newBackend(cfg, trust, JobsService, logger, jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0),
		func(s *grpc.Server) { jobsv1.RegisterJobServiceServer(s, svc) })
	if err != nil {
		return nil, errors.Join(err, svc.Close(), db.Close(), conn.Close())
	}
	b.service, b.release = svc.Close, []func() error{db.Close, conn.Close}
	return b, nil
}

// RunBackend listens on addr, builds the backend with build, and serves it
// until ctx ends, then closes it. It listens first so that a busy port
// fails before the service has opened its store or resumed any work.
func RunBackend(ctx context.Context, addr string, build func() (*Backend, error), logger *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	b, err := build()
	if err != nil {
		_ = lis.Close() // never served: nothing else closes it
		return err
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
