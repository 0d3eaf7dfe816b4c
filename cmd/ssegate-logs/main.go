// Command ssegate-logs serves the logs service over gRPC on -grpc-addr.
// Every call must carry the identity the gateway verified, signed with the
// shared -session-secret. The history is a bbolt file under -data-dir, or,
// with -store-url, NATS JetStream, which any number of replicas of the
// service share.
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
	if err := app.CheckSessionKeys(cfg, false); err != nil {
		return err
	}
	v, err := app.Verifier(cfg, logger)
	if err != nil {
		return err
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewLogsBackend(cfg, v, logger)
	}, logger)
}
