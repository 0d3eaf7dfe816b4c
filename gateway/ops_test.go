package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	"github.com/ssegate/ssegate/internal/ssetest"
)

// retryOf returns the retry of a reconnect event, failing on anything else.
func retryOf(t *testing.T, unit string) time.Duration {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(unit, "\n\n"), "\n")
	if len(lines) != 3 || lines[0] != "event: reconnect" || !strings.HasPrefix(lines[1], "retry: ") || lines[2] != "data: {}" {
		t.Fatalf("want a reconnect event, got %q", unit)
	}
	ms, err := strconv.Atoi(strings.TrimPrefix(lines[1], "retry: "))
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

func TestDrainEndsStreamsWithJitteredRetry(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		return nil
	}}
	// The gateway's own retry (10 s) is far from the route's (2 s), so the
	// retries below tell which one was used.
	srv, gw := startGatewayGW(t, startBackend(t, b), nil, gateway.WithReconnectJitter(5*time.Second), gateway.WithRetry(10*time.Second))
	var streams []*units
	for range 3 {
		_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
		u.mustNext(t)
		u.mustNext(t)
		streams = append(streams, u)
	}
	if gw.OpenStreams() != 3 {
		t.Fatalf("open streams %d", gw.OpenStreams())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := gw.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	for _, u := range streams {
		got := u.rest(t)
		if len(got) != 1 {
			t.Fatalf("after drain: %q", got)
		}
		// The method's retry is 2 s; the jitter adds up to 5 s.
		if r := retryOf(t, got[0]); r < 2*time.Second || r >= 7*time.Second {
			t.Fatalf("retry %v outside [2s, 7s)", r)
		}
	}
	if !gw.Draining() || gw.OpenStreams() != 0 {
		t.Fatalf("draining %v, open %d", gw.Draining(), gw.OpenStreams())
	}
	// A new stream is told to come back later, after its route's retry,
	// with a status EventSource does not give up on.
	calls := b.callCount()
	resp, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	if got := u.rest(t); resp.StatusCode != http.StatusOK || len(got) != 2 || got[0] != ": ok\n" {
		t.Fatalf("new stream while draining: %d %q", resp.StatusCode, got)
	} else if r := retryOf(t, got[1]); r < 2*time.Second || r >= 7*time.Second {
		t.Fatalf("retry %v outside [2s, 7s): not the route's", r)
	}
	if b.callCount() != calls {
		t.Fatal("a stream admitted while draining reached the backend")
	}
	// Other clients of the same route get a status.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/jobs/j1/events", nil)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("NDJSON while draining: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestMaxLifetimeEndsAtEventBoundary(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), nil, gateway.WithClock(clock), gateway.WithHeartbeat(time.Hour),
		gateway.WithMaxLifetime(time.Minute, 10*time.Second), gateway.WithReconnectJitter(time.Second))
	_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	u.mustNext(t)
	u.mustNext(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 2); err != nil { // heartbeat and lifetime timers
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // the lifetime is 50 to 60 s
	got := u.rest(t)
	if len(got) != 1 {
		t.Fatalf("at the end of the lifetime: %q", got)
	}
	if r := retryOf(t, got[0]); r < 2*time.Second || r >= 3*time.Second {
		t.Fatalf("retry %v outside [2s, 3s)", r)
	}
}

