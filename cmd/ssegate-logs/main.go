// Command ssegate-logs serves the logs service over gRPC on -grpc-addr.
// Every call must carry an identity token of a gateway whose public key
// -identity-verification-keys names, or, for Append, of the jobs service
// whose public key -jobs-identity-keys names.
// The history is a bbolt file under -data-dir, or, with -store-url, NATS
// JetStream, which any number of replicas of the service share.
package main

import (
	"context"
	"log/slog"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	app.Main("ssegate-logs", run)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	trust, err := app.LoadTrust(cfg)
	if err != nil {
		return err
	}
	if len(trust.Jobs) == 0 {
		logger.Warn("no jobs-identity-keys: the jobs service cannot write job logs")
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewLogsBackend(cfg, trust, logger)
	}, logger)
}
