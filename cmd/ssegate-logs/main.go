// Command ssegate-logs serves the logs service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret.
package main

import (
	"context"
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
		fmt.Fprintln(os.Stderr, "ssegate-logs:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load("ssegate-logs", os.Args[1:], os.Getenv)
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
	b, err := app.NewLogsBackend(cfg, v, logger)
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
