package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ssegate/ssegate/internal/config"
)

// Server serves a Gateway over HTTP (and HTTPS with HTTP/2 when cfg names a
// certificate) and stops it gracefully.
type Server struct {
	HTTP    *http.Server
	Gateway *Gateway

	cfg    config.Config
	logger *slog.Logger
}

// NewServer returns a Server for g with cfg's server settings.
func NewServer(cfg config.Config, g *Gateway, logger *slog.Logger) *Server {
	return &Server{HTTP: NewHTTPServer(cfg, g.Handler, logger), Gateway: g, cfg: cfg, logger: logger}
}

// Scheme is "https" when the server terminates TLS, else "http".
func (s *Server) Scheme() string {
	if s.cfg.TLS() {
		return "https"
	}
	return "http"
}

// Serve accepts connections on lis until Shutdown or Close; it returns nil
// after those.
func (s *Server) Serve(lis net.Listener) error {
	s.logger.Info("serving HTTP", "addr", lis.Addr().String(), "tls", s.cfg.TLS(), "h2c", s.cfg.H2C)
	var err error
	if s.cfg.TLS() {
		err = s.HTTP.ServeTLS(lis, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	} else {
		err = s.HTTP.Serve(lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops gracefully within cfg.DrainTimeout (or ctx, if sooner):
// readiness turns false; every open stream ends at an event boundary with a
// reconnect event whose retry is jittered, its upstream call cancelled, and
// new streams get 503; then the listeners close and the server waits for
// the requests left. Connections still open at the deadline are closed.
// The backends are the caller's to close afterwards.
func (s *Server) Shutdown(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	s.Gateway.stopping.Store(true)
	open := s.Gateway.SSE.OpenStreams()
	drainErr := s.Gateway.SSE.Drain(ctx)
	drained := time.Since(start)
	err := s.HTTP.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, ignoreClosed(s.HTTP.Close()))
	}
	s.logger.Info("stopped serving HTTP", "streams", open, "left", s.Gateway.SSE.OpenStreams(),
		"drain", drained, "total", time.Since(start), "drain_error", errString(drainErr), "shutdown_error", errString(err))
	return errors.Join(drainErr, err)
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.Gateway.stopping.Store(true)
	return ignoreClosed(s.HTTP.Close())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
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
