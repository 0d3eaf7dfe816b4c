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
	Shared     *Shared      `json:"shared,omitempty"`
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
	// The streams the backend started while the streams opened, and those
	// it had open with all of them open: one per stream unshared; for a
	// shared stream one upstream, and under PUBLIC one access check per
	// browser, each closed once answered.
	BackendStreamsStarted int64 `json:"backendStreamsStarted"`
	BackendStreamsOpen    int64 `json:"backendStreamsOpen"`
	// Shared is the gateway's own count, for a shared case.
	Shared ShareCounts `json:"shared,omitzero"`
}

// ShareCounts is what a gateway that shares the bench stream counts, from
// its observer: shared upstreams open, browsers attached to them, and
// browsers that got an upstream of their own (window misses).
type ShareCounts struct {
	Upstreams    int64 `json:"upstreams"`
	Browsers     int64 `json:"browsers"`
	WindowMisses int64 `json:"windowMisses"`
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

// Shared is scenario 5: browsers on one shared upstream.
type Shared struct {
	Idle    []SharedIdle    `json:"idle"`
	Latency []SharedLatency `json:"latency"`
}

// SharedIdle is scenario 5 with one number of idle browsers on one
// request.
type SharedIdle struct {
	Browsers int `json:"browsers"`
	// Cases are those of sharedIdleCases, in order: shared under PUBLIC
	// and PER_USER, then net/http's floor, each over HTTP/1.1 and h2c.
	Cases []IdleCase `json:"cases"`
	// OverFloorKiB is, for each case, its RSS per browser less the
	// floor's over the same protocol, taken within each run; the median.
	OverFloorKiB []float64 `json:"overFloorKiB"`
}

// Indexes of sharedIdleCases.
const (
	sharedPublicH1 = iota
	sharedPublicH2C
	sharedPerUserH1
	sharedPerUserH2C
	sharedFloorH1
	sharedFloorH2C
)

// SharedLatency is scenario 5's delivery latency over one protocol.
type SharedLatency struct {
	Browsers int                `json:"browsers"`
	Case     string             `json:"case"`
	Rate     int                `json:"rate"`    // events per second on the upstream
	Seconds  float64            `json:"seconds"` // of the measuring window
	Runs     []SharedLatencyRun `json:"runs"`
	Median   SharedLatencyRun   `json:"median"`
}

// SharedLatencyRun is one run: receive minus the backend's send time of
// the events sent in the window, at every browser, in milliseconds.
type SharedLatencyRun struct {
	OpenSeconds float64 `json:"openSeconds"` // to attach every browser
	Samples     int     `json:"samples"`
	P50         float64 `json:"p50Ms"`
	P99         float64 `json:"p99Ms"`
	Max         float64 `json:"maxMs"`
	// Events delivered to all browsers during the window, and the
	// gateway's CPU time per event (µs), and the cores each process used.
	Events                   int64   `json:"events"`
	GatewayCPUPerEventMicros float64 `json:"gatewayCpuPerEventMicros"`
	CPU                      cpuUse  `json:"cpu"`
	// Short is the browsers that had not seen the window's last event when
	// the wait ran out, or whose stream ended (evicted): 0 when every
	// browser's every event is in the figures.
	Short int `json:"short"`
	// The backend's streams started since the gateway started, and open,
	// at the window's end with every browser attached; the gateway's
	// shared counts then.
	BackendStreamsStarted int64       `json:"backendStreamsStarted"`
	BackendStreamsOpen    int64       `json:"backendStreamsOpen"`
	Shared                ShareCounts `json:"shared"`
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

// Targets of issue 15, for this 2-core machine: memory per added browser
// of a shared upstream over HTTP/1.1 within this of net/http's floor, and
// over HTTP/2 at most this; delivery p99 at 10,000 browsers.
const (
	targetSharedOverFloorKiB = 2.0
	targetSharedH2KiB        = 12.0
	targetSharedP99Ms        = 100.0
)

// median of f over runs: each figure of a median row is the median of that
// figure across runs, ratios included (taken within each run first).
func median[T any](runs []T, f func(*T) float64) float64 {
	v := collect(runs, f)
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
		BackendStreamsStarted:      int64(mi(func(x *IdleRun) float64 { return float64(x.BackendStreamsStarted) })),
		BackendStreamsOpen:         int64(mi(func(x *IdleRun) float64 { return float64(x.BackendStreamsOpen) })),
		Shared: ShareCounts{
			Upstreams:    int64(mi(func(x *IdleRun) float64 { return float64(x.Shared.Upstreams) })),
			Browsers:     int64(mi(func(x *IdleRun) float64 { return float64(x.Shared.Browsers) })),
			WindowMisses: int64(mi(func(x *IdleRun) float64 { return float64(x.Shared.WindowMisses) })),
		},
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

func (s *Shared) finish() {
	for i := range s.Idle {
		si := &s.Idle[i]
		for j := range si.Cases {
			si.Cases[j].Median = medianIdle(si.Cases[j].Runs)
		}
		si.OverFloorKiB = make([]float64, len(si.Cases))
		for j := range si.Cases {
			floor := sharedFloorH1
			if sharedIdleCases[j].h2c {
				floor = sharedFloorH2C
			}
			if j == floor || sharedIdleCases[j].share == "" {
				continue
			}
			runs := si.Cases[j].Runs
			diff := make([]float64, len(runs))
			for r := range runs {
				diff[r] = runs[r].RSSPerStreamKiB - si.Cases[floor].Runs[r].RSSPerStreamKiB
			}
			si.OverFloorKiB[j] = median(diff, func(x *float64) float64 { return *x })
		}
	}
	for i := range s.Latency {
		l := &s.Latency[i]
		f := func(g func(*SharedLatencyRun) float64) float64 { return median(l.Runs, g) }
		l.Median = SharedLatencyRun{
			OpenSeconds:              f(func(x *SharedLatencyRun) float64 { return x.OpenSeconds }),
			Samples:                  int(f(func(x *SharedLatencyRun) float64 { return float64(x.Samples) })),
			P50:                      f(func(x *SharedLatencyRun) float64 { return x.P50 }),
			P99:                      f(func(x *SharedLatencyRun) float64 { return x.P99 }),
			Max:                      f(func(x *SharedLatencyRun) float64 { return x.Max }),
			Events:                   int64(f(func(x *SharedLatencyRun) float64 { return float64(x.Events) })),
			GatewayCPUPerEventMicros: f(func(x *SharedLatencyRun) float64 { return x.GatewayCPUPerEventMicros }),
			CPU: cpuUse{
				Gateway: f(func(x *SharedLatencyRun) float64 { return x.CPU.Gateway }),
				Backend: f(func(x *SharedLatencyRun) float64 { return x.CPU.Backend }),
				Client:  f(func(x *SharedLatencyRun) float64 { return x.CPU.Client }),
			},
			// The worst run: a browser short in any run is a fault.
			Short:                 int(slices.Max(collect(l.Runs, func(x *SharedLatencyRun) float64 { return float64(x.Short) }))),
			BackendStreamsStarted: int64(f(func(x *SharedLatencyRun) float64 { return float64(x.BackendStreamsStarted) })),
			BackendStreamsOpen:    int64(f(func(x *SharedLatencyRun) float64 { return float64(x.BackendStreamsOpen) })),
			Shared: ShareCounts{
				Upstreams:    int64(f(func(x *SharedLatencyRun) float64 { return float64(x.Shared.Upstreams) })),
				Browsers:     int64(f(func(x *SharedLatencyRun) float64 { return float64(x.Shared.Browsers) })),
				WindowMisses: int64(f(func(x *SharedLatencyRun) float64 { return float64(x.Shared.WindowMisses) })),
			},
		}
	}
}

// collect returns f of each run.
func collect[T any](runs []T, f func(*T) float64) []float64 {
	v := make([]float64, len(runs))
	for i := range runs {
		v[i] = f(&runs[i])
	}
	return v
}

// oneUpstream reports whether, in every run of a shared case with n
// browsers, the backend had exactly one stream open with every browser
// attached, had started one (PER_USER) or one plus an access check per
// browser (PUBLIC), and the gateway counted one shared upstream feeding n
// browsers and no window miss.
func (c *IdleCase) oneUpstream(n int, public bool) bool {
	started := int64(1)
	if public {
		started += int64(n)
	}
	for _, r := range c.Runs {
		if r.BackendStreamsOpen != 1 || r.BackendStreamsStarted != started ||
			r.Shared != (ShareCounts{Upstreams: 1, Browsers: int64(n)}) {
			return false
		}
	}
	return len(c.Runs) > 0
}

// WriteTable writes the report as one markdown table, with a line above it
// that says how and when it was measured.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	runs := fmt.Sprintf("median of %d runs", rep.Settings.Runs)
	if rep.Shared != nil {
		runs += fmt.Sprintf(" (scenario 5: %s)", plural(rep.Settings.SharedRuns, "run"))
	}
	fmt.Fprintf(&b, "ssebench: %d CPUs, %s, %s, load average %.2f before and %.2f after (1 min)",
		rep.CPUs, rep.Go, runs, rep.LoadBefore[0], rep.LoadAfter[0])
	var other []string
	for _, s := range []string{"throughput", "idle", "latency", "connect", "shared"} {
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
	if rep.Shared != nil {
		rep.Shared.rows(row, rep.Settings.SharedQueue)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (s *Shared) rows(row func(scenario, measure, value, target, result string), queue int) {
	// A queue other than the gateway's default is said in every title.
	opts := ""
	if queue > 0 {
		opts = fmt.Sprintf(" (WithShareQueue(%d))", queue)
	}
	for _, si := range s.Idle {
		n := si.Browsers
		scen := fmt.Sprintf("5. Shared upstream%s, %s idle on one request", opts, plural(n, "browser"))
		for j, c := range si.Cases {
			m := c.Median
			sc := sharedIdleCases[j]
			value := fmt.Sprintf("%.2f KiB (heap %.2f, stacks %.2f), %.2f goroutines per browser",
				m.RSSPerStreamKiB, m.HeapPerStreamKiB, m.StackPerStreamKiB, m.GoroutinesPerStream)
			target, result := "", ""
			switch {
			case sc.share != "" && !sc.h2c:
				value = fmt.Sprintf("%+.2f KiB per browser over the floor: ", si.OverFloorKiB[j]) + value
				target = fmt.Sprintf("≤ floor %+g KiB", targetSharedOverFloorKiB)
				result = passFail(si.OverFloorKiB[j] <= targetSharedOverFloorKiB)
			case sc.share != "":
				value += fmt.Sprintf("; %+.2f KiB over the h2c floor", si.OverFloorKiB[j])
				target = fmt.Sprintf("≤ %g KiB", targetSharedH2KiB)
				result = passFail(m.RSSPerStreamKiB <= targetSharedH2KiB)
			}
			row(scen, "gateway RSS, "+sc.name, value, target, result)
			scen = ""
		}
		pub, per := &si.Cases[sharedPublicH1], &si.Cases[sharedPerUserH1]
		counts := func(c *IdleCase) string {
			m := c.Median
			return fmt.Sprintf("%s open, %s started", thousands(float64(m.BackendStreamsOpen)), thousands(float64(m.BackendStreamsStarted)))
		}
		ok := true
		for _, j := range []int{sharedPublicH1, sharedPublicH2C, sharedPerUserH1, sharedPerUserH2C} {
			ok = ok && si.Cases[j].oneUpstream(n, sharedIdleCases[j].share == "public")
		}
		row("", "upstream streams the backend served, browsers attached",
			fmt.Sprintf("PUBLIC: %s (1 shared and an access check per browser, each closed once answered); PER_USER: %s; gateway: %d shared upstream, %s browsers",
				counts(pub), counts(per), pub.Median.Shared.Upstreams, thousands(float64(pub.Median.Shared.Browsers))),
			"1 open, every run", passFail(ok))
	}
	for _, l := range s.Latency {
		m := l.Median
		scen := fmt.Sprintf("5. Shared upstream%s, %s at %d event/s for %.0f s, %s", opts, plural(l.Browsers, "browser"), l.Rate, l.Seconds, l.Case)
		row(scen, "delivery p50, backend send to browser receive", fmt.Sprintf("%.2f ms", m.P50), "", "")
		row("", "delivery p99", fmt.Sprintf("%.2f ms (max %.2f; %s events, %d browsers short of the window)",
			m.P99, m.Max, thousands(float64(m.Samples)), m.Short),
			fmt.Sprintf("≤ %g ms, none short", targetSharedP99Ms), passFail(m.P99 <= targetSharedP99Ms && m.Short == 0))
		row("", "gateway CPU per delivered event", fmt.Sprintf("%.2f µs; cores gateway %.2f, backend %.2f, client %.2f",
			m.GatewayCPUPerEventMicros, m.CPU.Gateway, m.CPU.Backend, m.CPU.Client), "", "")
		// A browser not on the shared upstream has a stream of its own:
		// the figures above would not be those of one upstream.
		ok := len(l.Runs) > 0
		for _, r := range l.Runs {
			ok = ok && r.BackendStreamsOpen == 1 && r.Shared.Upstreams == 1 && r.Shared.Browsers == int64(l.Browsers)
		}
		row("", "browsers on the shared upstream; upstream streams",
			fmt.Sprintf("%s of %s attached (all joined in %.1f s); backend %s open, %s started; gateway %d shared upstream",
				thousands(float64(m.Shared.Browsers)), thousands(float64(l.Browsers)), m.OpenSeconds,
				thousands(float64(m.BackendStreamsOpen)), thousands(float64(m.BackendStreamsStarted)), m.Shared.Upstreams),
			"all attached, 1 open, every run", passFail(ok))
	}
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
