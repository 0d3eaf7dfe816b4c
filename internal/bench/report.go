package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is everything one run of the tool measured; it is written as JSON.
type Report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Settings Settings  `json:"settings"`
	CPUs     int       `json:"cpus"`
	Go       string    `json:"go"`
	// Load averages (1, 5, 15 min) of the machine before and after.
	LoadBefore [3]float64 `json:"loadBefore"`
	LoadAfter  [3]float64 `json:"loadAfter"`
	// OtherCores is, per scenario, the cores that processes other than
	// ssebench's own used on average while it ran: on a shared machine,
	// what skewed the figures.
	OtherCores map[string]float64 `json:"otherCores"`

	Throughput []Throughput `json:"throughput,omitempty"`
	Idle       *Idle        `json:"idle,omitempty"`
	Latency    []Latency    `json:"latency,omitempty"`
	Connect    *Connect     `json:"connect,omitempty"`
}

// Throughput is scenario 1 for one number of concurrent streams.
type Throughput struct {
	Streams int             `json:"streams"`
	Runs    []ThroughputRun `json:"runs"`
	Median  ThroughputRun   `json:"median"`
}

// ThroughputRun is one run: every path, one after the other, and the
// ratios between them taken within the run.
type ThroughputRun struct {
	Direct        PathRate `json:"direct"`
	SSE           PathRate `json:"sse"`
	NDJSON        PathRate `json:"ndjson"`
	Fallback      PathRate `json:"ndjsonFallback"`
	SSEOverNDJSON float64  `json:"sseOverNdjson"`
	SSEOverDirect float64  `json:"sseOverDirect"`
}

// PathRate is the rate of one path and the CPU it cost.
type PathRate struct {
	EventsPerSec float64 `json:"eventsPerSec"`
	// CPU seconds per million events in the gateway process (0 for the
	// direct path, which has none) and in the backend process.
	GatewayCPUPerMEvents float64 `json:"gatewayCpuPerMEvents"`
	BackendCPUPerMEvents float64 `json:"backendCpuPerMEvents"`
}

// Idle is scenario 2.
type Idle struct {
	Runs   []IdleRun `json:"runs"`
	Median IdleRun   `json:"median"`
	// Others: the same over HTTP/2, and floors without ssegate.
	Others []IdleCase `json:"others"`
}

// IdleCase is scenario 2 held open another way.
type IdleCase struct {
	Runs   []IdleRun `json:"runs"`
	Median IdleRun   `json:"median"`
}

// IdleRun is one run of scenario 2, against a fresh gateway process. Every
// reading but OpenRSSNoGC follows a forced GC that returns free memory to
// the OS.
type IdleRun struct {
	Streams                  int     `json:"streams"`
	Case                     string  `json:"case"`
	OpenSeconds              float64 `json:"openSeconds"`
	BaselineRSS              int64   `json:"baselineRss"`
	OpenRSS                  int64   `json:"openRss"`
	OpenRSSNoGC              int64   `json:"openRssBeforeGc"`
	ClosedRSS                int64   `json:"closedRss"`
	BaselineGoroutines       int     `json:"baselineGoroutines"`
	OpenGoroutines           int     `json:"openGoroutines"`
	ClosedGoroutines         int     `json:"closedGoroutines"`
	RSSPerStreamKiB          float64 `json:"rssPerStreamKiB"`
	HeapPerStreamKiB         float64 `json:"heapPerStreamKiB"`
	StackPerStreamKiB        float64 `json:"stackPerStreamKiB"`
	GoroutinesPerStream      float64 `json:"goroutinesPerStream"`
	BackendRSSPerStreamKiB   float64 `json:"backendRssPerStreamKiB"`
	ClosedRSSOverBaselineKiB float64 `json:"closedRssOverBaselineKiB"`
	// What the Go heap and stacks still hold after all closed: the runtime
	// never frees goroutine descriptors, and keeps some spans.
	ClosedHeapOverBaselineKiB  float64 `json:"closedHeapOverBaselineKiB"`
	ClosedStackOverBaselineKiB float64 `json:"closedStackOverBaselineKiB"`
}

// Latency is scenario 3 for one number of streams.
type Latency struct {
	Streams int `json:"streams"`
	// Rate is the total messages per second: a fraction of the SSE peak
	// (Settings.LatencyLoad), half by default.
	Rate   float64      `json:"rate"`
	Runs   []LatencyRun `json:"runs"`
	Median LatencyRun   `json:"median"`
}

