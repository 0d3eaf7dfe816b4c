package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssegate/ssegate/internal/bench/backend"
	"github.com/ssegate/ssegate/internal/bench/procstat"
)

// counter is one stream's message count, alone on its cache line.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

type snapshot struct {
	at         time.Time
	events     int64
	gatewayCPU time.Duration
	backendCPU time.Duration
}

func (h *harness) snapshot(counters []counter, gw *child) (snapshot, error) {
	s := snapshot{at: time.Now()}
	for i := range counters {
		s.events += counters[i].n.Load()
	}
	var err error
	if s.gatewayCPU, err = procstat.CPU(gw.pid()); err != nil {
		return s, err
	}
	s.backendCPU, err = procstat.CPU(h.backend.pid())
	return s, err
}

// throughput runs streams streams of 128-byte messages, as fast as path p
// takes them, and measures a window once every stream is flowing.
func (h *harness) throughput(ctx context.Context, t *target, gw *child, p path, streams int) (PathRate, error) {
	ctx, cancel := context.WithCancel(ctx)
	// Bounded: far more than any path delivers within the window, and
	// the backend ends every stream after max-duration anyway.
	q := query{size: h.set.Size, count: 50_000_000}
	counters := make([]counter, streams)
	ready := make(chan struct{}, streams)
	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		c := &counters[i]
		wg.Go(func() {
			first := true
			err := t.consume(ctx, p, q, false, func(int64) {
				c.n.Add(1)
				if first {
					first = false
					ready <- struct{}{}
				}
			})
			if ctx.Err() == nil {
				if err == nil {
					err = fmt.Errorf("%s: stream ended before the window did", p)
				}
				errs <- err
			}
		})
	}
	defer func() {
		cancel() // ends every stream
		wg.Wait()
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for range streams {
		select {
		case <-ready:
		case err := <-errs:
			return PathRate{}, err
		case <-timeout.C:
			return PathRate{}, fmt.Errorf("%s: streams did not start within 30 s", p)
		case <-ctx.Done():
			return PathRate{}, ctx.Err()
		}
	}
	if err := sleep(ctx, h.set.Warmup); err != nil {
		return PathRate{}, err
	}
	s0, err := h.snapshot(counters, gw)
	if err != nil {
		return PathRate{}, err
	}
	profiled := h.profile(ctx, gw, fmt.Sprintf("cpu-%s-%d.pb.gz", p.slug(), streams),
		fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(h.set.Window.Seconds()))), p != direct)
	if err := sleep(ctx, h.set.Window); err != nil {
		return PathRate{}, err
	}
	s1, err := h.snapshot(counters, gw)
	if err != nil {
		return PathRate{}, err
	}
	if err := profiled(); err != nil {
		return PathRate{}, err
	}
	select {
	case err := <-errs:
		return PathRate{}, err
	default:
	}
	events := float64(s1.events - s0.events)
	if events <= 0 {
		return PathRate{}, fmt.Errorf("%s: no events in the window", p)
	}
	r := PathRate{
		EventsPerSec:         events / s1.at.Sub(s0.at).Seconds(),
		BackendCPUPerMEvents: (s1.backendCPU - s0.backendCPU).Seconds() / events * 1e6,
	}
	if p != direct {
		r.GatewayCPUPerMEvents = (s1.gatewayCPU - s0.gatewayCPU).Seconds() / events * 1e6
	}
	return r, nil
}

// latencies runs streams streams at total messages per second for the
// configured duration and returns, for each message after the first tenth
// of it, receive time minus the backend's send time.
// cpuUse is the CPU each process used during a measurement, in cores.
type cpuUse struct {
	Gateway float64 `json:"gateway"`
	Backend float64 `json:"backend"`
	Client  float64 `json:"client"`
}

// cpuMeter reads the CPU time of the three processes of a measurement.
type cpuMeter struct {
	at                       time.Time
	gateway, backend, client time.Duration
}

