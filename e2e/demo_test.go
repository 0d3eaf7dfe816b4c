package e2e_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/internal/config"
)

// startDemo runs the whole demo in-process on a loopback port with its own
// data directory; pace is the minimum time a job spends on one chunk, and
// each edit may change the config further.
func startDemo(t *testing.T, pace time.Duration, edits ...func(*config.Config)) *app.Demo {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.JobPace = pace
	cfg.LogLevel = "warn"
	for _, edit := range edits {
		edit(&cfg)
	}
	return apptest.StartDemo(t, cfg)
}

// apiClient calls the demo's REST and SSE routes from Go, as a second
// witness of what the browser should see.
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

// signIn returns a client holding a session for user.
func signIn(t *testing.T, base, user, password string) *apiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	res := c.do("POST", "/v1/sessions", string(body), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s from Go: HTTP %d", user, res.StatusCode)
	}
	return c
}

func (c *apiClient) do(method, path, body string, header http.Header) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	return res
}

// sseEvent is one event as the WHATWG rules dispatch it.
type sseEvent struct {
	ID, Name, Data string
}

// events reads a stream from its start until the gateway's `end` or `error`
// event, or until the server closes it.
func (c *apiClient) events(path string) []sseEvent {
	c.t.Helper()
	res := c.do("GET", path, "", http.Header{"Accept": {"text/event-stream"}})
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		c.t.Fatalf("GET %s: HTTP %d: %s", path, res.StatusCode, b)
	}
	var (
		out  []sseEvent
		ev   sseEvent
		data []string
		has  bool
	)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				ev.Data = strings.Join(data, "\n")
				if ev.Name == "" {
					ev.Name = "message"
				}
				out = append(out, ev)
				if ev.Name == "end" || ev.Name == "error" {
					return out
				}
			}
			ev, data, has = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			data, has = append(data, value), true
		}
	}
	return out
}
