package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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
	logger := NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	return run(ctx, cfg, logger)
}

// ExitOnNextSignal lets a further SIGINT or SIGTERM end the process at
// once, for a binary whose graceful stop the first one has begun.
func ExitOnNextSignal() {
	signal.Reset(stopSignals...)
}
