package nginx_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

// upstreamsSecret is the session secret the gateways and services share.
const upstreamsSecret = "nginx-upstreams-test-secret-nginx-upstreams"

// Two gateways behind one nginx: one is killed, then the other drained
// right after the first is back. With max_fails=0 nginx never marks a
// gateway down, so every reconnect reaches whichever one listens, and every
// client, reconnecting as EventSource does, ends with every event exactly
// once. With nginx's default max_fails=1 (the control) both gateways are
// marked down for fail_timeout after those two failures, nginx answers 502
// although one is back, and EventSource stops for good on it.
func TestTwoGatewaysBehindNginxSurviveAKillAndADrain(t *testing.T) {
	t.Parallel()
	bins := apptest.Build(t, "ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs")
	tests := []struct {
		name string
		// server is added to each gateway's server line; proxy to
		// nginx's server block.
		server, proxy string
		keepsClients  bool
	}{
		{
			name:         "max_fails=0",
			server:       "max_fails=0",
			proxy:        "proxy_next_upstream error timeout http_502 http_503;",
			keepsClients: true,
		},
		{
			// The control: nginx's default max_fails=1, with a
			// fail_timeout (10s by default) long enough that the test
			// does not depend on how fast this machine restarts A.
			name:         "max_fails=1",
			server:       "max_fails=1 fail_timeout=60s",
			keepsClients: false,
		},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			const clients = 50
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			sys := startServices(t, bins)
			gwA, gwB := sys.startGateway(t, "127.0.0.1:0"), sys.startGateway(t, "127.0.0.1:0")
			proxy := startNginx(t, site{
				upstream: "gateways",
				http: fmt.Sprintf("    upstream gateways {\n        server %s %s;\n        server %s %s;\n    }",
					gwA.Addr, tt.server, gwB.Addr, tt.server),
				// Which gateway (after which failed ones) served each stream.
				server: "add_header X-Upstream $upstream_addr always;\n" + tt.proxy,
			})
			c := apptest.SignIn(t, proxy, "demo", nil)
			logs := apptest.DialLogs(t, sys.logs.Addr, "demo", sys.keys.Gateway)

			var sent []apptest.Event
			send := func() {
				t.Helper()
				text := fmt.Sprintf("event %d", len(sent)+1)
				id, err := logs.Append(ctx, "ha", text)
				if err != nil {
					t.Fatal(err)
				}
				sent = append(sent, apptest.Event{ID: strconv.FormatUint(id, 10), Name: "log", Data: text})
			}
			send()
			var wg sync.WaitGroup
			es := make([]*apptest.EventSource, clients)
			for i := range es {
				es[i] = &apptest.EventSource{Clients: []*apptest.Client{c}, Path: "/v1/logs/ha/events?follow=true", Listen: []string{"log"}, Retry: time.Second}
				wg.Go(func() { es[i].Run(ctx) })
			}
			defer func() {
				cancel()
				wg.Wait()
			}()
			if err := apptest.WaitAll(ctx, es, len(sent), 30*time.Second); err != nil {
				t.Fatalf("before any failure: %v", err)
			}
			onA := 0
			for _, e := range es {
				if lastUpstream(e) == gwA.Addr {
					onA++
				}
			}
			if onA == 0 || onA == clients {
				t.Fatalf("%d of %d clients on gateway A: nginx did not balance", onA, clients)
			}

			// A crashes; its clients reconnect through nginx to B.
			gwA.Kill()
			send()
			if err := apptest.WaitAll(ctx, es, len(sent), 30*time.Second); err != nil {
				t.Fatalf("after killing gateway A: %v", err)
			}
			// A comes back on its port, then B drains: every client
			// reconnects, and only A listens. (Draining B before A
			// listens would leave a moment when neither does, a 502
			// whatever nginx's settings.)
			gwA = sys.startGateway(t, gwA.Addr)
			if err := gwB.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if exit, ok := gwB.Wait(20 * time.Second); !ok || exit != nil {
				t.Fatalf("gateway B after SIGTERM: exited %v, %v", ok, exit)
			}
			send()
			err := apptest.WaitSettled(ctx, es, len(sent), 30*time.Second)
			stopped := 0
			for _, e := range es {
				if e.Stopped() != nil {
					stopped++
				}
			}
			if !tt.keepsClients {
				if err != nil || stopped == 0 {
					t.Fatalf("with max_fails=1 %d clients stopped (%v), want some", stopped, err)
				}
				for _, e := range es {
					if err := e.Stopped(); err != nil && !strings.Contains(err.Error(), "502") {
						t.Errorf("a client stopped on %v, want nginx's 502", err)
					}
				}
				t.Logf("with max_fails=1 %d of %d clients stopped for good on a 502", stopped, clients)
				return
			}
			if err != nil || stopped > 0 {
				for i, e := range es {
					if err := e.Stopped(); err != nil {
						t.Errorf("client %d stopped for good: %v", i, err)
					}
				}
				t.Fatalf("after draining gateway B, %d of %d clients stopped for good (%v)", stopped, clients, err)
			}
			send()
			if err := apptest.WaitAll(ctx, es, len(sent), 30*time.Second); err != nil {
				t.Fatalf("at the end: %v", err)
			}
			cancel()
			wg.Wait()

			connects := 0
			for i, e := range es {
				if got := e.Events(); !slices.Equal(got, sent) {
					t.Errorf("client %d got %v, want %v exactly once", i, got, sent)
				}
				// Each was cut at least once (killed or drained), and
				// ended on A, the only gateway left.
				if e.Connects() < 2 || lastUpstream(e) != gwA.Addr {
					t.Errorf("client %d: %d connections, the last to %q; want at least 2, the last to A %s",
						i, e.Connects(), lastUpstream(e), gwA.Addr)
				}
				connects += e.Connects()
			}
			t.Logf("%d clients, %d events each, %d connections in all, none stopped", clients, len(sent), connects)
		})
	}
}

