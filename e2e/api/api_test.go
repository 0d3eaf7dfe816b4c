// Package api_test drives the whole demo (auth, jobs and logs services and
// the gateway, over real gRPC and HTTP on loopback) the way a non-browser
// client does: JSON requests, SSE streams, Last-Event-ID.
package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

func TestMain(m *testing.M) {
	// After answering 413 or 408 with Connection: close, net/http lingers
	// half a second before closing, on a goroutine of its own; that one is
	// not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

type demo struct {
	*app.Demo
	t   *testing.T
	cfg config.Config
}

func startDemo(t *testing.T, pace time.Duration) *demo {
	t.Helper()
	return startDemoWith(t, func(c *config.Config) { c.JobPace = pace })
}

// startDemoWith starts the demo with the test defaults changed by edit.
func startDemoWith(t *testing.T, edit func(*config.Config)) *demo {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.SessionSecret = strings.Repeat("s", 32)
	// A 204 needs the backend's answer within the header wait: allow for a
	// loaded machine.
	cfg.HeaderWait = 5 * time.Second
	edit(&cfg)
	d, err := app.StartDemo(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &demo{Demo: d, t: t, cfg: cfg}
}

// client is a signed-in user.
type client struct {
	d    *demo
	user string
	http *http.Client
}

func (d *demo) signIn(user string) *client {
	d.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{d: d, user: user, http: &http.Client{Jar: jar}}
	d.t.Cleanup(c.http.CloseIdleConnections)
	if status, body := c.do("POST", "/v1/sessions", `{"username":"`+user+`","password":"`+user+`"}`, nil); status != 200 {
		d.t.Fatalf("sign in: %d %s", status, body)
	}
	return c
}

func (c *client) do(method, path, body string, header http.Header) (int, []byte) {
	c.d.t.Helper()
	req, err := http.NewRequestWithContext(c.d.t.Context(), method, c.d.URL+path, strings.NewReader(body))
	if err != nil {
		c.d.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *client) createJob(limit int) string {
	c.d.t.Helper()
	status, body := c.do("POST", "/v1/jobs", `{"limit":`+strconv.Itoa(limit)+`}`, nil)
	var job struct{ ID string }
	if err := json.Unmarshal(body, &job); status != 200 || err != nil || job.ID == "" {
		c.d.t.Fatalf("create job: %d %s", status, body)
	}
	return job.ID
}

type event struct{ ID, Type, Data string }

// watch reads an SSE stream until it ends or stop says so, with an
// independent parser (go-sse's).
func (c *client) watch(ctx context.Context, path, lastID string, stop func(event) bool) (int, []event) {
	c.d.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.d.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	var events []event
	last := ""
	for e, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			break // a backend restart cuts the stream
		}
		id := ""
		if e.LastEventID != last {
			id, last = e.LastEventID, e.LastEventID
		}
		ev := event{ID: id, Type: e.Type, Data: e.Data}
		events = append(events, ev)
		if stop != nil && stop(ev) {
			break
		}
	}
	return 200, events
}

func TestBadInputsGetClearErrors(t *testing.T) {
	d := startDemo(t, 0)
	demoUser, ops := d.signIn("demo"), d.signIn("ops")
	job := demoUser.createJob(1000)
	// Let it finish, so that resuming past its end can be checked.
	_, events := demoUser.watch(t.Context(), "/v1/jobs/"+job+"/events", "", nil)
	lastID := 0
	for _, e := range events {
		if n, err := strconv.Atoi(e.ID); err == nil {
			lastID = n
		}
	}
	if lastID == 0 {
		t.Fatalf("no events with ids: %+v", events)
	}
	tests := []struct {
		name       string
		c          *client
		method     string
		path, body string
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{"limit too small", demoUser, "POST", "/v1/jobs", `{"limit":1}`, nil, 400, "INVALID_ARGUMENT"},
		{"limit too big", demoUser, "POST", "/v1/jobs", `{"limit":2000000001}`, nil, 400, "INVALID_ARGUMENT"},
		{"limit beyond uint32", demoUser, "POST", "/v1/jobs", `{"limit":5000000000}`, nil, 400, "INVALID_ARGUMENT"},
		{"negative limit", demoUser, "POST", "/v1/jobs", `{"limit":-5}`, nil, 400, "INVALID_ARGUMENT"},
		{"limit not a number", demoUser, "POST", "/v1/jobs", `{"limit":"many"}`, nil, 400, "INVALID_ARGUMENT"},
		{"body not JSON", demoUser, "POST", "/v1/jobs", `{limit`, nil, 400, "INVALID_ARGUMENT"},
		{"unknown job", demoUser, "GET", "/v1/jobs/nope", "", nil, 404, "NOT_FOUND"},
		{"another user's job", ops, "GET", "/v1/jobs/" + job, "", nil, 404, "NOT_FOUND"},
		{"cancel another user's job", ops, "POST", "/v1/jobs/" + job + ":cancel", `{}`, nil, 404, "NOT_FOUND"},
		{"watch unknown job", demoUser, "GET", "/v1/jobs/nope/events", "", sseHeader(""), 404, "NOT_FOUND"},
		{"watch another user's job", ops, "GET", "/v1/jobs/" + job + "/events", "", sseHeader(""), 404, "NOT_FOUND"},
		{"another user's job log", ops, "GET", "/v1/logs/job-" + job + "/events", "", sseHeader(""), 404, "NOT_FOUND"},
		{"malformed Last-Event-ID", demoUser, "GET", "/v1/jobs/" + job + "/events", "", sseHeader("x1"), 400, "INVALID_ARGUMENT"},
		{"bad offset parameter", demoUser, "GET", "/v1/logs/job-" + job + "/events?afterOffset=-1", "", sseHeader(""), 400, "INVALID_ARGUMENT"},
		{"offset not a number", demoUser, "GET", "/v1/logs/job-" + job + "/events?afterOffset=abc", "", sseHeader(""), 400, "INVALID_ARGUMENT"},
		{"unknown log", demoUser, "GET", "/v1/logs/nothing-here/events", "", sseHeader(""), 404, "NOT_FOUND"},
		{"invalid log name", demoUser, "GET", "/v1/logs/bad%20name/events", "", sseHeader(""), 400, "INVALID_ARGUMENT"},
		{"resume past the end of a job", demoUser, "GET", "/v1/jobs/" + job + "/events", "", sseHeader("100000"), 400, "INVALID_ARGUMENT"},
		{"resume at the end of a finished job", demoUser, "GET", "/v1/jobs/" + job + "/events", "", sseHeader(strconv.Itoa(lastID)), 204, ""},
		{"no such route", demoUser, "GET", "/v1/nothing", "", nil, 404, "NOT_FOUND"},
		// Signing in takes a few KiB at most (its method's own limit);
		// other bodies the gateway's limit.
		{"sign-in body of 10 KiB", demoUser, "POST", "/v1/sessions", `{"username":"demo","password":"` + strings.Repeat("x", 10<<10) + `"}`, nil, 413, "RESOURCE_EXHAUSTED"},
		{"job body of 2 MiB", demoUser, "POST", "/v1/jobs", `{"limit":1000, "x":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "RESOURCE_EXHAUSTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.c.do(tt.method, tt.path, tt.body, tt.header)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tt.wantStatus, body)
			}
			if tt.wantCode == "" {
				return
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(body, &e); err != nil || e.Code != tt.wantCode || e.Message == "" {
				t.Fatalf("body %s", body)
			}
			if strings.Contains(e.Message, "strconv") || strings.Contains(e.Message, ".go:") {
				t.Fatalf("message with Go internals: %q", e.Message)
			}
		})
	}
	// Another user's job and a job that does not exist are told apart by
	// nothing but the id the caller sent.
	_, unknown := demoUser.do("GET", "/v1/jobs/nope", "", nil)
	_, foreign := ops.do("GET", "/v1/jobs/"+job, "", nil)
	if !bytes.Equal(unknown, bytes.ReplaceAll(foreign, []byte(job), []byte("nope"))) {
		t.Fatalf("unknown %s, foreign %s", unknown, foreign)
	}
}

func sseHeader(lastID string) http.Header {
	h := http.Header{"Accept": {"text/event-stream"}}
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
	return h
}

// Many watchers, one of them late, all get the same events in the same
// order; a watcher that resumes across a restart of the backends gets every
// event exactly once.
func TestWatchersAndRestart(t *testing.T) {
	d := startDemo(t, 5*time.Millisecond)
	c := d.signIn("demo")
	job := c.createJob(20_000_000)
	path := "/v1/jobs/" + job + "/events"

	var wg sync.WaitGroup
	sequences := make([][]event, 5)
	for i := range sequences {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, sequences[i] = c.watch(t.Context(), path, "", func(e event) bool { return e.Type == "end" })
		}()
	}

	// A watcher that reads a few events, is cut by a restart, and resumes.
	var resumed []event
	_, first := c.watch(t.Context(), path, "", func(e event) bool { return e.ID == "5" })
	resumed = append(resumed, first...)
	if err := d.RestartBackends(t.Context()); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		lastID := ""
		for _, e := range resumed {
			if e.ID != "" {
				lastID = e.ID
			}
		}
		status, more := c.watch(t.Context(), path, lastID, func(e event) bool { return e.Type == "end" })
		resumed = append(resumed, more...)
		if status == 204 || (len(resumed) > 0 && resumed[len(resumed)-1].Type == "end") {
			break
		}
		if attempt > 100 {
			t.Fatalf("no end after %d reconnects", attempt)
		}
		time.Sleep(100 * time.Millisecond) // EventSource's retry, shortened
	}
	wg.Wait()

	// The late watcher, after the end.
	_, late := c.watch(t.Context(), path, "", nil)
	ids := func(events []event) string {
		var b strings.Builder
		for _, e := range events {
			if e.ID != "" {
				b.WriteString(e.ID + ",")
			}
		}
		return b.String()
	}
	want := ids(late)
	var n int
	for _, e := range late {
		if e.ID != "" {
			n++
			if e.ID != strconv.Itoa(n) {
				t.Fatalf("late watcher: id %s at position %d", e.ID, n)
			}
		}
	}
	if late[len(late)-1].Type != "end" || late[len(late)-2].Type != "completed" {
		t.Fatalf("late watcher ends with %+v", late[len(late)-2:])
	}
	var done struct{ Count int }
	if err := json.Unmarshal([]byte(late[len(late)-2].Data), &done); err != nil || done.Count != 1270607 { // π(2·10^7)
		t.Fatalf("completed %s", late[len(late)-2].Data)
	}
	if got := ids(resumed); got != want {
		t.Fatalf("resumed across the restart:\n got %s\nwant %s", got, want)
	}
	// The watchers that were open during the restart were cut; each one's
	// events are a prefix of the full sequence, in order.
	for i, s := range sequences {
		if got := ids(s); !strings.HasPrefix(want, got) || got == "" {
			t.Fatalf("watcher %d: %s is not a prefix of %s", i, got, want)
		}
	}
}
