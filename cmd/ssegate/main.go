// Command ssegate is the gateway alone: it serves the REST and SSE routes
// of the auth, jobs and logs services reached at -auth-addr, -jobs-addr and
// -logs-addr (each one or more addresses, balanced round-robin), and the
// demo page, on -addr. SIGTERM or SIGINT drains it gracefully.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	app.Main("ssegate", run)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := app.CheckSessionKeys(cfg, false); err != nil {
		return err
	}
	if len(cfg.AuthAddrs) == 0 || len(cfg.JobsAddrs) == 0 || len(cfg.LogsAddrs) == 0 {
		return errors.New("auth-addr, jobs-addr and logs-addr: every backend address is required")
	}
	v, err := app.Verifier(cfg, logger)
	if err != nil {
		return err
	}
	// Listen first: a busy port fails before any backend is dialled.
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	b, err := app.DialBackends(cfg)
	if err != nil {
		_ = lis.Close()
		return err
	}
	defer b.Close()
	g, err := app.NewGateway(ctx, cfg, v, b, logger)
	if err != nil {
		_ = lis.Close()
		return err
	}
	srv := app.NewServer(cfg, g, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	app.ExitOnNextSignal()
	logger.Info("shutting down: draining streams", "drain_timeout", cfg.DrainTimeout)
	defer app.ExitAfter(cfg.DrainTimeout+app.ShutdownGrace, "ssegate")()
	return srv.Shutdown(context.Background())
}
