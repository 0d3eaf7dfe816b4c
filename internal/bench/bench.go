// Package bench is the ssebench tool: it measures the ssegate gateway side
// by side with its alternatives, on this machine, with every process on
// loopback.
//
// `ssebench run` starts a BenchService backend and gateway processes by
// re-executing its own binary (`ssebench serve-backend`, `ssebench
// serve-gateway`), so that the gateway's memory and CPU time are read for
// that process alone, from /proc; it then drives load from its own process
// with a gRPC client, a lean SSE reader and an NDJSON reader, and prints one
// markdown table (JSON beside it). Scenarios:
//
//  1. throughput of 128-byte messages, 1 and 100 streams: direct gRPC,
//     ssegate SSE, grpc-gateway's generated NDJSON handler, and ssegate's
//     NDJSON fallback;
//  2. memory and goroutines of 10,000 idle streams, and after they close;
//  3. latency the gateway adds at half the SSE peak rate;
//  4. new streams per second and time to first byte;
//  5. browsers on one shared upstream: memory and goroutines of 1,000 and
//     10,000 idle ones against net/http's floor, the upstream streams the
//     backend served, and delivery latency at 10,000 browsers.
//
// Every figure is the median of several runs; every ratio is taken within
// one run.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/internal/bench/procstat"
)

// Settings are the knobs of one run; Smoke sets tiny ones.
type Settings struct {
	Runs            int           `json:"runs"`
	Size            int           `json:"size"`
	Streams         []int         `json:"streams"`
	Warmup          time.Duration `json:"warmup"`
	Window          time.Duration `json:"window"`
	IdleStreams     int           `json:"idleStreams"`
	Settle          time.Duration `json:"settle"`
	LatencyDuration time.Duration `json:"latencyDuration"`
	// LatencyLoad is the rate of the latency scenario as a fraction of the
	// SSE peak: 0.5, half load, by default.
	LatencyLoad        float64 `json:"latencyLoad"`
	ConnectStreams     int     `json:"connectStreams"`
	ConnectConcurrency int     `json:"connectConcurrency"`
	// Scenario 5, shared upstreams: SharedRuns runs of idle browsers at
	// each count of SharedBrowsers, and of SharedLatencyBrowsers browsers
	// at SharedRate events per second, measured for SharedDuration.
	SharedRuns            int           `json:"sharedRuns"`
	SharedBrowsers        []int         `json:"sharedBrowsers"`
	SharedLatencyBrowsers int           `json:"sharedLatencyBrowsers"`
	SharedRate            int           `json:"sharedRate"`
	SharedDuration        time.Duration `json:"sharedDuration"`
	// SharedQueue, when positive, sets the gateway's queue per browser of
	// a shared upstream (gateway.WithShareQueue) instead of its default:
	// to see what the queue costs.
	SharedQueue int   `json:"sharedQueue,omitempty"`
	Scenarios   []int `json:"scenarios"`
	Smoke       bool  `json:"smoke"`
	// ProfileDir, when set, receives pprof profiles of the gateway: CPU
	// during each throughput window, heap and goroutines with the idle
	// streams open.
	ProfileDir string `json:"profileDir,omitempty"`
}

// DefaultSettings are those of `make bench`.
func DefaultSettings() Settings {
	return Settings{
		Runs: 5, Size: 128, Streams: []int{1, 100},
		Warmup: 300 * time.Millisecond, Window: 2 * time.Second,
		IdleStreams: 10_000, Settle: 500 * time.Millisecond,
		LatencyDuration: 2 * time.Second, LatencyLoad: 0.5,
		ConnectStreams: 2000, ConnectConcurrency: 8,
		// One run of scenario 5 takes minutes: 10,000 browsers joined
		// twelve times, and two 30 s windows.
		SharedRuns: 1, SharedBrowsers: []int{1000, 10_000},
		SharedLatencyBrowsers: 10_000, SharedRate: 1, SharedDuration: 30 * time.Second,
		Scenarios: []int{1, 2, 3, 4, 5},
	}
}

