package bench

import (
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