func (h *harness) readCPU(gw *child) cpuMeter {
	m := cpuMeter{at: time.Now()}
	m.gateway, _ = procstat.CPU(gw.pid())
	m.backend, _ = procstat.CPU(h.backend.pid())
	m.client, _ = procstat.CPU(os.Getpid())
	return m
}

func (m cpuMeter) since(start cpuMeter) cpuUse {
	wall := m.at.Sub(start.at).Seconds()
	return cpuUse{
		Gateway: (m.gateway - start.gateway).Seconds() / wall,
		Backend: (m.backend - start.backend).Seconds() / wall,
		Client:  (m.client - start.client).Seconds() / wall,
	}
}

func (h *harness) latencies(ctx context.Context, t *target, gw *child, p path, streams int, total float64) ([]time.Duration, int, cpuUse, error) {
	perStream := max(1, int(math.Round(total/float64(streams))))
	count := uint64(max(1, int(float64(perStream)*h.set.LatencyDuration.Seconds())))
	q := query{size: h.set.Size, rate: perStream, count: count}
	ctx, cancel := context.WithTimeout(ctx, h.set.LatencyDuration+30*time.Second)
	defer cancel()
	skipUntil := time.Now().Add(h.set.LatencyDuration / 10).UnixNano()
	cpu0 := h.readCPU(gw)
	profiled := h.profile(ctx, gw, fmt.Sprintf("cpu-latency-%s-%d.pb.gz", p.slug(), streams),
		fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(h.set.LatencyDuration.Seconds()*0.8))), p != direct)
	got := make([][]time.Duration, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			lat := make([]time.Duration, 0, count)
			errs[i] = t.consume(ctx, p, q, true, func(sent int64) {
				if sent >= skipUntil {
					lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
				}
			})
			got[i] = lat
		})
	}
	wg.Wait()
	use := h.readCPU(gw).since(cpu0)
	if err := profiled(); err != nil {
		return nil, 0, use, err
	}
	var all []time.Duration
	for i := range streams {
		if errs[i] != nil {
			return nil, 0, use, fmt.Errorf("%s: %w", p, errs[i])
		}
		all = append(all, got[i]...)
	}
	if len(all) == 0 {
		return nil, 0, use, fmt.Errorf("%s: no messages after the warm-up", p)
	}
	slices.Sort(all)
	return all, perStream * streams, use, nil
}

// connect opens n short streams (one message each), each on a new
// connection, conc at a time, and measures the time to the first byte of
// each response (the gateway commits the headers and a comment at once).
func (h *harness) connect(ctx context.Context, t *target, n, conc int) (ConnectRun, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c := *t
	c.client = newHTTPClient(false, false, false)
	defer c.client.CloseIdleConnections()
	q := query{size: h.set.Size, count: 1}
	ttfb := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				d, err := c.shortStream(ctx, q)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				ttfb[i] = d
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return ConnectRun{}, firstErr
	}
	slices.Sort(ttfb)
	return ConnectRun{
		PerSec:  float64(n) / elapsed.Seconds(),
		TTFBP50: ms(percentile(ttfb, 0.50)),
		TTFBP99: ms(percentile(ttfb, 0.99)),
	}, nil
}

func (t *target) shortStream(ctx context.Context, q query) (time.Duration, error) {
	var first time.Time
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotFirstResponseByte: func() { first = time.Now() },
	})
	start := time.Now()
	resp, err := t.get(ctx, sse, q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	if err := consumeSSE(resp.Body, 64<<10, false, func(int64) { n++ }); err != nil {
		return 0, err
	}
	if n != 1 {
		return 0, fmt.Errorf("short stream: %d messages, want 1", n)
	}
	return first.Sub(start), nil
}

// idleCase is one way of holding idle streams open in the gateway process.
type idleCase struct {
	name  string // in the table and the JSON
	slug  string // in profile file names
	path  string // "": the bench stream through ssegate
	h2c   bool
	share string // "public" or "per-user": the gateway shares the bench stream (serve-gateway -share)
}