// SmokeSettings run every scenario in seconds, to check the tool works.
func SmokeSettings() Settings {
	s := DefaultSettings()
	s.Runs = 1
	s.Streams = []int{1, 10}
	s.Warmup, s.Window = 50*time.Millisecond, 200*time.Millisecond
	s.IdleStreams, s.Settle = 50, 50*time.Millisecond
	s.LatencyDuration = 300 * time.Millisecond
	s.ConnectStreams, s.ConnectConcurrency = 50, 4
	s.SharedRuns, s.SharedBrowsers = 1, []int{20}
	s.SharedLatencyBrowsers, s.SharedDuration = 20, 3*time.Second
	s.Smoke = true
	return s
}

var commands = []string{"run", "serve-backend", "serve-gateway"}

// IsCommand reports whether name is one of the tool's subcommands; a test
// binary that re-executes itself as the tool checks its first argument.
func IsCommand(name string) bool { return slices.Contains(commands, name) }

const usage = `usage:
  ssebench run [flags]        run the scenarios, print a markdown table, write JSON
  ssebench serve-backend      (started by run) the bench gRPC backend
  ssebench serve-gateway      (started by run) the gateway under test
Run "ssebench run -h" for the flags.
`

// Main runs the tool with args (without the program name) and returns the
// process exit code. SIGINT and SIGTERM stop it cleanly.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || !IsCommand(args[0]) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "ssebench: raising the open file limit:", err)
	}
	var err error
	switch args[0] {
	case "run":
		err = runCommand(ctx, args[1:], stdout, stderr)
	case "serve-backend":
		err = serveBackend(untilStdinCloses(ctx, os.Stdin), args[1:], stdout, stderr)
	case "serve-gateway":
		err = serveGateway(untilStdinCloses(ctx, os.Stdin), args[1:], stdout, stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ssebench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smoke := fs.Bool("smoke", false, "tiny sizes, one run: checks that every scenario works, in seconds")
	out := fs.String("out", "bench-results.json", "where to write the JSON results")
	def := DefaultSettings()
	runs := fs.Int("runs", def.Runs, "runs per figure; each figure is their median")
	size := fs.Int("size", def.Size, "payload bytes per message")
	streams := fs.String("streams", "", "concurrent streams of the throughput and latency scenarios (default 1,100)")
	window := fs.Duration("window", def.Window, "throughput measuring window")
	idle := fs.Int("idle-streams", def.IdleStreams, "idle streams held open at once")
	latDur := fs.Duration("latency-duration", def.LatencyDuration, "length of each latency measurement")
	latLoad := fs.Float64("latency-load", def.LatencyLoad, "rate of the latency scenario, as a fraction of the SSE peak")
	conn := fs.Int("connect-streams", def.ConnectStreams, "streams opened in the connect scenario")
	conc := fs.Int("connect-concurrency", def.ConnectConcurrency, "streams opened at a time")
	sharedRuns := fs.Int("shared-runs", def.SharedRuns, "runs of the shared scenario (5); each figure is their median")
	sharedBrowsers := fs.String("shared-browsers", "", "idle browsers on one shared upstream, each count measured (default 1000,10000)")
	sharedLatBrowsers := fs.Int("shared-latency-browsers", def.SharedLatencyBrowsers, "browsers on one shared upstream in the latency run")
	sharedRate := fs.Int("shared-rate", def.SharedRate, "events per second of the shared upstream in the latency run")
	sharedDur := fs.Duration("shared-duration", def.SharedDuration, "measuring window of the shared latency run")
	sharedQueue := fs.Int("shared-queue", 0, "the gateway's queue per browser of a shared upstream in scenario 5 (its default when 0)")
	scen := fs.String("scenarios", "1,2,3,4,5", "scenarios to run")
	profDir := fs.String("pprof", "", "directory to write the gateway's pprof profiles to (none when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := def
	if *smoke {
		set = SmokeSettings()
	}
	// Flags given explicitly override the defaults and the smoke settings.
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "runs":
			set.Runs = *runs
		case "size":
			set.Size = *size
		case "streams":
			set.Streams, err = parseInts(*streams)
		case "window":
			set.Window = *window
		case "idle-streams":
			set.IdleStreams = *idle
		case "latency-duration":
			set.LatencyDuration = *latDur
		case "latency-load":
			set.LatencyLoad = *latLoad
		case "connect-streams":
			set.ConnectStreams = *conn
		case "connect-concurrency":
			set.ConnectConcurrency = *conc
		case "shared-runs":
			set.SharedRuns = *sharedRuns
		case "shared-browsers":
			set.SharedBrowsers, err = parseInts(*sharedBrowsers)
		case "shared-latency-browsers":
			set.SharedLatencyBrowsers = *sharedLatBrowsers
		case "shared-rate":
			set.SharedRate = *sharedRate
		case "shared-duration":
			set.SharedDuration = *sharedDur
		case "shared-queue":
			set.SharedQueue = *sharedQueue
		}
	})
	if err != nil {
		return err
	}
	if set.Scenarios, err = parseInts(*scen); err != nil {
		return err
	}
	if set.ProfileDir = *profDir; set.ProfileDir != "" {
		if err := os.MkdirAll(set.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	if set.Runs < 1 || set.Size < 0 || set.Window <= 0 || set.IdleStreams < 1 || set.LatencyDuration <= 0 || set.LatencyLoad <= 0 ||
		set.ConnectStreams < 1 || set.ConnectConcurrency < 1 || len(set.Streams) == 0 || slices.Min(set.Streams) < 1 ||
		set.SharedRuns < 1 || len(set.SharedBrowsers) == 0 || slices.Min(set.SharedBrowsers) < 1 ||
		set.SharedLatencyBrowsers < 1 || set.SharedRate < 1 || set.SharedDuration <= 0 || set.SharedQueue < 0 {
		return errors.New("every count and duration must be positive")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	h := &harness{set: set, exe: exe, log: stderr}
	rep, err := h.run(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return rep.WriteTable(stdout)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("not a list of numbers: %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// harness runs the scenarios against the processes it starts.
type harness struct {
	set     Settings
	exe     string
	log     io.Writer
	backend *child
	direct  *target // the backend connection, shared by every target
	stopErr []error
	live    map[*child]bool // started and not yet stopped
}

// others measures the CPU that processes other than this one and its
// children used: the machine is shared, and their load skews every figure.
type others struct {
	at         time.Time
	busy, ours time.Duration
}

func (h *harness) others() others {
	o := others{at: time.Now()}
	o.busy, _ = procstat.Busy()
	// Children already stopped were waited for: their time is in ours.
	o.ours, _ = procstat.CPUWithChildren(os.Getpid())
	for c := range h.live {
		t, _ := procstat.CPU(c.pid())
		o.ours += t
	}
	return o
}

// cores returns the cores other processes used on average since start.
func (o others) since(start others) float64 {
	wall := o.at.Sub(start.at).Seconds()
	return max(0, ((o.busy-start.busy)-(o.ours-start.ours)).Seconds()/wall)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "ssebench: "+format+"\n", args...)
}

func (h *harness) has(scenario int) bool { return slices.Contains(h.set.Scenarios, scenario) }

func (h *harness) run(ctx context.Context) (rep *Report, err error) {
	started := time.Now()
	rep = &Report{Started: started, Settings: h.set, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	rep.LoadBefore, _ = procstat.LoadAvg()
	h.logf("load average %.2f %.2f %.2f", rep.LoadBefore[0], rep.LoadBefore[1], rep.LoadBefore[2])

	h.live = map[*child]bool{}
	if h.backend, err = startChild(ctx, h.exe, "backend", h.log, "serve-backend", "-addr", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	h.live[h.backend] = true
	defer func() {
		// A child that exited badly (a panic, a race report) fails the run.
		h.stopChild(h.backend)
		err = errors.Join(append([]error{err}, h.stopErr...)...)
	}()
	conn, err := dialBackend(h.backend.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	h.direct = &target{backend: conn}

	rep.OtherCores = map[string]float64{}
	measure := func(name string, f func() error) error {
		start := h.others()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.OtherCores[name] = h.others().since(start)
		h.logf("%s: other processes used %.2f cores on average", name, rep.OtherCores[name])
		return nil
	}
	peak := map[int]float64{}
	if h.has(1) {
		err = measure("throughput", func() (err error) {
			rep.Throughput, err = h.scenarioThroughput(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, t := range rep.Throughput {
			peak[t.Streams] = t.Median.SSE.EventsPerSec
		}
	}
	if h.has(2) {
		err = measure("idle", func() (err error) {
			rep.Idle, err = h.scenarioIdle(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if h.has(3) {
		err = measure("latency", func() (err error) {
			rep.Latency, err = h.scenarioLatency(ctx, peak)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if h.has(4) {
		err = measure("connect", func() (err error) {
			rep.Connect, err = h.scenarioConnect(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if h.has(5) {
		err = measure("shared", func() (err error) {
			rep.Shared, err = h.scenarioShared(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	rep.LoadAfter, _ = procstat.LoadAvg()
	rep.Seconds = time.Since(started).Seconds()
	h.logf("load average %.2f %.2f %.2f; %.0f s", rep.LoadAfter[0], rep.LoadAfter[1], rep.LoadAfter[2], rep.Seconds)
	return rep, nil
}

func (h *harness) startGateway(ctx context.Context, extra ...string) (*child, error) {
	args := append([]string{"serve-gateway", "-addr", "127.0.0.1:0", "-backend", h.backend.addr}, extra...)
	c, err := startChild(ctx, h.exe, "gateway", h.log, args...)
	if err == nil {
		h.live[c] = true
	}
	return c, err
}

func (h *harness) stopChild(c *child) {
	delete(h.live, c)
	if err := c.stop(); err != nil {
		h.stopErr = append(h.stopErr, err)
	}
}

func (h *harness) target(gw *child) *target {
	t := *h.direct
	t.gateway = gw.addr
	t.client = newHTTPClient(true, false, false)
	return &t
}

func (h *harness) scenarioThroughput(ctx context.Context) ([]Throughput, error) {
	gw, err := h.startGateway(ctx)
	if err != nil {
		return nil, err
	}
	defer h.stopChild(gw)
	t := h.target(gw)
	out := make([]Throughput, len(h.set.Streams))
	for i, n := range h.set.Streams {
		out[i].Streams = n
	}
	for run := range h.set.Runs {
		for i, n := range h.set.Streams {
			var r ThroughputRun
			for _, p := range []path{direct, sse, ndjson, fallback} {
				rate, err := h.throughput(ctx, t, gw, p, n)
				if err != nil {
					return nil, err
				}
				h.logf("throughput run %d/%d, %d streams: %s %s events/s, gateway %.2f s/M events",
					run+1, h.set.Runs, n, p, thousands(rate.EventsPerSec), rate.GatewayCPUPerMEvents)
				switch p {
				case direct:
					r.Direct = rate
				case sse:
					r.SSE = rate
				case ndjson:
					r.NDJSON = rate
				case fallback:
					r.Fallback = rate
				}
			}
			r.SSEOverNDJSON = r.SSE.EventsPerSec / r.NDJSON.EventsPerSec
			r.SSEOverDirect = r.SSE.EventsPerSec / r.Direct.EventsPerSec
			out[i].Runs = append(out[i].Runs, r)
		}
		t.client.CloseIdleConnections()
	}
	for i := range out {
		out[i].finish()
	}
	return out, nil
}

func (h *harness) scenarioIdle(ctx context.Context) (*Idle, error) {
	res := &Idle{}
	res.Others = make([]IdleCase, len(idleCases)-1)
	for run := range h.set.Runs {
		for i, c := range idleCases {
			r, err := h.idle(ctx, h.set.IdleStreams, c, c.slug)
			if err != nil {
				return nil, err
			}
			h.logf("idle run %d/%d, %s: %d streams opened in %.1f s: %.1f KiB and %.2f goroutines per stream; after close RSS %+.0f KiB, goroutines %+d",
				run+1, h.set.Runs, c.name, r.Streams, r.OpenSeconds, r.RSSPerStreamKiB, r.GoroutinesPerStream,
				r.ClosedRSSOverBaselineKiB, r.ClosedGoroutines-r.BaselineGoroutines)
			if i == 0 {
				res.Runs = append(res.Runs, r)
			} else {
				res.Others[i-1].Runs = append(res.Others[i-1].Runs, r)
			}
		}
	}
	res.finish()
	return res, nil
}

func (h *harness) scenarioLatency(ctx context.Context, peak map[int]float64) ([]Latency, error) {
	gw, err := h.startGateway(ctx)
	if err != nil {
		return nil, err
	}
	defer h.stopChild(gw)
	t := h.target(gw)
	out := make([]Latency, len(h.set.Streams))
	for i, n := range h.set.Streams {
		if peak[n] == 0 { // scenario 1 was not run: measure the peak once
			r, err := h.throughput(ctx, t, gw, sse, n)
			if err != nil {
				return nil, err
			}
			peak[n] = r.EventsPerSec
		}
		out[i] = Latency{Streams: n, Rate: peak[n] * h.set.LatencyLoad}
	}
	for run := range h.set.Runs {
		for i := range out {
			l := &out[i]
			d, _, directCPU, err := h.latencies(ctx, t, gw, direct, l.Streams, l.Rate)
			if err != nil {
				return nil, err
			}
			s, sent, sseCPU, err := h.latencies(ctx, t, gw, sse, l.Streams, l.Rate)
			if err != nil {
				return nil, err
			}
			r := LatencyRun{
				Messages: sent, DirectCPU: directCPU, SSECPU: sseCPU,
				DirectP50: ms(percentile(d, 0.50)), DirectP99: ms(percentile(d, 0.99)),
				SSEP50: ms(percentile(s, 0.50)), SSEP99: ms(percentile(s, 0.99)),
			}
			r.AddedP50, r.AddedP99 = r.SSEP50-r.DirectP50, r.SSEP99-r.DirectP99
			h.logf("latency run %d/%d, %d streams at %s/s: added p50 %.3f ms, p99 %.3f ms (SSE %.3f/%.3f, direct %.3f/%.3f); "+
				"cores used by gateway/backend/client: SSE %.2f/%.2f/%.2f, direct %.2f/%.2f",
				run+1, h.set.Runs, l.Streams, thousands(l.Rate), r.AddedP50, r.AddedP99, r.SSEP50, r.SSEP99, r.DirectP50, r.DirectP99,
				sseCPU.Gateway, sseCPU.Backend, sseCPU.Client, directCPU.Backend, directCPU.Client)
			l.Runs = append(l.Runs, r)
		}
	}
	for i := range out {
		out[i].finish()
	}
	return out, nil
}

func (h *harness) scenarioConnect(ctx context.Context) (*Connect, error) {
	gw, err := h.startGateway(ctx)
	if err != nil {
		return nil, err
	}
	defer h.stopChild(gw)
	t := h.target(gw)
	res := &Connect{Streams: h.set.ConnectStreams, Concurrency: h.set.ConnectConcurrency}
	for run := range h.set.Runs {
		r, err := h.connect(ctx, t, h.set.ConnectStreams, h.set.ConnectConcurrency)
		if err != nil {
			return nil, err
		}
		h.logf("connect run %d/%d: %s streams/s, TTFB p50 %.2f ms, p99 %.2f ms", run+1, h.set.Runs, thousands(r.PerSec), r.TTFBP50, r.TTFBP99)
		res.Runs = append(res.Runs, r)
	}
	res.finish()
	return res, nil
}