// LatencyRun holds receive minus send time percentiles, in milliseconds.
type LatencyRun struct {
	Messages  int     `json:"messages"`
	DirectP50 float64 `json:"directP50Ms"`
	DirectP99 float64 `json:"directP99Ms"`
	SSEP50    float64 `json:"sseP50Ms"`
	SSEP99    float64 `json:"sseP99Ms"`
	AddedP50  float64 `json:"addedP50Ms"`
	AddedP99  float64 `json:"addedP99Ms"`
	// The cores each process used while the SSE and the direct streams ran.
	SSECPU    cpuUse `json:"sseCpu"`
	DirectCPU cpuUse `json:"directCpu"`
}

// Connect is scenario 4.
type Connect struct {
	Streams     int          `json:"streams"`
	Concurrency int          `json:"concurrency"`
	Runs        []ConnectRun `json:"runs"`
	Median      ConnectRun   `json:"median"`
}

// ConnectRun is one run of scenario 4; times in milliseconds.
type ConnectRun struct {
	PerSec  float64 `json:"streamsPerSec"`
	TTFBP50 float64 `json:"ttfbP50Ms"`
	TTFBP99 float64 `json:"ttfbP99Ms"`
}

// Targets of issue 8, for this 2-core machine.
const (
	targetIdleKiB       = 20.0
	targetOverNDJSON    = 2.0
	targetOverDirect    = 0.5
	targetAddedP99Ms    = 2.0
	targetTTFBP99Ms     = 20.0
	closedSlackMinBytes = 4 << 20
)