var idleCases = []idleCase{
	{name: "ssegate SSE, HTTP/1.1", slug: "h1"},
	{name: "ssegate SSE over HTTP/2 (h2c, shared connections)", slug: "h2c", h2c: true},
	{name: "floor: net/http alone, a handler that commits and waits", slug: "floor-http", path: "/floor/http"},
	{name: "floor: net/http + a gRPC upstream stream and its reader goroutine, no ssegate", slug: "floor-grpc", path: "/floor/grpc"},
}

// idle opens n idle streams through a fresh gateway and reads its memory
// and goroutines before, while open, and after all closed, and the streams
// the backend served meanwhile. Its profiles are named after slug.
func (h *harness) idle(ctx context.Context, n int, c idleCase, slug string) (IdleRun, error) {
	args := []string{"-heartbeat", "1h"}
	gw, err := h.startGateway(ctx, append(args, h.shareArgs(c)...)...)
	if err != nil {
		return IdleRun{}, err
	}
	defer h.stopChild(gw)
	t := h.target(gw)
	t.client = newHTTPClient(true, true, c.h2c)
	defer t.client.CloseIdleConnections()
	dbg := debugClient{addr: gw.addr}
	run := IdleRun{Streams: n, Case: c.name}
	url := t.url(sse, query{idle: true})
	if c.path != "" {
		url = "http://" + gw.addr + c.path
	}

	base, err := dbg.read(ctx, gw, h.backend)
	if err != nil {
		return run, err
	}
	baseCounts, err := backend.ReadCounts(ctx, h.direct.backend)
	if err != nil {
		return run, err
	}
	streamCtx, closeAll := context.WithCancel(ctx)
	defer closeAll()
	resps := make([]*http.Response, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range min(n, 64) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || streamCtx.Err() != nil {
					return
				}
				resp, err := t.getURL(streamCtx, url, "text/event-stream", c.name)
				if err == nil {
					// The ": ok" comment comes with the headers.
					var b [8]byte
					_, err = resp.Body.Read(b[:])
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("opening idle stream %d: %w", i, err); closeAll() })
					return
				}
				resps[i] = resp
			}
		})
	}
	wg.Wait()
	run.OpenSeconds = time.Since(start).Seconds()
	if firstErr != nil {
		return run, firstErr
	}
	if err := sleep(ctx, h.set.Settle); err != nil {
		return run, err
	}
	if run.OpenRSSNoGC, err = procstat.RSS(gw.pid()); err != nil {
		return run, err
	}
	open, err := dbg.read(ctx, gw, h.backend)
	if err != nil {
		return run, err
	}
	openCounts, err := backend.ReadCounts(ctx, h.direct.backend)
	if err != nil {
		return run, err
	}
	run.BackendStreamsStarted = openCounts.Started - baseCounts.Started
	run.BackendStreamsOpen = openCounts.Open - baseCounts.Open
	if c.share != "" {
		if run.Shared, err = dbg.shared(ctx); err != nil {
			return run, err
		}
	}
	proto := slug
	if err := h.profile(ctx, gw, "idle-heap-"+proto+".pb.gz", "/debug/pprof/heap", true)(); err != nil {
		return run, err
	}
	if err := h.profile(ctx, gw, "idle-goroutines-"+proto+".txt", "/debug/pprof/goroutine?debug=1", true)(); err != nil {
		return run, err
	}

	closeAll()
	for _, r := range resps {
		if r != nil {
			r.Body.Close()
		}
	}
	t.client.CloseIdleConnections()
	// The gateway notices each close by itself; wait (bounded) until its
	// goroutines are back near where they started.
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, err := dbg.goroutines(ctx)
		if err != nil {
			return run, err
		}
		if g <= base.goroutines+idleSlack || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return run, err
		}
	}
	closed, err := dbg.read(ctx, gw, h.backend)
	if err != nil {
		return run, err
	}
	if err := h.profile(ctx, gw, "idle-heap-closed-"+proto+".pb.gz", "/debug/pprof/heap", true)(); err != nil {
		return run, err
	}
	run.BaselineRSS, run.OpenRSS, run.ClosedRSS = base.rss, open.rss, closed.rss
	run.BaselineGoroutines, run.OpenGoroutines, run.ClosedGoroutines = base.goroutines, open.goroutines, closed.goroutines
	run.RSSPerStreamKiB = float64(open.rss-base.rss) / float64(n) / 1024
	run.GoroutinesPerStream = float64(open.goroutines-base.goroutines) / float64(n)
	run.HeapPerStreamKiB = float64(open.mem.HeapInuse-base.mem.HeapInuse) / float64(n) / 1024
	run.StackPerStreamKiB = float64(open.mem.StackInuse-base.mem.StackInuse) / float64(n) / 1024
	run.BackendRSSPerStreamKiB = float64(open.backendRSS-base.backendRSS) / float64(n) / 1024
	run.ClosedRSSOverBaselineKiB = float64(closed.rss-base.rss) / 1024
	run.ClosedHeapOverBaselineKiB = float64(closed.mem.HeapInuse-base.mem.HeapInuse) / 1024
	run.ClosedStackOverBaselineKiB = float64(closed.mem.StackInuse-base.mem.StackInuse) / 1024
	return run, nil
}

