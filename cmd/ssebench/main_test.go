package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/bench"
)

// TestMain lets the test binary act as the tool: the smoke run re-executes
// it as `run`, and that as `serve-backend` and `serve-gateway`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && bench.IsCommand(os.Args[1]) {
		os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every scenario end to end with tiny sizes, as separate
// processes on loopback, and checks the table and the JSON.
func TestSmoke(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "run", "-smoke", "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("ssebench run -smoke: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("smoke run took %v", time.Since(start).Round(time.Millisecond))

	checkTable(t, stdout.String())

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	checkReport(t, &rep)
}

func checkTable(t *testing.T, out string) {
	t.Helper()
	var table []string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "|") {
			table = append(table, strings.TrimSpace(line))
		}
	}
	if len(table) < 3 || table[0] != "| Scenario | Measure | Value | Target | Result |" ||
		table[1] != "| --- | --- | --- | --- | --- |" {
		t.Fatalf("no markdown table in the output:\n%s", out)
	}
	for _, row := range table {
		if strings.Count(row, "|") != 6 || !strings.HasSuffix(row, "|") {
			t.Errorf("row with other than 5 cells: %q", row)
		}
	}
	for _, s := range []string{"| 1. Throughput, 1 stream", "| 2. Idle memory", "| 3. Added latency", "| 4. Connect",
		"| 5. Shared upstream, 20 browsers idle", "| 5. Shared upstream, 20 browsers at 1 event/s"} {
		if !strings.Contains(out, s) {
			t.Errorf("table has no %q row:\n%s", s, out)
		}
	}
	if n := strings.Count(out, "| pass |") + strings.Count(out, "| **FAIL** |"); n != 18 {
		t.Errorf("%d rows with a verdict, want 18 (2 per throughput config, 2 idle, 1 per latency config, 1 connect; "+
			"shared: 4 memory and 1 upstream count per browser count, 2 per latency case):\n%s", n, out)
	}
}

func checkReport(t *testing.T, rep *bench.Report) {
	t.Helper()
	positive := func(name string, v float64) {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if len(rep.Throughput) != 2 || rep.Idle == nil || len(rep.Latency) != 2 || rep.Connect == nil || rep.Shared == nil {
		t.Fatalf("scenarios missing from the JSON: %+v", rep)
	}
	for _, tp := range rep.Throughput {
		m := tp.Median
		positive("direct events/s", m.Direct.EventsPerSec)
		positive("SSE events/s", m.SSE.EventsPerSec)
		positive("NDJSON events/s", m.NDJSON.EventsPerSec)
		positive("fallback events/s", m.Fallback.EventsPerSec)
		positive("SSE gateway CPU", m.SSE.GatewayCPUPerMEvents)
		positive("NDJSON gateway CPU", m.NDJSON.GatewayCPUPerMEvents)
		positive("SSE/NDJSON", m.SSEOverNDJSON)
		positive("SSE/direct", m.SSEOverDirect)
	}
	positive("idle RSS per stream", rep.Idle.Median.RSSPerStreamKiB)
	positive("idle goroutines per stream", rep.Idle.Median.GoroutinesPerStream)
	for _, l := range rep.Latency {
		positive("latency rate", l.Rate)
		positive("latency messages", float64(l.Median.Messages))
		positive("SSE p99", l.Median.SSEP99)
		positive("direct p99", l.Median.DirectP99)
	}
	positive("connect streams/s", rep.Connect.Median.PerSec)
	if len(rep.Shared.Idle) != 1 || len(rep.Shared.Latency) != 2 {
		t.Fatalf("shared scenario: %d browser counts and %d latency cases, want 1 and 2", len(rep.Shared.Idle), len(rep.Shared.Latency))
	}
	for _, c := range rep.Shared.Idle[0].Cases {
		positive(c.Median.Case+" RSS per browser", c.Median.RSSPerStreamKiB)
	}
	for _, l := range rep.Shared.Latency {
		m := l.Median
		positive(l.Case+" delivery p99", m.P99)
		positive(l.Case+" events", float64(m.Events))
		// Counts read, not judged: a browser whose access check is
		// answered after the gateway's header wait keeps a stream of its
		// own, which a loaded machine can make happen even at this size.
		positive(l.Case+" backend streams open", float64(m.BackendStreamsOpen))
		positive(l.Case+" browsers on the shared upstream", float64(m.Shared.Browsers))
		if m.Shared.Upstreams != 1 {
			t.Errorf("%s: gateway counted %d shared upstreams, want 1", l.Case, m.Shared.Upstreams)
		}
	}
	positive("TTFB p99", rep.Connect.Median.TTFBP99)
	if rep.LoadBefore == [3]float64{} && rep.LoadAfter == [3]float64{} {
		t.Error("no load average")
	}
}
