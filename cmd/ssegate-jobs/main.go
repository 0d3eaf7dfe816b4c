// Command ssegate-jobs serves the jobs service over gRPC on -grpc-addr.
// Every call must carry an identity token of a gateway whose public key
// -identity-verification-keys names; it writes job logs to the logs
// service at -logs-addr with identity tokens it signs with
// -identity-signing-key-file, whose public key the logs service trusts.
// The history is a bbolt file under -data-dir, or, with -store-url, NATS
// JetStream, which any number of replicas of the service share. Replicas
// take over each other's running jobs: each needs its own -replica-id, or
// none for a generated one.
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
	trust, err := app.LoadTrust(cfg)
	if err != nil {
		return err
	}
	signer, err := app.JobsIssuer(cfg, nil, "")
	if err != nil {
		return err
	}
	if len(cfg.LogsAddrs) == 0 {
		return errors.New("logs-addr: the logs service address is required")
	}
	return app.RunBackend(ctx, cfg.GRPCAddr, func() (*app.Backend, error) {
		return app.NewJobsBackend(cfg, trust, signer, cfg.LogsAddrs, logger)
	}, logger)
}
