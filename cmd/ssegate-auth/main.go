// Command ssegate-auth serves the auth service over gRPC on -grpc-addr.
// It signs sessions with the shared -session-secret (or
// -session-signing-key-file), and every call must carry an identity token
// of a gateway whose public key -identity-verification-keys names.
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
	if err := app.CheckSessionKeys(cfg); err != nil {
		return err
	}
	trust, err := app.LoadTrust(cfg)
	if err != nil {
		return err
	}
	tokens, err := app.TokenConfig(cfg, logger)
	if err != nil {
		return err
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewAuthBackend(cfg, tokens, trust, logger)
	}, logger)
}