// idleSlack is how many goroutines over the baseline still count as back
// at baseline after all streams closed (idle keep-alive connections of
// the debug client and the like).
const idleSlack = 5

type gatewayState struct {
	rss, backendRSS int64
	goroutines      int
	mem             memStats
}

type memStats struct {
	HeapInuse  int64 `json:"heapInuse"`
	StackInuse int64 `json:"stackInuse"`
}

// debugClient reaches the gateway process's /debug/ endpoints.
type debugClient struct{ addr string }

// read forces a GC in the gateway, which also returns freed memory to the
// OS, and then reads its RSS, goroutines and memory statistics.
func (d debugClient) read(ctx context.Context, gw, backend *child) (gatewayState, error) {
	var s gatewayState
	if _, err := d.do(ctx, http.MethodPost, "/debug/gc"); err != nil {
		return s, err
	}
	var err error
	if s.rss, err = procstat.RSS(gw.pid()); err != nil {
		return s, err
	}
	if s.backendRSS, err = procstat.RSS(backend.pid()); err != nil {
		return s, err
	}
	if s.goroutines, err = d.goroutines(ctx); err != nil {
		return s, err
	}
	b, err := d.do(ctx, http.MethodGet, "/debug/mem")
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s.mem)
}

// shared reads the gateway's shared upstreams and their browsers.
func (d debugClient) shared(ctx context.Context) (ShareCounts, error) {
	var c ShareCounts
	b, err := d.do(ctx, http.MethodGet, "/debug/shared")
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

func (d debugClient) goroutines(ctx context.Context) (int, error) {
	b, err := d.do(ctx, http.MethodGet, "/debug/goroutines")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

var debugHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func (d debugClient) do(ctx context.Context, method, p string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+d.addr+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := debugHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: %s", method, p, resp.Status)
	}
	return b, err
}

// profile fetches a pprof profile from the gateway into the profile
// directory, when one is set and when is true, in the background; the
// returned function waits for it.
func (h *harness) profile(ctx context.Context, gw *child, name, p string, when bool) func() error {
	if h.set.ProfileDir == "" || !when {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		b, err := debugClient{addr: gw.addr}.do(ctx, http.MethodGet, p)
		if err == nil {
			err = os.WriteFile(filepath.Join(h.set.ProfileDir, name), b, 0o644)
		}
		done <- err
	}()
	return func() error { return <-done }
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// percentile returns the q-quantile of sorted d (nearest rank).
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
