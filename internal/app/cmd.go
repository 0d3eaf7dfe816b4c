package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/gateway/server"
	"github.com/ssegate/ssegate/internal/config"
)

// stopSignals begin a binary's graceful stop.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// Main runs the binary name: it loads the configuration from the command
// line and the environment, makes the logger (JSON on stderr) and a context
// that the first SIGINT or SIGTERM ends, and calls run with them. When
// loading or run fails, it prints "name: " and the error on stderr and
// exits with status 1.
func Main(name string, run func(ctx context.Context, cfg config.Config, logger *slog.Logger) error) {
	if err := runMain(name, run); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func runMain(name string, run func(context.Context, config.Config, *slog.Logger) error) error {
	cfg, err := config.Load(name, os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	logger := server.NewLogger(cfg.Config, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	return run(ctx, cfg, logger)
}

// ExitOnNextSignal lets a further SIGINT or SIGTERM end the process at
// once, for a binary whose graceful stop the first one has begun.
func ExitOnNextSignal() {
	signal.Reset(stopSignals...)
}

// ShutdownGrace is what a binary allows, beyond the drain timeout, for
// closing backends before it gives up and exits anyway.
const ShutdownGrace = 5 * time.Second

// ExitAfter makes the process exit with status 1 if it has not stopped
// within d, so a stop always ends in bounded time. Call the returned
// function when the stop has completed.
func ExitAfter(d time.Duration, name string) (cancel func()) {
	t := time.AfterFunc(d, func() {
		fmt.Fprintf(os.Stderr, "%s: did not stop within %s, exiting\n", name, d)
		os.Exit(1)
	})
	return func() { t.Stop() }
}
