package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/internal/config"
)

// Browsers open at most six HTTP/1.1 connections per origin, so a page
// with more streams than that needs HTTP/2: every stream on one connection.
func TestManyStreamsShareOneHTTP2Connection(t *testing.T) {
	t.Parallel()
	const streams = 20 // well over the six HTTP/1.1 connections of a browser
	tests := []struct {
		name   string
		secure bool // the session cookie must be Secure
		proto  int  // the HTTP major version
		setup  func(*testing.T, *config.Config) http.RoundTripper
	}{
		{"TLS", true, 2, func(t *testing.T, cfg *config.Config) http.RoundTripper {
			certFile, keyFile, pool := testCert(t)
			cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
			return &http.Transport{TLSClientConfig: tlsConfig(pool), ForceAttemptHTTP2: true}
		}},
		{"h2c", false, 2, func(t *testing.T, cfg *config.Config) http.RoundTripper {
			cfg.H2C = true
			var p http.Protocols
			p.SetUnencryptedHTTP2(true) // prior knowledge, as a proxy speaks it
			return &http.Transport{Protocols: &p}
		}},
		// For contrast: HTTP/1.1 needs a connection per stream.
		{"HTTP/1.1", false, 1, func(t *testing.T, cfg *config.Config) http.RoundTripper {
			return &http.Transport{}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, "/", ""), func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			tr := tt.setup(t, &cfg)
			lis := listen(t)
			demo := apptest.StartDemo(t, cfg, app.WithListener(lis))
			c := apptest.SignIn(t, demo.URL, "demo", tr)

			res, err := c.Do(t.Context(), "POST", "/v1/sessions", `{"username":"demo","password":"demo"}`, nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.ProtoMajor != tt.proto {
				t.Fatalf("sign-in over %s, want HTTP/%d", res.Proto, tt.proto)
			}
			if ck := res.Cookies(); len(ck) != 1 || ck[0].Secure != tt.secure {
				t.Fatalf("session cookie %v, want exactly one with Secure=%v", ck, tt.secure)
			} else if prefixed := strings.HasPrefix(ck[0].Name, "__Host-"); prefixed != tt.secure {
				t.Fatalf("session cookie named %q: the __Host- prefix goes with TLS", ck[0].Name)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
			if _, err := logs.Append(ctx, "shared", "first"); err != nil {
				t.Fatal(err)
			}
			// Open every stream and read its first event: all are open at once.
			open := make([]*apptest.Stream, streams)
			errs := make(chan error, streams)
			for i := range open {
				go func() {
					s, err := c.Stream(ctx, "/v1/logs/shared/events?follow=true", nil)
					if err != nil {
						errs <- err
						return
					}
					open[i] = s
					if s.Res.StatusCode != http.StatusOK || s.Res.ProtoMajor != tt.proto {
						errs <- fmt.Errorf("stream %d: %s over %s", i, s.Res.Status, s.Res.Proto)
						return
					}
					ev, err := s.NextEvent()
					if err == nil && ev.Data != "first" {
						err = fmt.Errorf("stream %d: first event %+v", i, ev)
					}
					errs <- err
				}()
			}
			for range streams {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				for _, s := range open {
					s.Close()
				}
			}()
			// A new event reaches all of them, still open together.
			if _, err := logs.Append(ctx, "shared", "second"); err != nil {
				t.Fatal(err)
			}
			for i, s := range open {
				if ev, err := s.NextEvent(); err != nil || ev.Data != "second" {
					t.Fatalf("stream %d: %+v, %v; want the second event", i, ev, err)
				}
			}
			if n := demo.Gateway().Gateway.OpenStreams(); n != streams {
				t.Errorf("gateway serves %d streams, want %d", n, streams)
			}
			switch n := lis.accepted.Load(); {
			case tt.proto == 2 && n != 1:
				t.Errorf("%d streams and 2 sign-ins took %d TCP connections, want 1", streams, n)
			case tt.proto == 1 && n < streams:
				t.Errorf("%d streams over HTTP/1.1 took %d TCP connections, want one each", streams, n)
			}
			t.Logf("%s: %d concurrent streams + 2 requests over %d TCP connection(s)", tt.name, streams, lis.accepted.Load())
		})
	}
}
