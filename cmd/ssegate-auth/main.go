// Command ssegate-auth serves the auth service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret.
package main

import (
	"context"
	"log/slog"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	app.Main("ssegate-auth", run)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := app.CheckSessionKeys(cfg, true); err != nil {
		return err
	}
	tokens, err := app.TokenConfig(cfg, logger)
	if err != nil {
		return err
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewAuthBackend(cfg, tokens, logger)
	}, logger)
}
