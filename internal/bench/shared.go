package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssegate/ssegate/internal/bench/backend"
)

// Scenario 5: browsers that make the same request share one upstream
// stream (gateway.WithShare). Idle, at each count of SharedBrowsers, over
// HTTP/1.1 and h2c, against net/http's floor measured alongside; then
// SharedLatencyBrowsers browsers at SharedRate events per second.

// sharedIdleCases are measured at each browser count, in this order. The
// floor is scenario 2's (/floor/http), at the same count.
var sharedIdleCases = []idleCase{
	{name: "shared, PUBLIC, HTTP/1.1", slug: "public-h1", share: "public"},
	{name: "shared, PUBLIC, HTTP/2 (h2c)", slug: "public-h2c", share: "public", h2c: true},
	{name: "shared, PER_USER (no user), HTTP/1.1", slug: "per-user-h1", share: "per-user"},
	{name: "shared, PER_USER (no user), HTTP/2 (h2c)", slug: "per-user-h2c", share: "per-user", h2c: true},
	{name: "floor: net/http alone, HTTP/1.1", slug: "floor-http-h1", path: "/floor/http"},
	{name: "floor: net/http alone, HTTP/2 (h2c)", slug: "floor-http-h2c", path: "/floor/http", h2c: true},
}

// sharedLatencyCases are the latency measurements: the reported share mode
// (PUBLIC: the bench backend knows no users), over each protocol.
var sharedLatencyCases = []idleCase{
	{name: "PUBLIC, HTTP/1.1", slug: "public-h1", share: "public"},
	{name: "PUBLIC, HTTP/2 (h2c)", slug: "public-h2c", share: "public", h2c: true},
}

// Bounds of one latency run: joining every browser, and waiting after the
// window for each browser to see an event sent after it.
const (
	sharedJoinTimeout = 2 * time.Minute
	sharedEndTimeout  = 15 * time.Second
)

// shareArgs are serve-gateway's flags for case c: none unless it shares.
func (h *harness) shareArgs(c idleCase) []string {
	if c.share == "" {
		return nil
	}
	args := []string{"-share", c.share}
	if h.set.SharedQueue > 0 {
		args = append(args, "-share-queue", strconv.Itoa(h.set.SharedQueue))
	}
	return args
}

func (h *harness) scenarioShared(ctx context.Context) (*Shared, error) {
	res := &Shared{}
	for _, n := range h.set.SharedBrowsers {
		res.Idle = append(res.Idle, SharedIdle{Browsers: n, Cases: make([]IdleCase, len(sharedIdleCases))})
	}
	for _, c := range sharedLatencyCases {
		res.Latency = append(res.Latency, SharedLatency{
			Browsers: h.set.SharedLatencyBrowsers, Case: c.name,
			Rate: h.set.SharedRate, Seconds: h.set.SharedDuration.Seconds(),
		})
	}
	for run := range h.set.SharedRuns {
		for i, n := range h.set.SharedBrowsers {
			for j, c := range sharedIdleCases {
				r, err := h.idle(ctx, n, c, fmt.Sprintf("shared-%s-%d", c.slug, n))
				if err != nil {
					return nil, fmt.Errorf("%s, %d browsers: %w", c.name, n, err)
				}
				h.logf("shared idle run %d/%d, %d browsers, %s: opened in %.1f s: %.2f KiB and %.2f goroutines per browser; "+
					"backend streams started %d, open %d; gateway: %d shared upstreams, %d browsers, %d window misses",
					run+1, h.set.SharedRuns, n, c.name, r.OpenSeconds, r.RSSPerStreamKiB, r.GoroutinesPerStream,
					r.BackendStreamsStarted, r.BackendStreamsOpen, r.Shared.Upstreams, r.Shared.Browsers, r.Shared.WindowMisses)
				res.Idle[i].Cases[j].Runs = append(res.Idle[i].Cases[j].Runs, r)
			}
		}
		for i, c := range sharedLatencyCases {
			r, err := h.sharedLatency(ctx, c, h.set.SharedLatencyBrowsers)
			if err != nil {
				return nil, fmt.Errorf("shared latency, %s: %w", c.name, err)
			}
			h.logf("shared latency run %d/%d, %d browsers at %d/s, %s: joined in %.1f s; delivery p50 %.2f ms, p99 %.2f ms, max %.2f ms "+
				"over %d events; gateway %.1f µs CPU per delivered event; cores gateway/backend/client %.2f/%.2f/%.2f; "+
				"%d browsers short of the window; backend streams started %d, open %d",
				run+1, h.set.SharedRuns, h.set.SharedLatencyBrowsers, h.set.SharedRate, c.name, r.OpenSeconds, r.P50, r.P99, r.Max,
				r.Samples, r.GatewayCPUPerEventMicros, r.CPU.Gateway, r.CPU.Backend, r.CPU.Client,
				r.Short, r.BackendStreamsStarted, r.BackendStreamsOpen)
			res.Latency[i].Runs = append(res.Latency[i].Runs, r)
		}
	}
	res.finish()
	return res, nil
}

