// Command ssegate is the gateway: it serves the REST and SSE routes of the
// gRPC services its upstreams expose, with the OpenAPI document and the
// /docs page made from their descriptors, on -addr. Upstreams come from
// flags (-upstream NAME=HOST:PORT[,HOST:PORT…] with -descriptor-set FILE
// or -reflection) or a config file (-config, YAML or JSON). SIGTERM or
// SIGINT drains it gracefully; SIGHUP reloads its upstreams.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ssegate:", err)
		os.Exit(1)
	}
}

func run() error {
	load := func() (config.Config, error) { return config.Load("ssegate", os.Args[1:], os.Getenv) }
	cfg, err := load()
	if err != nil {
		return err
	}
	logger := server.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal, or a drain that does not finish, ends the
		// process at once.
		<-ctx.Done()
		stop()
		time.Sleep(cfg.DrainTimeout + 5*time.Second)
		fmt.Fprintln(os.Stderr, "ssegate: did not stop in time, exiting")
		os.Exit(1)
	}()
	return server.Run(ctx, load, logger)
}
