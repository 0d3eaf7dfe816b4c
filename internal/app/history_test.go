package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/services/store/natsstore/natstest"
)

// With the history on NATS, a backend that cannot reach NATS says
// NOT_SERVING, so the gateway's /readyz is 503 while no backend can serve;
// calls that reach a backend meanwhile fail with UNAVAILABLE and say why;
// once NATS is back everything it had is there and the backends serve
// again by themselves.
func TestReadinessFollowsTheHistory(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	cfg := apptest.Config(t)
	cfg.StoreURL, cfg.StoreReplicas, cfg.StorePrefix = srv.URL, 1, "readiness"
	demo := apptest.StartDemo(t, cfg)
	waitReady(t, demo.URL)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := logs.Append(ctx, "kept", "before NATS went down"); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	if err := apptest.Eventually(30*time.Second, func() error {
		code, rep := readyz(t, demo.URL)
		failing, _ := rep["failing"].(map[string]any)
		if code != http.StatusServiceUnavailable || failing["jobs"] == nil || failing["logs"] == nil || failing["auth"] != nil {
			return fmt.Errorf("/readyz %d, failing checks %v; want 503 with jobs and logs only", code, failing)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := logs.Append(ctx, "kept", "while NATS is down")
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "storage is unavailable") {
		t.Errorf("an append while NATS is down: %v, want UNAVAILABLE naming the storage", err)
	}

	srv.Restart()
	waitReadyWithin(t, demo.URL, 30*time.Second)
	s, err := c.Stream(ctx, "/v1/logs/kept/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.NextEvent(); err != nil || ev.ID != "1" || ev.Data != "before NATS went down" {
		t.Fatalf("stream after NATS is back: %+v, %v", ev, err)
	}
	if id, err := logs.Append(ctx, "kept", "after"); err != nil || id < 2 {
		t.Fatalf("append after NATS is back: %d, %v", id, err)
	}
}

func waitReadyWithin(t *testing.T, base string, d time.Duration) {
	t.Helper()
	if err := apptest.Eventually(d, func() error {
		if code, rep := readyz(t, base); code != http.StatusOK {
			return fmt.Errorf("/readyz %d %v, want 200", code, rep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
