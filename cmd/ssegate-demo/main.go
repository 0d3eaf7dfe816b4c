// Command ssegate-demo runs the whole demo in one process: the auth, jobs
// and logs services on loopback gRPC and the gateway in front of them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func main() {
	app.Main("ssegate-demo", run)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	demo, err := app.StartDemo(ctx, cfg, logger)
	if err != nil {
		return err
	}
	fmt.Printf(`ssegate demo is running on %[1]s

  Open %[1]s/ in a browser and sign in as demo / demo (or ops / ops).

  Or with curl:
    curl -s -c jar -H 'Content-Type: application/json' -d '{"username":"demo","password":"demo"}' %[1]s/v1/sessions
    curl -s -b jar -H 'Content-Type: application/json' -d '{"limit":10000000}' %[1]s/v1/jobs
    curl -N -b jar -H 'Accept: text/event-stream' %[1]s/v1/jobs/JOB_ID/events

  History is kept in %[2]s. Press Ctrl-C to stop.
`, demo.URL, cfg.DataDir)

	select {
	case <-ctx.Done():
	case err := <-waitChan(demo):
		return errors.Join(err, demo.Close())
	}
	app.ExitOnNextSignal()
	logger.Info("shutting down: draining streams", "drain_timeout", cfg.DrainTimeout)
	defer app.ExitAfter(cfg.DrainTimeout+app.ShutdownGrace, "ssegate-demo")()
	return demo.Shutdown(context.Background())
}

func waitChan(d *app.Demo) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- d.Wait() }()
	return ch
}
