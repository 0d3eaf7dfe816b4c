package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	id := func(x *float64) float64 { return *x }
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {nil, 0}} {
		if got := median(tt.in, id); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", 100000: "100,000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSentTime(t *testing.T) {
	t.Parallel()
	got, err := sentTime([]byte(`{"seq":"1", "sentUnixNano":"1795315521095757974", "payload":"x"}`))
	if err != nil || got != 1795315521095757974 {
		t.Errorf("sentTime = %d, %v", got, err)
	}
	for _, bad := range []string{`{"seq":"1"}`, `{"sentUnixNano":"12`, `{"sentUnixNano":"x"}`} {
		if _, err := sentTime([]byte(bad)); err == nil {
			t.Errorf("sentTime(%s): want an error", bad)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:80": true, "127.0.0.2:9000": true,
		"10.0.0.1:80": false, "example.com:80": false, "0.0.0.0:80": false, "127.0.0.1": false, ":80": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}

func TestTableRows(t *testing.T) {
	t.Parallel()
	rep := &Report{Settings: DefaultSettings(), CPUs: 2, Go: "go"}
	tp := Throughput{Streams: 100, Runs: []ThroughputRun{{
		Direct: PathRate{EventsPerSec: 400}, SSE: PathRate{EventsPerSec: 300, GatewayCPUPerMEvents: 1},
		NDJSON: PathRate{EventsPerSec: 100}, Fallback: PathRate{EventsPerSec: 100},
		SSEOverNDJSON: 3, SSEOverDirect: 0.75,
	}}}
	tp.finish()
	rep.Throughput = []Throughput{tp}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 1. Throughput, 100 streams × 128 B | direct gRPC | 400 events/s |  |  |",
		"|  | SSE ÷ NDJSON | 3.00× | ≥ 2× | pass |",
		"|  | SSE ÷ direct gRPC | 0.75× | ≥ 0.5× | pass |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSharedRows(t *testing.T) {
	t.Parallel()
	const n = 1000
	idle := func(kib float64, started int64, shared bool) IdleRun {
		r := IdleRun{Streams: n, RSSPerStreamKiB: kib, GoroutinesPerStream: 2}
		if shared {
			r.BackendStreamsStarted, r.BackendStreamsOpen = started, 1
			r.Shared = ShareCounts{Upstreams: 1, Browsers: n}
		}
		return r
	}
	// Two runs: the difference to the floor is taken within each run
	// (3 and 1 KiB over HTTP/1.1 under PUBLIC), then its median (2).
	si := SharedIdle{Browsers: n, Cases: make([]IdleCase, len(sharedIdleCases))}
	for _, run := range [][]IdleRun{
		{idle(23, n+1, true), idle(11, n+1, true), idle(21, 1, true), idle(13, 1, true), idle(20, 0, false), idle(5, 0, false)},
		{idle(22, n+1, true), idle(11, n+1, true), idle(22, 1, true), idle(13, 1, true), idle(21, 0, false), idle(5, 0, false)},
	} {
		for j, r := range run {
			si.Cases[j].Runs = append(si.Cases[j].Runs, r)
		}
	}
	lat := SharedLatency{Browsers: 10_000, Case: "PUBLIC, HTTP/1.1", Rate: 1, Seconds: 30,
		Runs: []SharedLatencyRun{
			{P50: 40, P99: 90, Samples: 300_000, BackendStreamsOpen: 1, Shared: ShareCounts{Upstreams: 1, Browsers: 10_000}},
			// 29 browsers kept a stream of their own.
			{P50: 50, P99: 120, Samples: 300_000, BackendStreamsOpen: 30, Shared: ShareCounts{Upstreams: 1, Browsers: 9971}},
		}}
	s := &Shared{Idle: []SharedIdle{si}, Latency: []SharedLatency{lat}}
	s.finish()
	if got := s.Idle[0].OverFloorKiB[sharedPublicH1]; got != 2 {
		t.Errorf("PUBLIC HTTP/1.1 over the floor = %v KiB, want 2 (median of 3 and 1)", got)
	}
	var b strings.Builder
	s.rows(func(sc, m, v, tg, r string) { fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", sc, m, v, tg, r) }, 0)
	out := b.String()
	for _, want := range []string{
		"| gateway RSS, shared, PUBLIC, HTTP/1.1 | +2.00 KiB per browser over the floor: 22.50 KiB",
		"| ≤ floor +2 KiB | pass |",
		"| gateway RSS, shared, PER_USER (no user), HTTP/1.1 | +1.00 KiB per browser over the floor",
		"| gateway RSS, shared, PUBLIC, HTTP/2 (h2c) | 11.00 KiB",
		"| gateway RSS, shared, PER_USER (no user), HTTP/2 (h2c) | 13.00 KiB",
		"| ≤ 12 KiB | **FAIL** |",
		"PUBLIC: 1 open, 1,001 started",
		"| 1 open, every run | pass |",
		"| delivery p99 | 105.00 ms",
		"| ≤ 100 ms, none short | **FAIL** |",
		"| all attached, 1 open, every run | **FAIL** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rows lack %q:\n%s", want, out)
		}
	}

	// A second upstream in any run fails the count.
	s.Idle[0].Cases[sharedPerUserH2C].Runs[1].BackendStreamsOpen = 2
	b.Reset()
	s.rows(func(sc, m, v, tg, r string) { fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", sc, m, v, tg, r) }, 0)
	if !strings.Contains(b.String(), "| 1 open, every run | **FAIL** |") {
		t.Errorf("two upstreams in a run passed:\n%s", b.String())
	}
}
