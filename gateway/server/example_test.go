package server_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/server"
	"github.com/ssegate/ssegate/gateway/upstream"
)

// The common case: the gateway in front of one team's service, its
// descriptors read by server reflection, without sessions, until SIGTERM;
// SIGHUP reloads. The ssegate binary is this with config.Load for the
// settings.
func Example() {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:8080"
	cfg.Auth = config.AuthNone
	cfg.Upstreams = []upstream.Config{{
		Name:       "greeter",
		Addrs:      []string{"127.0.0.1:9000", "127.0.0.1:9001"},
		Reflection: true,
	}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := server.NewLogger(cfg, os.Stderr)
	if err := server.Run(ctx, func() (config.Config, error) { return cfg, nil }, logger); err != nil {
		fmt.Fprintln(os.Stderr, "ssegate:", err)
	}
}