// sharedLatency attaches n browsers to one shared upstream sending rate
// events per second, then measures, for the events the backend sent in a
// window of SharedDuration, receive time minus send time at every browser,
// and the gateway's CPU per event delivered in the window.
func (h *harness) sharedLatency(ctx context.Context, c idleCase, n int) (SharedLatencyRun, error) {
	var run SharedLatencyRun
	base, err := backend.ReadCounts(ctx, h.direct.backend)
	if err != nil {
		return run, err
	}
	gw, err := h.startGateway(ctx, h.shareArgs(c)...)
	if err != nil {
		return run, err
	}
	defer h.stopChild(gw)
	t := h.target(gw)
	t.client = newHTTPClient(true, true, c.h2c)
	defer t.client.CloseIdleConnections()
	window := h.set.SharedDuration
	// Enough events to outlast the joins, the window and the wait for its
	// end: the browsers leave first, and the backend's max duration ends
	// the stream anyway.
	count := uint64(math.Ceil(float64(h.set.SharedRate) * (sharedJoinTimeout + window + sharedEndTimeout + 10*time.Second).Seconds()))
	q := query{size: h.set.Size, rate: h.set.SharedRate, count: count}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Events sent in [from, until) are measured; until then nothing is.
	var from, until atomic.Int64
	from.Store(math.MaxInt64)
	until.Store(math.MaxInt64)
	var delivered, past atomic.Int64 // events received; browsers that saw an event sent at or after until
	samples := make([][]time.Duration, n)
	errs := make([]error, n)
	var readers sync.WaitGroup
	read := func(i int, resp *http.Response) {
		defer resp.Body.Close()
		lat := make([]time.Duration, 0, int(window.Seconds()*float64(h.set.SharedRate))+2)
		seen := false
		err := consumeSSE(resp.Body, 4<<10, true, func(sent int64) {
			now := time.Now().UnixNano()
			delivered.Add(1)
			switch {
			case sent >= until.Load():
				if !seen {
					seen = true
					past.Add(1)
				}
			case sent >= from.Load():
				lat = append(lat, time.Duration(now-sent))
			}
		})
		samples[i] = lat
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("stream ended")
			}
			errs[i] = err // evicted, or the upstream ended early
		}
	}

	joinCtx, joined := context.WithTimeout(ctx, sharedJoinTimeout)
	defer joined()
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var openers sync.WaitGroup
	for range min(n, 64) {
		openers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || joinCtx.Err() != nil {
					return
				}
				// The response's headers come once the browser is attached.
				resp, err := t.get(joinCtx, sse, q)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("opening browser %d: %w", i, err); joined() })
					return
				}
				readers.Go(func() { read(i, resp) })
			}
		})
	}
	openers.Wait()
	defer func() {
		cancel() // every browser leaves
		readers.Wait()
	}()
	run.OpenSeconds = time.Since(start).Seconds()
	if firstErr != nil {
		return run, firstErr
	}
	if err := joinCtx.Err(); err != nil {
		return run, fmt.Errorf("joining %d browsers: %w", n, err)
	}

	// Every browser is attached: each gets every event sent from now on.
	t0 := time.Now()
	from.Store(t0.UnixNano())
	until.Store(t0.Add(window).UnixNano())
	cpu0, d0 := h.readCPU(gw), delivered.Load()
	profiled := h.profile(ctx, gw, "cpu-shared-latency-"+c.slug+".pb.gz",
		fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(window.Seconds()*0.8))), true)
	if err := sleep(ctx, window); err != nil {
		return run, err
	}
	cpu1, d1 := h.readCPU(gw), delivered.Load()
	if err := profiled(); err != nil {
		return run, err
	}
	// Read at the window's end, every browser still attached: the last
	// access checks (PUBLIC) have long been answered and closed by then.
	counts, err := backend.ReadCounts(ctx, h.direct.backend)
	if err != nil {
		return run, err
	}
	run.BackendStreamsStarted = counts.Started - base.Started
	run.BackendStreamsOpen = counts.Open - base.Open
	if run.Shared, err = (debugClient{addr: gw.addr}).shared(ctx); err != nil {
		return run, err
	}
	// Events come in order: a browser that saw one sent after the window
	// has had all of the window's.
	deadline := time.Now().Add(time.Duration(float64(time.Second)/float64(h.set.SharedRate)) + sharedEndTimeout)
	for past.Load() < int64(n) && time.Now().Before(deadline) {
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return run, err
		}
	}
	cancel()
	readers.Wait()

	run.CPU = cpu1.since(cpu0)
	run.Events = d1 - d0
	if run.Events > 0 {
		run.GatewayCPUPerEventMicros = float64(cpu1.gateway-cpu0.gateway) / float64(time.Microsecond) / float64(run.Events)
	}
	run.Short = n - int(past.Load())
	var lost error
	var all []time.Duration
	for i := range n {
		all = append(all, samples[i]...)
		if errs[i] != nil && lost == nil {
			lost = errs[i]
		}
	}
	if lost != nil {
		h.logf("shared latency, %s: a browser's stream ended early (evicted?): %v", c.name, lost)
	}
	if len(all) == 0 {
		return run, errors.New("no events in the window")
	}
	slices.Sort(all)
	run.Samples = len(all)
	run.P50, run.P99, run.Max = ms(percentile(all, 0.50)), ms(percentile(all, 0.99)), ms(all[len(all)-1])
	return run, nil
}
