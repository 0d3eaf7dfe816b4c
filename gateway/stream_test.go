package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

func TestStreamExactBytesAndHeaders(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		if req.GetId() != "j1" {
			return status.Error(codes.InvalidArgument, "want j1")
		}
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 50))
		_ = s.Send(logLine(2, "line one\nline two\r\nline three"))
		return s.Send(&jobsv1.WatchJobResponse{Id: 3, Event: &jobsv1.WatchJobResponse_Completed{
			Completed: &jobsv1.Completed{Count: 25, Largest: 97}}})
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	resp, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Content-Length":    "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	want := []string{
		": ok\n",
		"id: 1\nevent: progress\nretry: 2000\ndata: " + jsonOf(t, progress(1, 50).GetProgress()) + "\n\n",
		"id: 2\nevent: log\ndata: line one\ndata: line two\ndata: line three\n\n",
		"id: 3\nevent: completed\ndata: " + jsonOf(t, &jobsv1.Completed{Count: 25, Largest: 97}) + "\n\n",
		"event: end\ndata: {}\n\n",
	}
	got := append([]string{u.mustNext(t)}, u.rest(t)...)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stream:\n got %q\nwant %q", got, want)
	}
}

func TestRawTextMessageWithFixedEventName(t *testing.T) {
	t.Parallel()
	b := &backend{tail: func(req *logsv1.TailLogsRequest, s logsv1.LogService_TailLogsServer) error {
		if req.GetName() != "deploy.log" || !req.GetFollow() {
			return status.Errorf(codes.InvalidArgument, "bad request %v", req)
		}
		return s.Send(&logsv1.TailLogsResponse{Name: "deploy.log", Offset: 7, Text: "panic: boom\n\tat main.go:1"})
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	_, u := stream(t, t.Context(), srv.URL+"/v1/logs/deploy.log/events?follow=true", nil)
	got := u.rest(t)
	want := []string{": ok\n", "id: 7\nevent: log\nretry: 2000\ndata: panic: boom\ndata: \tat main.go:1\n\n", "event: end\ndata: {}\n\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stream:\n got %q\nwant %q", got, want)
	}
}

// The headers and the first comment go out before a slow first message,
// whether or not the backend sends its headers at once.
func TestFirstByteBeforeSlowFirstMessage(t *testing.T) {
	t.Parallel()
	for _, sendHeader := range []bool{true, false} {
		t.Run(fmt.Sprintf("sendHeader=%v", sendHeader), func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
				if sendHeader {
					_ = grpc.SendHeader(s.Context(), metadata.MD{})
				}
				select {
				case <-release:
				case <-s.Context().Done():
					return s.Context().Err()
				}
				return s.Send(progress(1, 1))
			}}
			srv := startGateway(t, startBackend(t, b), nil, gateway.WithHeaderWait(50*time.Millisecond))
			resp, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := u.mustNext(t); got != ": ok\n" {
				t.Fatalf("first unit %q", got)
			}
			close(release) // only now may the first message exist
			if got := u.mustNext(t); !strings.HasPrefix(got, "id: 1\nevent: progress\n") {
				t.Fatalf("second unit %q", got)
			}
		})
	}
}

// Heartbeats come after each idle interval, and the timer restarts after
// every event.
func TestHeartbeatWithInjectedClock(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	send := make(chan *jobsv1.WatchJobResponse)
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		for {
			select {
			case m, ok := <-send:
				if !ok {
					return nil
				}
				if err := s.Send(m); err != nil {
					return err
				}
			case <-s.Context().Done():
				return nil
			}
		}
	}}
	srv := startGateway(t, startBackend(t, b), nil, gateway.WithClock(clock), gateway.WithHeartbeat(15*time.Second))
	_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	if got := u.mustNext(t); got != ": ok\n" {
		t.Fatalf("first unit %q", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the heartbeat timer
		t.Fatal(err)
	}
	clock.Advance(15 * time.Second)
	if got := u.mustNext(t); got != ":\n" {
		t.Fatalf("after 15 s idle: %q, want a heartbeat comment", got)
	}
	clock.Advance(10 * time.Second) // 10 s into the next interval
	send <- progress(1, 1)
	send <- progress(2, 2)
	u.mustNext(t)
	u.mustNext(t)                   // the timer restarted after event 1 before event 2 was taken
	clock.Advance(10 * time.Second) // 10 s after the events: no heartbeat due
	close(send)
	got := u.rest(t)
	if want := []string{"event: end\ndata: {}\n\n"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("after events: %q, want %q (no heartbeat)", got, want)
	}
}

