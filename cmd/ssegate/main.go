// Command ssegate is the gateway alone: it serves the REST and SSE routes
// of the auth, jobs and logs services reached at -auth-addr, -jobs-addr and
// -logs-addr (each one or more addresses, balanced round-robin), and the
// demo page, on -addr. SIGTERM or SIGINT drains it gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ssegate:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load("ssegate", os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	if err := app.CheckSessionKeys(cfg, false); err != nil {
		return err
	}
	if len(cfg.AuthAddrs) == 0 || len(cfg.JobsAddrs) == 0 || len(cfg.LogsAddrs) == 0 {
		return errors.New("auth-addr, jobs-addr and logs-addr: every backend address is required")
	}
	logger := app.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tokens, err := app.TokenConfig(cfg, logger)
	if err != nil {
		return err
	}
	v, err := auth.NewVerifier(tokens)
	if err != nil {
		return err
	}
	b, err := app.DialBackends(cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	g, err := app.NewGateway(ctx, cfg, v, b, logger)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
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
	stop() // a second signal stops at once
	logger.Info("shutting down: draining streams", "drain_timeout", cfg.DrainTimeout)
	defer app.ExitAfter(cfg.DrainTimeout+app.ShutdownGrace, "ssegate")()
	return srv.Shutdown(context.Background())
}