// median of f over runs: each figure of a median row is the median of that
// figure across runs, ratios included (taken within each run first).
func median[T any](runs []T, f func(*T) float64) float64 {
	v := make([]float64, len(runs))
	for i := range runs {
		v[i] = f(&runs[i])
	}
	slices.Sort(v)
	n := len(v)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func medianRate(runs []ThroughputRun, f func(*ThroughputRun) *PathRate) PathRate {
	return PathRate{
		EventsPerSec:         median(runs, func(r *ThroughputRun) float64 { return f(r).EventsPerSec }),
		GatewayCPUPerMEvents: median(runs, func(r *ThroughputRun) float64 { return f(r).GatewayCPUPerMEvents }),
		BackendCPUPerMEvents: median(runs, func(r *ThroughputRun) float64 { return f(r).BackendCPUPerMEvents }),
	}
}

func (t *Throughput) finish() {
	r := t.Runs
	t.Median = ThroughputRun{
		Direct:        medianRate(r, func(x *ThroughputRun) *PathRate { return &x.Direct }),
		SSE:           medianRate(r, func(x *ThroughputRun) *PathRate { return &x.SSE }),
		NDJSON:        medianRate(r, func(x *ThroughputRun) *PathRate { return &x.NDJSON }),
		Fallback:      medianRate(r, func(x *ThroughputRun) *PathRate { return &x.Fallback }),
		SSEOverNDJSON: median(r, func(x *ThroughputRun) float64 { return x.SSEOverNDJSON }),
		SSEOverDirect: median(r, func(x *ThroughputRun) float64 { return x.SSEOverDirect }),
	}
}

func (i *Idle) finish() {
	i.Median = medianIdle(i.Runs)
	for j := range i.Others {
		i.Others[j].Median = medianIdle(i.Others[j].Runs)
	}
}

func medianIdle(r []IdleRun) IdleRun {
	mi := func(f func(*IdleRun) float64) float64 { return median(r, f) }
	return IdleRun{
		Streams:                    r[0].Streams,
		Case:                       r[0].Case,
		OpenSeconds:                mi(func(x *IdleRun) float64 { return x.OpenSeconds }),
		BaselineRSS:                int64(mi(func(x *IdleRun) float64 { return float64(x.BaselineRSS) })),
		OpenRSS:                    int64(mi(func(x *IdleRun) float64 { return float64(x.OpenRSS) })),
		OpenRSSNoGC:                int64(mi(func(x *IdleRun) float64 { return float64(x.OpenRSSNoGC) })),
		ClosedRSS:                  int64(mi(func(x *IdleRun) float64 { return float64(x.ClosedRSS) })),
		BaselineGoroutines:         int(mi(func(x *IdleRun) float64 { return float64(x.BaselineGoroutines) })),
		OpenGoroutines:             int(mi(func(x *IdleRun) float64 { return float64(x.OpenGoroutines) })),
		ClosedGoroutines:           int(mi(func(x *IdleRun) float64 { return float64(x.ClosedGoroutines) })),
		RSSPerStreamKiB:            mi(func(x *IdleRun) float64 { return x.RSSPerStreamKiB }),
		HeapPerStreamKiB:           mi(func(x *IdleRun) float64 { return x.HeapPerStreamKiB }),
		StackPerStreamKiB:          mi(func(x *IdleRun) float64 { return x.StackPerStreamKiB }),
		GoroutinesPerStream:        mi(func(x *IdleRun) float64 { return x.GoroutinesPerStream }),
		BackendRSSPerStreamKiB:     mi(func(x *IdleRun) float64 { return x.BackendRSSPerStreamKiB }),
		ClosedRSSOverBaselineKiB:   mi(func(x *IdleRun) float64 { return x.ClosedRSSOverBaselineKiB }),
		ClosedHeapOverBaselineKiB:  mi(func(x *IdleRun) float64 { return x.ClosedHeapOverBaselineKiB }),
		ClosedStackOverBaselineKiB: mi(func(x *IdleRun) float64 { return x.ClosedStackOverBaselineKiB }),
	}
}

// backNearBaseline: after all streams closed, the goroutines are within a
// few of the baseline, and the RSS has given back all but a tenth of what
// the streams took (at least 4 MiB of slack: the runtime keeps some of its
// own metadata).
func (r *IdleRun) backNearBaseline() bool {
	grew := float64(r.OpenRSS - r.BaselineRSS)
	slack := max(grew/10, closedSlackMinBytes)
	return r.ClosedGoroutines <= r.BaselineGoroutines+idleSlack && r.ClosedRSSOverBaselineKiB*1024 <= slack
}

func (l *Latency) finish() {
	r := l.Runs
	f := func(g func(*LatencyRun) float64) float64 { return median(r, g) }
	l.Median = LatencyRun{
		Messages:  int(f(func(x *LatencyRun) float64 { return float64(x.Messages) })),
		DirectP50: f(func(x *LatencyRun) float64 { return x.DirectP50 }),
		DirectP99: f(func(x *LatencyRun) float64 { return x.DirectP99 }),
		SSEP50:    f(func(x *LatencyRun) float64 { return x.SSEP50 }),
		SSEP99:    f(func(x *LatencyRun) float64 { return x.SSEP99 }),
		AddedP50:  f(func(x *LatencyRun) float64 { return x.AddedP50 }),
		AddedP99:  f(func(x *LatencyRun) float64 { return x.AddedP99 }),
		SSECPU: cpuUse{
			Gateway: f(func(x *LatencyRun) float64 { return x.SSECPU.Gateway }),
			Backend: f(func(x *LatencyRun) float64 { return x.SSECPU.Backend }),
			Client:  f(func(x *LatencyRun) float64 { return x.SSECPU.Client }),
		},
		DirectCPU: cpuUse{
			Backend: f(func(x *LatencyRun) float64 { return x.DirectCPU.Backend }),
			Client:  f(func(x *LatencyRun) float64 { return x.DirectCPU.Client }),
		},
	}
}

func (c *Connect) finish() {
	r := c.Runs
	c.Median = ConnectRun{
		PerSec:  median(r, func(x *ConnectRun) float64 { return x.PerSec }),
		TTFBP50: median(r, func(x *ConnectRun) float64 { return x.TTFBP50 }),
		TTFBP99: median(r, func(x *ConnectRun) float64 { return x.TTFBP99 }),
	}
}

// WriteTable writes the report as one markdown table, with a line above it
// that says how and when it was measured.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ssebench: %d CPUs, %s, median of %d runs, load average %.2f before and %.2f after (1 min)",
		rep.CPUs, rep.Go, rep.Settings.Runs, rep.LoadBefore[0], rep.LoadAfter[0])
	var other []string
	for _, s := range []string{"throughput", "idle", "latency", "connect"} {
		if c, ok := rep.OtherCores[s]; ok {
			other = append(other, fmt.Sprintf("%s %.2f", s, c))
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(&b, "; cores used by other processes meanwhile: %s", strings.Join(other, ", "))
	}
	b.WriteString("\n\n")
	b.WriteString("| Scenario | Measure | Value | Target | Result |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	row := func(scenario, measure, value, target, result string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", scenario, measure, value, target, result)
	}
	for _, t := range rep.Throughput {
		m := t.Median
		s := fmt.Sprintf("1. Throughput, %s × %d B", plural(t.Streams, "stream"), rep.Settings.Size)
		row(s, direct.String(), rateCell(m.Direct, false), "", "")
		row("", sse.String(), rateCell(m.SSE, true), "", "")
		row("", ndjson.String(), rateCell(m.NDJSON, true), "", "")
		row("", fallback.String(), rateCell(m.Fallback, true), "", "")
		row("", "SSE ÷ NDJSON", fmt.Sprintf("%.2f×", m.SSEOverNDJSON), fmt.Sprintf("≥ %g×", targetOverNDJSON), passFail(m.SSEOverNDJSON >= targetOverNDJSON))
		row("", "SSE ÷ direct gRPC", fmt.Sprintf("%.2f×", m.SSEOverDirect), fmt.Sprintf("≥ %g×", targetOverDirect), passFail(m.SSEOverDirect >= targetOverDirect))
	}
	if rep.Idle != nil {
		m := rep.Idle.Median
		s := fmt.Sprintf("2. Idle memory, %s", plural(m.Streams, "stream"))
		row(s, "gateway RSS per stream", fmt.Sprintf("%.1f KiB (heap %.1f, stacks %.1f; %.1f before a forced GC)",
			m.RSSPerStreamKiB, m.HeapPerStreamKiB, m.StackPerStreamKiB, float64(m.OpenRSSNoGC-m.BaselineRSS)/float64(m.Streams)/1024),
			fmt.Sprintf("≤ %g KiB", targetIdleKiB), passFail(m.RSSPerStreamKiB <= targetIdleKiB))
		row("", "gateway goroutines per stream", fmt.Sprintf("%.2f", m.GoroutinesPerStream), "", "")
		for _, o := range rep.Idle.Others {
			m := o.Median
			row("", m.Case, fmt.Sprintf("%.1f KiB (heap %.1f, stacks %.1f), %.2f goroutines per stream",
				m.RSSPerStreamKiB, m.HeapPerStreamKiB, m.StackPerStreamKiB, m.GoroutinesPerStream), "", "")
		}
		row("", "after all closed, over baseline", fmt.Sprintf("RSS %+.1f MiB (baseline %.1f MiB), goroutines %+d (baseline %d)",
			m.ClosedRSSOverBaselineKiB/1024, float64(m.BaselineRSS)/(1<<20), m.ClosedGoroutines-m.BaselineGoroutines, m.BaselineGoroutines),
			"back near baseline", passFail(m.backNearBaseline()))
	}
	for _, l := range rep.Latency {
		m := l.Median
		load := "half"
		if f := rep.Settings.LatencyLoad; f != 0.5 {
			load = fmt.Sprintf("%.2f×", f)
		}
		s := fmt.Sprintf("3. Added latency, %s at %s events/s (%s the SSE peak)", plural(l.Streams, "stream"), thousands(l.Rate), load)
		row(s, "added p50", fmt.Sprintf("%.3f ms (SSE %.3f, direct %.3f)", m.AddedP50, m.SSEP50, m.DirectP50), "", "")
		row("", "added p99", fmt.Sprintf("%.3f ms (SSE %.3f, direct %.3f)", m.AddedP99, m.SSEP99, m.DirectP99),
			fmt.Sprintf("≤ %g ms", targetAddedP99Ms), passFail(m.AddedP99 <= targetAddedP99Ms))
		c := m.SSECPU
		row("", "cores used, SSE run", fmt.Sprintf("gateway %.2f, backend %.2f, client %.2f: %.2f of %d",
			c.Gateway, c.Backend, c.Client, c.Gateway+c.Backend+c.Client, rep.CPUs), "", "")
	}
	if c := rep.Connect; c != nil {
		m := c.Median
		s := fmt.Sprintf("4. Connect, %s, %d at a time, a new connection each", plural(c.Streams, "stream"), c.Concurrency)
		row(s, "new streams per second", thousands(m.PerSec), "", "")
		row("", "time to first byte p50", fmt.Sprintf("%.2f ms", m.TTFBP50), "", "")
		row("", "time to first byte p99", fmt.Sprintf("%.2f ms", m.TTFBP99), fmt.Sprintf("≤ %g ms", targetTTFBP99Ms), passFail(m.TTFBP99 <= targetTTFBP99Ms))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func rateCell(r PathRate, gateway bool) string {
	s := thousands(r.EventsPerSec) + " events/s"
	if gateway {
		s += fmt.Sprintf(", gateway CPU %.2f s per M events", r.GatewayCPUPerMEvents)
	}
	return s
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return thousands(float64(n)) + " " + word + "s"
}

// thousands formats x rounded to an integer with comma separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
