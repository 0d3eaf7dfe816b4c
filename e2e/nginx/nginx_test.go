// Package nginx_test runs the demo behind a real nginx with an ordinary
// reverse-proxy configuration, buffering left on, and checks that streams
// behave as they do without it; and two gateway processes behind one nginx,
// one killed and the other drained, with the upstream settings the README
// gives.
package nginx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// proxyReadTimeout is nginx's proxy_read_timeout for event streams in the
// config below: the longest it waits for the next bytes of a response
// before closing it. Other requests keep nginx's default (60 s), so that a
// sign-in on a busy machine is not cut.
const proxyReadTimeout = 3 * time.Second

const nginxConf = `# An ordinary reverse proxy: proxy_buffering is left on (the default).
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;
{{user}}
events { worker_connections 256; }
http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/tmp/body;
    proxy_temp_path {{dir}}/tmp/proxy;
    fastcgi_temp_path {{dir}}/tmp/fastcgi;
    uwsgi_temp_path {{dir}}/tmp/uwsgi;
    scgi_temp_path {{dir}}/tmp/scgi;
{{http}}
    server {
        listen 127.0.0.1:{{port}};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{{server}}
        location / {
            proxy_pass http://{{upstream}};
        }
        location ~ /events$ {
            proxy_pass http://{{upstream}};
            proxy_read_timeout {{timeout}}s;
        }
    }
}
`

// nginxBinary finds nginx: SSEGATE_NGINX, else on PATH, else where Debian
// installs it (scripts/testdeps looks in the same places). A missing nginx
// fails the test: it never skips.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SSEGATE_NGINX"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SSEGATE_NGINX: %v", err)
		}
		return p
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx is not installed: this test needs the Debian package nginx-light (make test installs it as root)")
	return ""
}

// site is what differs between the tests' nginx configurations.
type site struct {
	// upstream is what proxy_pass names: host:port, or an upstream block.
	upstream string
	// http and server are added to the http block and to the server.
	http, server string
}

// startNginx runs nginx in the foreground on a free loopback port in front
// of s and returns its base URL. It is stopped by its pid when the test
// ends.
func startNginx(t *testing.T, s site) string {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, "tmp", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers would otherwise be nobody, locked out of dir
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		conf := strings.NewReplacer("{{dir}}", dir, "{{user}}", user, "{{port}}", strconv.Itoa(port),
			"{{upstream}}", s.upstream, "{{http}}", s.http, "{{server}}", s.server, "{{timeout}}", strconv.Itoa(int(proxyReadTimeout/time.Second))).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting nginx: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = waitListening(addr, exited); lastErr == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM) // nginx's fast shutdown, by its pid
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), errLog)
				}
			})
			return "http://" + addr
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w\n%s", lastErr, out.String())
	}
	t.Fatalf("nginx did not start: %v", lastErr)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts connections, or the process has
// exited, or 10 s have passed.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("nginx exited")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("nginx is not listening after 10s")
}

// upstreamOf returns host:port of a base URL.
func upstreamOf(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// Each event reaches the client through nginx before the backend sends the
// next one: nothing waits for a buffer to fill.
func TestEventsPassNginxAsTheyAreSent(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.TrustedProxies = []string{"127.0.0.1"}
	demo := apptest.StartDemo(t, cfg)
	proxy := startNginx(t, site{upstream: upstreamOf(t, demo.URL)})
	c := apptest.SignIn(t, proxy, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "steps", "step 0"); err != nil {
		t.Fatal(err)
	}

	s, err := c.Stream(ctx, "/v1/logs/steps/events?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Res.StatusCode != 200 || s.Res.Header.Get("Content-Type") != "text/event-stream" || s.Res.Header.Get("X-Request-Id") == "" {
		t.Fatalf("through nginx: %s %v", s.Res.Status, s.Res.Header)
	}
	if !strings.HasPrefix(s.Res.Header.Get("Server"), "nginx") {
		t.Fatalf("response not from nginx: Server %q", s.Res.Header.Get("Server"))
	}
	// The opening comment arrives before any event exists past step 0.
	if b, err := s.Next(); err != nil || !b.Comment {
		t.Fatalf("first block %+v, %v; want the opening comment", b, err)
	}
	for i := range 6 {
		if i > 0 {
			// The next step is sent only once the previous one was seen.
			if _, err := logs.Append(ctx, "steps", fmt.Sprintf("step %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := s.NextEvent()
		if err != nil {
			t.Fatalf("waiting for step %d: %v", i, err)
		}
		if want := fmt.Sprintf("step %d", i); ev.Data != want || ev.ID != strconv.Itoa(i+1) {
			t.Fatalf("got %+v, want %q with id %d", ev, want, i+1)
		}
	}
}

// Heartbeats keep a quiet stream open through nginx long past its
// proxy_read_timeout; without them nginx cuts it at that timeout.
func TestHeartbeatsOutlastNginxReadTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		heartbeat time.Duration
		survives  bool
	}{
		{"heartbeat 1s", time.Second, true},
		{"heartbeat 10s", 10 * time.Second, false}, // the control: nginx cuts it
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			cfg.Heartbeat = tt.heartbeat
			demo := apptest.StartDemo(t, cfg)
			proxy := startNginx(t, site{upstream: upstreamOf(t, demo.URL)})
			c := apptest.SignIn(t, proxy, "demo", nil)
			logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			if _, err := logs.Append(ctx, "quiet", "one"); err != nil {
				t.Fatal(err)
			}
			s, err := c.Stream(ctx, "/v1/logs/quiet/events?follow=true", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if ev, err := s.NextEvent(); err != nil || ev.Data != "one" {
				t.Fatalf("first event %+v, %v", ev, err)
			}

			// Nothing happens for twice nginx's read timeout but heartbeats.
			quiet := 2 * proxyReadTimeout
			start, heartbeats := time.Now(), 0
			for time.Since(start) < quiet {
				b, err := s.Next()
				if err != nil {
					if tt.survives {
						t.Fatalf("stream cut after %s with %d heartbeats: %v", time.Since(start), heartbeats, err)
					}
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("stream ended with %v, want nginx's close", err)
					}
					t.Logf("without heartbeats nginx closed the stream after %s", time.Since(start).Round(time.Millisecond))
					return
				}
				if !b.Comment {
					t.Fatalf("unexpected event %+v", b)
				}
				heartbeats++
			}
			if !tt.survives {
				t.Fatalf("stream still open after %s without heartbeats", time.Since(start))
			}
			if heartbeats < int(quiet/tt.heartbeat)-1 {
				t.Errorf("%d heartbeats in %s", heartbeats, time.Since(start))
			}
			// Still alive: a new event gets through.
			if _, err := logs.Append(ctx, "quiet", "two"); err != nil {
				t.Fatal(err)
			}
			if ev, err := s.NextEvent(); err != nil || ev.Data != "two" {
				t.Fatalf("after %s: %+v, %v", time.Since(start), ev, err)
			}
			t.Logf("stream open through nginx for %s (proxy_read_timeout %s) with %d heartbeats",
				time.Since(start).Round(time.Millisecond), proxyReadTimeout, heartbeats)
		})
	}
}
