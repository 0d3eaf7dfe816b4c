package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/requestid"
)

// NewLogger returns the structured logger of the ssegate binaries: JSON
// lines on w at cfg's level, with each request's id.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	return slog.New(requestid.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// Run is the ssegate binary: it loads the configuration with load, listens
// on its address (first, so that a busy port fails before anything else),
// assembles the server and serves until ctx ends, then shuts down
// gracefully. On SIGHUP it calls load again and reloads (see Reload); a
// reload that fails is logged and the old routes stay.
func Run(ctx context.Context, load func() (config.Config, error), logger *slog.Logger, opts ...Option) error {
	// Before anything else: until Notify, SIGHUP's default action ends the
	// process, and a reload sent once "serving HTTP" is logged would.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := load()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	var metricsLis net.Listener
	if cfg.Metrics {
		if metricsLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = lis.Close()
			return err
		}
	}
	srv, err := New(ctx, cfg, logger, opts...)
	if err != nil {
		_ = lis.Close()
		if metricsLis != nil {
			_ = metricsLis.Close()
		}
		return err
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(lis) }()
	if metricsLis != nil {
		go func() {
			if err := srv.ServeMetrics(metricsLis); err != nil {
				served <- err
			}
		}()
	}

	for {
		select {
		case err := <-served:
			return errors.Join(err, srv.Close())
		case <-hup:
			next, err := load()
			if err == nil {
				err = srv.Reload(ctx, next)
			}
			if err != nil {
				logger.Error("reload refused: the routes being served stay", "err", err)
				continue
			}
			logger.Info("reloaded", "upstreams", len(next.Upstreams))
		case <-ctx.Done():
			logger.Info("shutting down: draining streams", "drain_timeout", cfg.DrainTimeout)
			return srv.Shutdown(context.Background())
		}
	}
}

// Reload re-reads the upstreams of cfg (their descriptor sets, or their
// reflection services) and swaps in their routes, document and public
// routes at once; streams already open finish on the routes they started
// on, and connections whose settings did not change are kept. On any
// error, nothing changes. Settings other than the upstreams, public routes
// and docs take effect only at a restart; a change to them is logged.
func (s *Server) Reload(ctx context.Context, cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(cfg.Upstreams) == 0 {
		return errors.New("upstreams: none configured")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if restartOnly(s.cfg, cfg) {
		s.logger.Warn("reload: settings other than upstreams, public-routes and docs take effect at a restart")
	}
	old, prevCfg := s.current.Load(), s.cfg
	s.cfg.Upstreams, s.cfg.PublicRoutes, s.cfg.Docs = cfg.Upstreams, cfg.PublicRoutes, cfg.Docs
	up, err := s.load(ctx, cfg.Upstreams, old.list...)
	if err == nil {
		if err = s.use(up); err != nil {
			_ = up.closeExcept(old.list)
		}
	}
	if err != nil {
		s.cfg = prevCfg
		return fmt.Errorf("reload: %w", err)
	}
	go old.closeWhenIdle(up, maxStreamWait)
	return nil
}

// maxStreamWait bounds how long a reload keeps the connections of the old
// routes for the streams still open on them; those left are cut then and
// resume on the new routes.
const maxStreamWait = time.Hour

// restartOnly reports whether a and b differ in settings that Reload does
// not apply.
func restartOnly(a, b config.Config) bool {
	a.Upstreams, a.PublicRoutes, a.Docs = nil, nil, false
	b.Upstreams, b.PublicRoutes, b.Docs = nil, nil, false
	return !reflect.DeepEqual(a, b)
}
