package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ssegate/ssegate/internal/apptest"
)

// scrape reads /metrics as Prometheus does.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// find returns the series of name with exactly labels, or nil.
func find(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the value of the series of name with exactly labels (a
// histogram's sample count), or 0 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := find(fams, name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// present reports whether the series of name with exactly labels exists.
func present(fams map[string]*dto.MetricFamily, name string, labels ...string) bool {
	return find(fams, name, labels...) != nil
}

const (
	logRoute = "/v1/logs/{name}/events"
	jobRoute = "/v1/jobs/{id}/events"
)

type metricWant struct {
	name   string
	labels []string
	want   float64
}

func checkMetrics(t *testing.T, fams map[string]*dto.MetricFamily, wants []metricWant) {
	t.Helper()
	for _, w := range wants {
		if got := value(fams, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
}

// After a known sequence of streams, refusals and failed sign-ins, the
// metrics say exactly what happened.
func TestMetricsAfterKnownSequence(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Heartbeat = 100 * time.Millisecond
	cfg.MaxStreamsPerIP = 1
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// 0. Before any stream, every route's series exist, at zero, so that
	// rates and alerts work from the first scrape.
	fams := scrape(t, demo.MetricsURL)
	for _, route := range []string{logRoute, jobRoute} {
		for _, name := range []string{"ssegate_streams_active", "ssegate_streams_started_total",
			"ssegate_stream_events_total", "ssegate_stream_bytes_total", "ssegate_stream_heartbeats_total",
			"ssegate_stream_evictions_total", "ssegate_stream_duration_seconds", "ssegate_stream_time_to_first_byte_seconds"} {
			if !present(fams, name, "route", route) || value(fams, name, "route", route) != 0 {
				t.Errorf("fresh gateway: %s{route=%q} missing or not 0", name, route)
			}
		}
		if !present(fams, "ssegate_streams_rejected_total", "route", route, "reason", "principal_cap") {
			t.Errorf("fresh gateway: no rejected series for %s", route)
		}
	}

	for _, s := range []string{"a", "b"} {
		if _, err := logs.Append(ctx, "m", s); err != nil {
			t.Fatal(err)
		}
	}

	// 1. A stream that ends: two events, then end.
	res, err := c.Do(ctx, "GET", "/v1/logs/m/events", "", http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(body), "event: end") {
		t.Fatalf("finished stream: %s %q %v", res.Status, body, err)
	}
	// 2. A stream of a log that does not exist: 404 before any event.
	res, err = c.Do(ctx, "GET", "/v1/logs/missing/events", "", http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("missing log: %s", res.Status)
	}
	fams = scrape(t, demo.MetricsURL)
	checkMetrics(t, fams, []metricWant{
		{"ssegate_streams_started_total", []string{"route", logRoute}, 2},
		{"ssegate_streams_ended_total", []string{"route", logRoute, "outcome", "ended", "code", "OK"}, 1},
		{"ssegate_streams_ended_total", []string{"route", logRoute, "outcome", "refused", "code", "NOT_FOUND"}, 1},
		{"ssegate_stream_events_total", []string{"route", logRoute}, 2},
		{"ssegate_stream_bytes_total", []string{"route", logRoute}, float64(len(body))},
		{"ssegate_stream_time_to_first_byte_seconds", []string{"route", logRoute}, 1},
		{"ssegate_stream_duration_seconds", []string{"route", logRoute}, 2},
		{"ssegate_streams_active", []string{"route", logRoute}, 0},
	})

	// 3. A stream held open through two heartbeats; a second one from the
	// same address is over the per-IP cap.
	held, err := c.Stream(ctx, "/v1/logs/m/events?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	events, heartbeats := 0, 0
	for heartbeats < 2 {
		b, err := held.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !b.Comment:
			events++
		case b.Data == "":
			heartbeats++
		}
	}
	// Over the cap: an SSE client gets a reconnect event, NDJSON a 429.
	over, err := c.Do(ctx, "GET", "/v1/logs/m/events?follow=true", "", http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	overBody, _ := io.ReadAll(over.Body)
	over.Body.Close()
	if over.StatusCode != http.StatusOK || !strings.Contains(string(overBody), "event: reconnect\n") {
		t.Fatalf("SSE stream over the per-IP cap: %s %q", over.Status, overBody)
	}
	over, err = c.Do(ctx, "GET", "/v1/logs/m/events?follow=true", "", http.Header{"Accept": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	over.Body.Close()
	if over.StatusCode != http.StatusTooManyRequests || over.Header.Get("Retry-After") == "" {
		t.Fatalf("NDJSON stream over the per-IP cap: %s, Retry-After %q", over.Status, over.Header.Get("Retry-After"))
	}
	// While the held stream runs, its events and heartbeats are counted.
	fams = scrape(t, demo.MetricsURL)
	checkMetrics(t, fams, []metricWant{
		{"ssegate_streams_active", []string{"route", logRoute}, 1},
		{"ssegate_streams_rejected_total", []string{"route", logRoute, "reason", "client_ip_cap"}, 2},
		{"ssegate_stream_events_total", []string{"route", logRoute}, float64(2 + events)},
	})
	if hb := value(fams, "ssegate_stream_heartbeats_total", "route", logRoute); hb < 2 {
		t.Errorf("heartbeats_total = %v while the stream runs, want at least the 2 the client saw", hb)
	}
	held.Close() // the client leaves
	if err := apptest.Eventually(5*time.Second, func() error {
		if n := value(scrape(t, demo.MetricsURL), "ssegate_streams_active", "route", logRoute); n != 0 {
			return fmt.Errorf("%v streams active after the client left", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// 4. Requests the session middleware refuses.
	anon, err := http.Get(demo.URL + "/v1/logs/m/events")
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	foreign, err := c.Do(ctx, "GET", "/v1/logs", "", http.Header{"Origin": {"https://evil.example"}})
	if err != nil {
		t.Fatal(err)
	}
	foreign.Body.Close()
	if anon.StatusCode != 401 || foreign.StatusCode != 403 {
		t.Fatalf("anonymous %s, foreign origin %s; want 401 and 403", anon.Status, foreign.Status)
	}

	// 5. An NDJSON stream that ends is counted as ended, and no longer
	// active.
	nd, err := c.Do(ctx, "GET", "/v1/logs/m/events", "", http.Header{"Accept": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	ndBody, _ := io.ReadAll(nd.Body)
	nd.Body.Close()
	if nd.StatusCode != http.StatusOK || strings.Count(string(ndBody), "\n") != 2 {
		t.Fatalf("NDJSON stream: %s %q", nd.Status, ndBody)
	}

	fams = scrape(t, demo.MetricsURL)
	checkMetrics(t, fams, []metricWant{
		{"ssegate_streams_started_total", []string{"route", logRoute}, 4},
		{"ssegate_streams_ended_total", []string{"route", logRoute, "outcome", "ended", "code", "OK"}, 2},
		{"ssegate_streams_ended_total", []string{"route", logRoute, "outcome", "refused", "code", "NOT_FOUND"}, 1},
		{"ssegate_streams_ended_total", []string{"route", logRoute, "outcome", "client_gone", "code", "CANCELLED"}, 1},
		{"ssegate_streams_rejected_total", []string{"route", logRoute, "reason", "client_ip_cap"}, 2},
		{"ssegate_stream_events_total", []string{"route", logRoute}, float64(2 + events + 2)},
		{"ssegate_stream_time_to_first_byte_seconds", []string{"route", logRoute}, 3},
		{"ssegate_stream_duration_seconds", []string{"route", logRoute}, 4},
		{"ssegate_streams_active", []string{"route", logRoute}, 0},
		{"ssegate_auth_failures_total", []string{"status", "401"}, 1},
		{"ssegate_auth_failures_total", []string{"status", "403"}, 1},
	})
	if hb := value(fams, "ssegate_stream_heartbeats_total", "route", logRoute); hb < 2 {
		t.Errorf("heartbeats_total = %v, want at least the 2 the client saw", hb)
	}
	if n := value(fams, "ssegate_stream_evictions_total", "route", logRoute); n != 0 {
		t.Errorf("evictions_total = %v, want 0: no write failed", n)
	}
}

// A client that stops reading is evicted when a write misses its deadline:
// the stream ends, and the eviction is counted.
func TestSlowReaderEvictedAndCounted(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.WriteTimeout = 300 * time.Millisecond
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "flood", "start"); err != nil {
		t.Fatal(err)
	}
	conn := dialRaw(t, demo.URL)
	_ = conn.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	conn.send(t, sseRequest("/v1/logs/flood/events?follow=true", c.Token(t), ""))
	if res := conn.readResponse(t, 5*time.Second); res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", res.Status)
	}
	// The client reads nothing more; the backend sends until the socket
	// buffers are full and a write misses its deadline.
	big := strings.Repeat("x", 60<<10)
	sent := 0
	for demo.Gateway().Gateway.OpenStreams() > 0 {
		if sent >= 1000 {
			t.Fatalf("stream still open after %d MiB unread", sent*60>>10)
		}
		if _, err := logs.Append(ctx, "flood", big); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	t.Logf("evicted after %d entries (%d KiB) unread", sent, sent*60)
	if err := apptest.Eventually(5*time.Second, func() error {
		fams := scrape(t, demo.MetricsURL)
		ev := value(fams, "ssegate_stream_evictions_total", "route", logRoute)
		gone := value(fams, "ssegate_streams_ended_total", "route", logRoute, "outcome", "client_gone", "code", "CANCELLED")
		if ev != 1 || gone != 1 {
			return fmt.Errorf("evictions_total %v, client_gone %v; want 1 and 1", ev, gone)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The demo's streams are shared per user: several tabs following one log
// are one upstream stream, and the metrics say so.
func TestSharedStreamsInTheDemo(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	demo := apptest.StartDemo(t, cfg)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "tabs", "first"); err != nil {
		t.Fatal(err)
	}
	// A log tailed by the tabs of two users is one upstream (SHARE_PUBLIC).
	const tabs = 3
	users := []string{"demo", "ops"}
	for _, user := range users {
		c := apptest.SignIn(t, demo.URL, user, nil)
		for range tabs {
			s, err := c.Stream(ctx, "/v1/logs/tabs/events?follow=true", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if ev, err := s.NextEvent(); err != nil || ev.Data != "first" {
				t.Fatalf("%s: first event %+v, %v", user, ev, err)
			}
		}
	}
	browsers := tabs * len(users)
	fams := scrape(t, demo.MetricsURL)
	checkMetrics(t, fams, []metricWant{
		{"ssegate_shared_upstreams", []string{"route", logRoute}, 1},
		{"ssegate_shared_browsers", []string{"route", logRoute}, float64(browsers)},
		{"ssegate_share_window_total", []string{"route", logRoute, "result", "hit"}, float64(browsers)},
		{"ssegate_streams_active", []string{"route", logRoute}, float64(browsers)},
	})
}