// A client that goes away cancels its upstream stream.
func TestDisconnectCancelsBackend(t *testing.T) {
	t.Parallel()
	cancelled := make(chan time.Time, 1)
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		cancelled <- time.Now()
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	ctx, cancel := context.WithCancel(t.Context())
	_, u := stream(t, ctx, srv.URL+"/v1/jobs/j1/events", nil)
	u.mustNext(t)
	u.mustNext(t)
	left := time.Now()
	cancel()
	select {
	case at := <-cancelled:
		t.Logf("backend cancelled %v after the client left", at.Sub(left))
	case <-time.After(10 * time.Second):
		t.Fatal("backend stream still running 10 s after the client left")
	}
}

func TestEndAndErrorPaths(t *testing.T) {
	t.Parallel()
	errEvent := func(code, msg string) string {
		b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
		return "event: error\ndata: " + string(b) + "\n\n"
	}
	first := "id: 1\nevent: log\nretry: 2000\ndata: hello\n\n"
	tests := []struct {
		name       string
		header     bool // send headers before anything
		sendFirst  bool
		end        error
		wantStatus int
		wantUnits  []string // after ":ok"; nil for a non-200 status
		wantBody   string   // for non-200 statuses
	}{
		{name: "clean end", header: true, sendFirst: true, end: nil, wantStatus: 200,
			wantUnits: []string{first, "event: end\ndata: {}\n\n"}},
		{name: "permanent error after first event", sendFirst: true, end: status.Error(codes.FailedPrecondition, "job gone"),
			wantStatus: 200, wantUnits: []string{first, errEvent("FAILED_PRECONDITION", "job gone")}},
		{name: "internal error hides detail", sendFirst: true, end: status.Error(codes.Internal, "db at 10.0.0.1 down"),
			wantStatus: 200, wantUnits: []string{first, errEvent("INTERNAL", "internal error")}},
		{name: "transient error closes without final event", sendFirst: true, end: status.Error(codes.Unavailable, "restarting"),
			wantStatus: 200, wantUnits: []string{first}},
		{name: "already ended: 204", end: nil, wantStatus: 204},
		{name: "error before first event: HTTP status", end: status.Error(codes.NotFound, "job not found"),
			wantStatus: 404, wantBody: `{"code":"NOT_FOUND","message":"job not found"}`},
		{name: "permission before first event", end: status.Error(codes.PermissionDenied, "not yours"),
			wantStatus: 403, wantBody: `{"code":"PERMISSION_DENIED","message":"not yours"}`},
		// No event has carried a retry yet: a reconnect event brings the
		// browser back after the route's retry plus jitter (none here),
		// not all clients at once after the browser's default.
		{name: "transient before first event: reconnect event with retry", end: status.Error(codes.Unavailable, "down"),
			wantStatus: 200, wantUnits: []string{"event: reconnect\nretry: 2000\ndata: {}\n\n"}},
		{name: "headers then transient: reconnect event with retry", header: true, end: status.Error(codes.Unavailable, "down"),
			wantStatus: 200, wantUnits: []string{"event: reconnect\nretry: 2000\ndata: {}\n\n"}},
		{name: "headers then immediate end", header: true, end: nil, wantStatus: 200,
			wantUnits: []string{"event: end\ndata: {}\n\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
				if tt.header {
					_ = grpc.SendHeader(s.Context(), metadata.MD{})
				}
				if tt.sendFirst {
					_ = s.Send(logLine(1, "hello"))
				}
				return tt.end
			}}
			srv := startGateway(t, startBackend(t, b), nil, gateway.WithReconnectJitter(0))
			resp, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				body, _ := io.ReadAll(resp.Body)
				if got := strings.TrimSpace(string(body)); got != tt.wantBody {
					t.Fatalf("body %q, want %q", got, tt.wantBody)
				}
				if tt.wantBody != "" && resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
				}
				return
			}
			if got := u.mustNext(t); got != ": ok\n" {
				t.Fatalf("first unit %q", got)
			}
			got := u.rest(t)
			if strings.Join(got, "|") != strings.Join(tt.wantUnits, "|") {
				t.Fatalf("units:\n got %q\nwant %q", got, tt.wantUnits)
			}
		})
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	got := make(chan uint64, 1)
	b := &backend{watch: func(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		got <- req.GetAfterId()
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	tests := []struct {
		name       string
		query      string
		header     string
		wantStatus int
		wantAfter  uint64
	}{
		{name: "header", header: "41", wantStatus: 204, wantAfter: 41},
		{name: "query parameter", query: "?lastEventId=7", wantStatus: 204, wantAfter: 7},
		{name: "header wins over query", query: "?lastEventId=7", header: "9", wantStatus: 204, wantAfter: 9},
		{name: "field's own query parameter", query: "?afterId=3", wantStatus: 204, wantAfter: 3},
		{name: "none", wantStatus: 204, wantAfter: 0},
		{name: "malformed", header: "abc", wantStatus: 400},
		{name: "negative", header: "-1", wantStatus: 400},
		{name: "overflow", header: "18446744073709551616", wantStatus: 400},
		{name: "too long", query: "?lastEventId=" + strings.Repeat("1", 300), wantStatus: 400},
		{name: "control character", query: "?lastEventId=1%00", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Last-Event-ID", tt.header)
			}
			resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events"+tt.query, h)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 400 {
				var body struct{ Code, Message string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != "INVALID_ARGUMENT" || body.Message == "" {
					t.Fatalf("body %+v, %v", body, err)
				}
				return
			}
			if after := <-got; after != tt.wantAfter {
				t.Fatalf("backend got after_id %d, want %d", after, tt.wantAfter)
			}
		})
	}
}

