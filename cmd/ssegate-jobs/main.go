// Command ssegate-jobs serves the jobs service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret.
package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	app.Main("ssegate-jobs", run)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := app.CheckSessionKeys(cfg, false); err != nil {
		return err
	}
	v, err := app.Verifier(cfg, logger)
	if err != nil {
		return err
	}
	if len(cfg.LogsAddrs) == 0 {
		return errors.New("logs-addr: the logs service address is required")
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewJobsBackend(cfg, v, cfg.LogsAddrs, logger)
	}, logger)
}