// A stream over a cap never reaches the backend. An SSE client is told to
// come back after a long jittered retry (a status would stop EventSource
// for good); other clients get the status with Retry-After.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	const busy = 30 * time.Second
	tests := []struct {
		name       string
		opts       []gateway.Option
		otherIP    bool // the second stream comes from another client address
		ndjson     bool
		wantStatus int
		wantCode   string
	}{
		{name: "global cap", opts: []gateway.Option{gateway.WithMaxStreams(1)}, wantStatus: 200},
		{name: "global cap, NDJSON", opts: []gateway.Option{gateway.WithMaxStreams(1)}, ndjson: true, wantStatus: 503, wantCode: "UNAVAILABLE"},
		{name: "per-IP cap", opts: []gateway.Option{gateway.WithMaxStreamsPerClientIP(1)}, wantStatus: 200},
		{name: "per-IP cap, NDJSON", opts: []gateway.Option{gateway.WithMaxStreamsPerClientIP(1)}, ndjson: true, wantStatus: 429, wantCode: "RESOURCE_EXHAUSTED"},
		{name: "per-IP cap, other address", opts: []gateway.Option{gateway.WithMaxStreamsPerClientIP(1)}, otherIP: true, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{watch: idle}
			// Tests cannot dial from two addresses, so the client address
			// comes from a test header here.
			byHeader := gateway.WithClientIP(func(r *http.Request) string { return r.Header.Get("X-Test-Client") })
			srv := startGateway(t, startBackend(t, b), nil, append(tt.opts, byHeader, gateway.WithBusyRetry(busy))...)
			_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", http.Header{"X-Test-Client": {"a"}})
			u.mustNext(t)
			client := "a"
			if tt.otherIP {
				client = "b"
			}
			header := http.Header{"X-Test-Client": {client}}
			if tt.ndjson {
				header.Set("Accept", "application/json")
			}
			resp, u2 := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("second stream: %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			switch {
			case tt.otherIP:
				u2.mustNext(t)
				if b.callCount() != 2 {
					t.Fatalf("backend saw %d streams, want 2", b.callCount())
				}
				return
			case tt.ndjson:
				var body struct{ Code, Message string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != tt.wantCode || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("body %+v (%v), Retry-After %q", body, err, resp.Header.Get("Retry-After"))
				}
			default:
				got := u2.rest(t)
				if len(got) != 2 || got[0] != ": ok\n" {
					t.Fatalf("refused SSE stream: %q", got)
				}
				if r := retryOf(t, got[1]); r < busy || r >= 2*busy {
					t.Fatalf("retry %v outside [%v, %v)", r, busy, 2*busy)
				}
			}
			if b.callCount() != 1 {
				t.Fatalf("backend saw %d streams, want 1", b.callCount())
			}
		})
	}
}

// A client that stops reading is evicted by the per-write deadline, and its
// upstream stream is cancelled.
func TestSlowReaderEvicted(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	big := strings.Repeat("x", 64<<10)
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		defer close(cancelled)
		for i := uint64(1); ; i++ {
			if err := s.Send(logLine(i, big)); err != nil {
				return err
			}
		}
	}}
	srv := startGateway(t, startBackend(t, b), nil, gateway.WithWriteTimeout(200*time.Millisecond))
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Ask for the stream, then never read a byte.
	fmt.Fprintf(conn, "GET /v1/jobs/j1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("upstream still streaming 30 s after the client stopped reading")
	}
}

// A GET that announces a chunked body and never sends it still streams at
// once: the gateway never waits for a request body.
func TestChunkedGETStreamsAtOnce(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		close(cancelled)
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/jobs/j1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang guard, not a speed check
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &units{ssetest.NewReader(resp.Body)}
	if resp.StatusCode != 200 || u.mustNext(t) != ": ok\n" || !strings.HasPrefix(u.mustNext(t), "id: 1\n") {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The server must still notice the client leaving, although the body
	// it announced never ended.
	conn.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream still open 10 s after the client left")
	}
}

// A GET with a body larger than the gateway reads beside a stream ends the
// stream cleanly: no panic of a server goroutine (two readers of one body),
// whatever the timing, over several tries.
func TestLargeGETBodyEndsCleanly(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		return nil
	}}
	var logs syncLog
	gw, err := gateway.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(t.Context(), jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0), startBackend(t, b), jobsv1.RegisterJobServiceHandler); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(gw)
	srv.Config.ErrorLog = log.New(&logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	body := strings.Repeat("x", 100<<10)
	for range 4 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /v1/jobs/j1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // only a hang fails here
		_, _ = io.Copy(io.Discard, conn)                           // the stream ends, the server closes
		conn.Close()
	}
	srv.Close() // waits for the connections' goroutines
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("server log: %s", logs.String())
	}
}

// syncLog is an io.Writer for a server's ErrorLog, read by the test.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
