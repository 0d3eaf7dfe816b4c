// Command ssegate-jobs serves the jobs service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ssegate-jobs:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load("ssegate-jobs", os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	if err := app.CheckSessionKeys(cfg, false); err != nil {
		return err
	}
	logger := app.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := verifier(cfg, logger)
	if err != nil {
		return err
	}
	if len(cfg.LogsAddrs) == 0 {
		return errors.New("logs-addr: the logs service address is required")
	}
	b, err := app.NewJobsBackend(cfg, v, cfg.LogsAddrs, logger)
	if err != nil {
		return err
	}
	return app.RunBackend(ctx, b, cfg.GRPCAddr, logger)
}

func verifier(cfg config.Config, logger *slog.Logger) (*auth.Verifier, error) {
	tokens, err := app.TokenConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	return auth.NewVerifier(tokens)
}
