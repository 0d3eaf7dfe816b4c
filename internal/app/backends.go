package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

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
	"github.com/ssegate/ssegate/services/store/natsstore"
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

// NewLogsBackend builds the logs service on its history (see
// openHistory), tailing cfg.LogDir when set.
func NewLogsBackend(cfg config.Config, trust Trust, logger *slog.Logger) (*Backend, error) {
	h, err := openHistory(cfg, logs.Namespace, logger)
	if err != nil {
		return nil, err
	}
	opts := []logs.Option{logs.WithLogger(logger)}
	if cfg.LogDir != "" {
		opts = append(opts, logs.WithDir(cfg.LogDir))
	}
	svc, err := logs.New(h, opts...)
	if err != nil {
		return nil, errors.Join(err, h.close())
	}
	sd := logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0)
	b, err := newBackend(cfg, trust, LogsService, logger, sd, func(s *grpc.Server) { logsv1.RegisterLogServiceServer(s, svc) })
	if err != nil {
		return nil, errors.Join(err, svc.Close(), h.close())
	}
	b.service, b.release = svc.Close, []func() error{b.watchHistory(h, sd, logger), h.close}
	return b, nil
}

// NewJobsBackend builds the jobs service on its history (see openHistory);
// jobs write their logs to the logs service at logsAddrs as their
// creator, with identity tokens that signer signs (see JobsIssuer). On
// NATS it is one of the replicas that share the jobs, as cfg.ReplicaID.
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
	h, err := openHistory(cfg, jobs.Namespace, logger)
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	opts := []jobs.Option{jobs.WithMinChunkDuration(cfg.JobPace),
		jobs.WithMaxRunningPerUser(cfg.MaxJobsPerUser), jobs.WithLogger(logger)}
	if h.leases != nil {
		replica := cfg.ReplicaID
		if replica == "" {
			replica = defaultReplicaID()
		}
		logger.Info("jobs: running as a replica", "replica", replica, "lease_ttl", cfg.LeaseTTL.String())
		opts = append(opts, jobs.WithLeases(h.leases, replica, cfg.LeaseTTL))
	}
	svc, err := jobs.New(h, logsv1.NewLogServiceClient(conn), opts...)
	if err != nil {
		return nil, errors.Join(err, h.close(), conn.Close())
	}
	sd := jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0)
	b, err := newBackend(cfg, trust, JobsService, logger, sd, func(s *grpc.Server) { jobsv1.RegisterJobServiceServer(s, svc) })
	if err != nil {
		return nil, errors.Join(err, svc.Close(), h.close(), conn.Close())
	}
	b.service, b.release = svc.Close, []func() error{b.watchHistory(h, sd, logger), h.close, conn.Close}
	return b, nil
}

// history is a service's store: bbolt, or NATS JetStream with its leases
// and a check of its reachability.
type history struct {
	store.Streams
	leases store.Leases                // nil on bbolt: one process
	check  func(context.Context) error // nil on bbolt: always there
	close  func() error
}

// openHistory opens the store of the service whose namespace is ns: with
// cfg.StoreURL, NATS JetStream, shared with the service's other replicas
// (and the other services, in their own namespaces); otherwise a bbolt file
// in cfg.DataDir/ns.
func openHistory(cfg config.Config, ns string, logger *slog.Logger) (*history, error) {
	if cfg.StoreURL == "" {
		db, err := store.Open(filepath.Join(cfg.DataDir, ns), store.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		return &history{Streams: db, close: db.Close}, nil
	}
	var natsOpts []nats.Option
	if cfg.StoreCredsFile != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(cfg.StoreCredsFile))
	}
	if cfg.StoreTLSCAFile != "" {
		natsOpts = append(natsOpts, nats.RootCAs(cfg.StoreTLSCAFile))
	}
	if cfg.StoreTLSCertFile != "" {
		natsOpts = append(natsOpts, nats.ClientCert(cfg.StoreTLSCertFile, cfg.StoreTLSKeyFile))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := natsstore.Open(ctx, cfg.StoreURL, natsstore.WithPrefix(cfg.StorePrefix), natsstore.WithReplicas(cfg.StoreReplicas),
		natsstore.WithLogger(logger), natsstore.WithNATSOptions(append(natsOpts, nats.Name("ssegate-"+ns))...))
	if err != nil {
		return nil, fmt.Errorf("store-url: %w", err)
	}
	return &history{Streams: st, leases: st, check: st.Check, close: st.Close}, nil
}

// defaultReplicaID names a jobs replica: the host and a random suffix, so
// that a restarted replica is a new one (its old leases lapse rather than
// being taken for its own).
func defaultReplicaID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s", cmp.Or(host, "replica"), strings.ToLower(rand.Text()[:6]))
}

// historyCheckInterval is how often a backend checks that its history is
// reachable.
const historyCheckInterval = time.Second

// watchHistory keeps the health status of service sd NOT_SERVING while its
// history cannot be reached (a NATS store: bbolt is always there), so that
// gateways stop sending it calls, and their /readyz says so when no
// replica is left; it returns the function that stops watching.
func (b *Backend) watchHistory(h *history, sd protoreflect.ServiceDescriptor, logger *slog.Logger) func() error {
	if h.check == nil {
		return func() error { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		serving := true
		t := time.NewTicker(historyCheckInterval)
		defer t.Stop()
		for {
			cctx, ccancel := context.WithTimeout(ctx, 2*historyCheckInterval)
			err := h.check(cctx)
			ccancel()
			if ctx.Err() != nil {
				return
			}
			if ok := err == nil; ok != serving {
				serving = ok
				status := healthpb.HealthCheckResponse_SERVING
				if ok {
					logger.Info("the history is reachable again: serving", "service", string(sd.FullName()))
				} else {
					status = healthpb.HealthCheckResponse_NOT_SERVING
					logger.Error("the history is unreachable: not serving until it is back", "service", string(sd.FullName()), "err", err)
				}
				b.Health.SetServingStatus("", status)
				b.Health.SetServingStatus(string(sd.FullName()), status)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		return nil
	}
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
