// Command ssegate-auth serves the auth service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ssegate-auth:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load("ssegate-auth", os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	if err := app.CheckSessionKeys(cfg, true); err != nil {
		return err
	}
	logger := app.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tokens, err := app.TokenConfig(cfg, logger)
	if err != nil {
		return err
	}
	b, err := app.NewAuthBackend(cfg, tokens, logger)
	if err != nil {
		return err
	}
	return app.RunBackend(ctx, b, cfg.GRPCAddr, logger)
}
