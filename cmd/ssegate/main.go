// Command ssegate is the gateway alone: it serves the REST and SSE routes
// of the auth, jobs and logs services reached at -auth-addr, -jobs-addr and
// -logs-addr, and the demo page, on -addr.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

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
	if cfg.SessionSecret == "" {
		return errors.New("session-secret: required to verify the sessions the auth service signs")
	}
	if cfg.AuthAddr == "" || cfg.JobsAddr == "" || cfg.LogsAddr == "" {
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
	var b app.Backends
	if b.Auth, err = app.Dial(cfg.AuthAddr); err != nil {
		return err
	}
	defer b.Auth.Close()
	if b.Jobs, err = app.Dial(cfg.JobsAddr); err != nil {
		return err
	}
	defer b.Jobs.Close()
	if b.Logs, err = app.Dial(cfg.LogsAddr); err != nil {
		return err
	}
	defer b.Logs.Close()
	h, err := app.NewGatewayHandler(ctx, cfg, v, b, logger)
	if err != nil {
		return err
	}
	srv := app.NewHTTPServer(cfg.Addr, h, logger)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	logger.Info("serving HTTP", "addr", cfg.Addr)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
