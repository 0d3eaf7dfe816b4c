package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ssegate/ssegate/gateway/upstream"
	"github.com/ssegate/ssegate/internal/apptest"
)

// readyz returns /readyz's status and report.
func readyz(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rep map[string]any
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, rep
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	if err := apptest.Eventually(10*time.Second, func() error {
		if code, rep := readyz(t, base); code != http.StatusOK {
			return fmt.Errorf("/readyz %d %v, want 200", code, rep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Readiness follows the backends and the drain; liveness does not. A
// restarted backend is reconnected without restarting the gateway.
func TestReadinessAndBackendRestart(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	demo := apptest.StartDemo(t, cfg)
	waitReady(t, demo.URL)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "kept", "before the restart"); err != nil {
		t.Fatal(err)
	}

	if err := demo.StopBackends(); err != nil {
		t.Fatal(err)
	}
	// Each connection notices on its own; wait for both.
	if err := apptest.Eventually(10*time.Second, func() error {
		code, rep := readyz(t, demo.URL)
		failing, _ := rep["failing"].(map[string]any)
		if code != http.StatusServiceUnavailable || failing["jobs"] == nil || failing["logs"] == nil || failing["auth"] != nil {
			return fmt.Errorf("/readyz %d, failing checks %v; want 503 with jobs and logs only", code, failing)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(demo.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz while backends are down: %s", res.Status)
	}

	if err := demo.StartBackends(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, demo.URL)
	// New requests reach the new backends through the same gateway.
	res, err = c.Do(ctx, "GET", "/v1/jobs", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("REST after the restart: %s", res.Status)
	}
	s, err := c.Stream(ctx, "/v1/logs/kept/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.NextEvent(); err != nil || ev.Data != "before the restart" {
		t.Fatalf("stream after the restart: %+v, %v", ev, err)
	}

	// Draining makes the gateway unready at once.
	if err := demo.Gateway().Gateway.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	code, rep := readyz(t, demo.URL)
	if failing, _ := rep["failing"].(map[string]any); code != http.StatusServiceUnavailable || failing["gateway"] != "draining" {
		t.Errorf("/readyz while draining: %d %v", code, rep)
	}
}

// countingHealth is a backend that counts the Check calls it answers.
type countingHealth struct {
	addr   string
	health *health.Server
	srv    *grpc.Server
	calls  atomic.Int64
	done   sync.WaitGroup
}

func startHealth(t *testing.T, addr string, calls *atomic.Int64) *countingHealth {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &countingHealth{addr: lis.Addr().String(), health: health.NewServer()}
	b.srv = grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(b.srv, b.health)
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		_ = b.srv.Serve(lis)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *countingHealth) stop() {
	b.srv.Stop()
	b.done.Wait()
}

// Calls to several addresses go round-robin over the healthy ones; a
// backend that says NOT_SERVING gets none; one that stops and comes back
// on its address gets calls again, on the same client connection.
func TestDialRoundRobinHealthAndReconnect(t *testing.T) {
	t.Parallel()
	var callsA, callsB atomic.Int64
	a := startHealth(t, "127.0.0.1:0", &callsA)
	b := startHealth(t, "127.0.0.1:0", &callsB)
	conn, err := upstream.Dial(upstream.Config{Name: "health", Addrs: []string{a.addr, b.addr}, Reflection: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	call := func() {
		t.Helper()
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// Both get calls once both are connected and healthy...
	if err := apptest.Eventually(10*time.Second, func() error {
		call()
		if callsA.Load() == 0 || callsB.Load() == 0 {
			return fmt.Errorf("calls: %d and %d", callsA.Load(), callsB.Load())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// ...then in turn.
	a0, b0 := callsA.Load(), callsB.Load()
	for range 10 {
		call()
	}
	if da, db := callsA.Load()-a0, callsB.Load()-b0; da != 5 || db != 5 {
		t.Errorf("10 calls went %d and %d, want 5 and 5", da, db)
	}

	// A backend that is not serving gets no calls.
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	// A call may fail while a backend goes away; the next one must not.
	quiet := func(n *atomic.Int64) error {
		before := n.Load()
		for range 10 {
			if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				return err
			}
		}
		if d := n.Load() - before; d != 0 {
			return fmt.Errorf("%d of 10 calls still reached it", d)
		}
		return nil
	}
	if err := apptest.Eventually(10*time.Second, func() error { return quiet(&callsA) }); err != nil {
		t.Fatalf("NOT_SERVING backend: %v", err)
	}

	// B stops; A serves again: calls go to A. Then B comes back on its
	// address and gets calls on the same connection.
	addrB := b.addr
	b.stop()
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if err := apptest.Eventually(10*time.Second, func() error { return quiet(&callsB) }); err != nil {
		t.Fatalf("stopped backend: %v", err)
	}
	var callsB2 atomic.Int64
	startHealth(t, addrB, &callsB2)
	if err := apptest.Eventually(10*time.Second, func() error {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			return err
		}
		if callsB2.Load() == 0 {
			return fmt.Errorf("the restarted backend got no call")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Messages over grpc-max-message-bytes are refused on the way out.
func TestGRPCMessageSizeLimit(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.GRPCMaxMessageBytes = 1 << 10
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil) // small messages pass
	// A request message of 4 KiB: its id alone (the body limits, which
	// come first, do not see it).
	res, err := c.Do(t.Context(), "GET", "/v1/jobs/"+strings.Repeat("j", 4<<10), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ Code string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	if res.StatusCode != http.StatusTooManyRequests || e.Code != "RESOURCE_EXHAUSTED" {
		t.Errorf("oversized request: %s %q, want 429 RESOURCE_EXHAUSTED", res.Status, e.Code)
	}
}

// The stream limits in the config reach the gateway: the global cap
// answers 503 with Retry-After, and the maximum lifetime ends a stream with
// a reconnect event whose retry is jittered.
func TestConfiguredStreamLimits(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.MaxStreams = 1
	cfg.MaxLifetime = time.Second
	cfg.ReconnectJitter = 500 * time.Millisecond
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "life", "one"); err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(ctx, "/v1/logs/life/events?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.NextEvent(); err != nil || ev.Data != "one" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	// An NDJSON client over the cap gets the status (an SSE one, a
	// reconnect event: see the gateway's tests).
	res, err := c.Do(ctx, "GET", "/v1/logs/life/events?follow=true", "", http.Header{"Accept": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Code string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || e.Code != "UNAVAILABLE" {
		t.Errorf("over the global cap: %s %q Retry-After %q", res.Status, e.Code, res.Header.Get("Retry-After"))
	}
	ev, err := s.NextEvent()
	if err != nil || ev.Event != "reconnect" {
		t.Fatalf("at the end of the lifetime: %+v, %v; want a reconnect event", ev, err)
	}
	// The log route's own retry is 2000 ms; the jitter adds up to 500 ms.
	var retry int
	if _, err := fmt.Sscan(ev.Retry, &retry); err != nil || retry < 2000 || retry >= 2500 {
		t.Errorf("reconnect retry %q, want 2000 to 2499", ev.Retry)
	}
}