// Clients that do not ask for text/event-stream get grpc-gateway's NDJSON.
func TestNDJSONFallback(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = s.Send(progress(1, 10))
		return s.Send(logLine(2, "two\nlines"))
	}}
	srv := startGateway(t, startBackend(t, b), nil)
	for _, accept := range []string{"", "*/*", "application/json", "text/event-stream;q=0.5, application/json"} {
		t.Run(accept, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/jobs/j1/events", nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			lines := strings.Split(strings.TrimSpace(string(body)), "\n")
			if resp.StatusCode != 200 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || len(lines) != 2 {
				t.Fatalf("status %d, type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var first struct {
				Result struct {
					ID       string `json:"id"`
					Progress struct{ Done int }
				}
			}
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Result.ID != "1" || first.Result.Progress.Done != 10 {
				t.Fatalf("first line %q: %+v %v", lines[0], first, err)
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error { return nil }}
	srv := startGateway(t, startBackend(t, b), nil)
	tests := []struct {
		path       string
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{"/v1/nothing", nil, 404, "NOT_FOUND"},
		{"/v1/jobs/j1/events?afterId=x", nil, 400, "INVALID_ARGUMENT"},
		{"/v1/jobs/j1/events?follow=maybe", nil, 204, ""}, // unknown parameters are ignored, as grpc-gateway does
		{"/v1/logs/x/events?follow=maybe", nil, 400, "INVALID_ARGUMENT"},
		{"/v1/jobs/j1/events", http.Header{"Grpc-Timeout": {"forever"}}, 400, "INVALID_ARGUMENT"}, // before the upstream call
		{"/v1/jobs/nope", nil, 404, "NOT_FOUND"},                                                  // a unary REST route, error from the backend
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, _ := stream(t, t.Context(), srv.URL+tt.path, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			var body struct{ Code, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != tt.wantCode || body.Message == "" {
				t.Fatalf("body %+v, %v", body, err)
			}
		})
	}
}