// services are the auth, jobs and logs services, each its own process.
type services struct {
	bins             string
	keys             apptest.Keys
	auth, jobs, logs *apptest.Process
}

func startServices(t *testing.T, bins string) *services {
	t.Helper()
	s := &services{bins: bins, keys: apptest.WriteKeys(t)}
	dir := t.TempDir()
	flags := func(service string, more ...string) []string {
		return slices.Concat([]string{"-grpc-addr", "127.0.0.1:0"}, s.keys.ServiceFlags(service), more)
	}
	s.auth = apptest.StartProcess(t, bins+"/ssegate-auth", flags(app.AuthService, "-session-secret", upstreamsSecret, "-data-dir", dir+"/auth")...)
	s.logs = apptest.StartProcess(t, bins+"/ssegate-logs", flags(app.LogsService, "-data-dir", dir+"/logs")...)
	s.jobs = apptest.StartProcess(t, bins+"/ssegate-jobs", flags(app.JobsService, "-data-dir", dir+"/jobs", "-logs-addr", s.logs.Addr)...)
	return s
}

// startGateway starts an ssegate gateway process in front of s on addr.
func (s *services) startGateway(t *testing.T, addr string) *apptest.Process {
	t.Helper()
	return apptest.StartProcess(t, s.bins+"/ssegate", append(s.keys.GatewayFlags(),
		"-addr", addr, "-metrics-addr", "127.0.0.1:0", "-session-secret", upstreamsSecret,
		"-upstream", "auth="+s.auth.Addr, "-upstream", "jobs="+s.jobs.Addr, "-upstream", "logs="+s.logs.Addr, "-reflection",
		"-session-revocations", "auth",
		"-trusted-proxies", "127.0.0.1", "-max-streams-per-user", "0",
		"-heartbeat", "1s", "-drain-timeout", "5s", "-reconnect-jitter", "1s")...)
}

// lastUpstream is the gateway that served an EventSource's latest
// response: the last address of nginx's $upstream_addr (the others failed
// before it).
func lastUpstream(e *apptest.EventSource) string {
	list := strings.Split(e.Header().Get("X-Upstream"), ", ")
	return list[len(list)-1]
}
