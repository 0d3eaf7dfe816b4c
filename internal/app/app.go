// Package app assembles ssegate's parts into running servers: the gateway's
// HTTP handler (auth middleware, REST, SSE, the demo page), each backend's
// gRPC server, and the all-in-one demo. The binaries in cmd/ only load a
// config and call into here, so tests start exactly what users run.
package app

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/ssegate/ssegate/apidocs"
	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/gen/openapi"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/web"
)

// TokenConfig returns the session token settings: HS256 with the
// configured secret, or with a random one that lives as long as the process
// (enough for the all-in-one demo, not for separate processes).
func TokenConfig(cfg config.Config, logger *slog.Logger) (auth.Config, error) {
	secret := []byte(cfg.SessionSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return auth.Config{}, err
		}
		logger.Warn("no session-secret set: using a random one; sessions end when the process stops")
	}
	return auth.Config{Algorithm: auth.HS256, Secret: secret, Lifetime: cfg.SessionTTL}, nil
}

// Backends are the gRPC connections the gateway reaches its services by.
type Backends struct {
	Auth, Jobs, Logs *grpc.ClientConn
}

// Dial connects to a backend. The connection reconnects by itself, quickly,
// when a backend restarts.
func Dial(addr string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}, extra...)
	return grpc.NewClient(addr, opts...)
}

// NewGatewayHandler returns the gateway's whole HTTP handler: the session
// middleware in front of the demo page, the OpenAPI document, the REST
// routes and the SSE routes of the three services.
func NewGatewayHandler(ctx context.Context, cfg config.Config, v *auth.Verifier, b Backends, logger *slog.Logger, opts ...gateway.Option) (http.Handler, error) {
	mw, err := auth.NewMiddleware(v,
		auth.WithAllowedOrigins(cfg.AllowedOrigins...),
		auth.WithPublicRoutes(append(auth.DefaultPublicRoutes(), "GET /assets/*")...),
		auth.WithLogger(logger),
	)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(append([]gateway.Option{
		gateway.WithHeartbeat(cfg.Heartbeat),
		gateway.WithRetry(cfg.Retry),
		gateway.WithHeaderWait(cfg.HeaderWait),
		gateway.WithWriteTimeout(cfg.WriteTimeout),
		gateway.WithMaxStreamsPerPrincipal(cfg.MaxStreamsPerUser),
		gateway.WithLogger(logger),
		gateway.WithOpenAPI(openapi.JSON),
		gateway.WithServeMuxOptions(mw.ServeMuxOptions()...),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
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
	return mw.Wrap(mux), nil
}

// NewHTTPServer returns an http.Server with settings that protect the
// server without cutting healthy streams: bounded header reads and sizes,
// an idle timeout for keep-alive connections between requests, and no
// global WriteTimeout (streams get a deadline per write instead).
func NewHTTPServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// NewLogger returns the structured logger the binaries use: JSON lines on w
// at the configured level.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
