package thirdparty_test

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/gateway/openapi/openapitest"
	"github.com/ssegate/ssegate/internal/browsertest"
)

// greeterRoutes are the routes of acme.greeter.v1.GreeterService: two
// from google.api.http rules, two the defaults of methods without one.
var greeterRoutes = map[string][]string{
	"/v1/greetings":                             {"post"},
	"/v1/greetings/{name}/events":               {"get"},
	"/acme.greeter.v1.GreeterService/Version":   {"post"},
	"/acme.greeter.v1.GreeterService/Countdown": {"get"},
}

// greeterConfig is a config file of one upstream, the greeter at addr
// described by the descriptor set at set.
func greeterConfig(addr, set string) string {
	return "addr: 127.0.0.1:0\nauth: none\nheartbeat: 1h\nupstreams:\n" +
		"  - name: greeter\n    addrs: [" + addr + "]\n    descriptor_set: " + set + "\n"
}

// A descriptor set that buf built from a .proto the gateway has no Go code
// of, loaded from a YAML config file: REST from the rules, SSE with resume
// through the last-event-id metadata, the default routes of unbound
// methods, and the document and docs page listing exactly those routes.
func TestDescriptorSet(t *testing.T) {
	t.Parallel()
	set := buildDescriptorSet(t)
	g := startGreeter(t, set, false)
	cfg := writeFile(t, t.TempDir(), "ssegate.yaml", greeterConfig(g.addr, set))
	_, base := startGateway(t, gatewayBin(t), "-config", cfg)
	c := newClient(t, base)

	t.Run("REST", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, method, path, body string
			status                   int
			want                     string
		}{
			{"rule", "POST", "/v1/greetings", `{"name":"Ada"}`, 200, `{"message":"Hello, Ada!"}`},
			{"backend error", "POST", "/v1/greetings", `{}`, 400, `{"code":"INVALID_ARGUMENT","message":"name is required"}`},
			{"unknown field", "POST", "/v1/greetings", `{"nom":"Ada"}`, 400, ``},
			{"default route of a unary method", "POST", "/acme.greeter.v1.GreeterService/Version", `{}`, 200, `{"version":"1.0.0"}`},
			{"no route", "POST", "/acme.greeter.v1.GreeterService/Nope", `{}`, 404, ``},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := call(t, c, tt.method, tt.path, tt.body)
				if r.status != tt.status || (tt.want != "" && compact(r.body) != tt.want) {
					t.Errorf("%s %s %s: HTTP %d %s, want %d %s", tt.method, tt.path, tt.body, r.status, r.body, tt.status, tt.want)
				}
			})
		}
	})

	t.Run("SSE with resume", func(t *testing.T) {
		t.Parallel()
		event := func(seq, of string, first bool) string {
			retry := ""
			if first {
				retry = "retry: 3000\n"
			}
			return "id: " + seq + "\n" + retry + `data: {"seq":` + seq + `,"message":"Hello, NAME! (` + seq + " of " + of + `)"}` + "\n\n"
		}
		end := "event: end\ndata: {}\n\n"
		tests := []struct {
			name, query, lastEventID string
			status                   int
			want                     string // with NAME for the test's name
			backendSaw               string // the last-event-id metadata
		}{
			{"from the start", "?count=3", "", 200, ": ok\n" + event("1", "3", true) + event("2", "3", false) + event("3", "3", false) + end, ""},
			{"Last-Event-ID header", "?count=3", "1", 200, ": ok\n" + event("2", "3", true) + event("3", "3", false) + end, "1"},
			{"lastEventId parameter", "?count=3&lastEventId=2", "", 200, ": ok\n" + event("3", "3", true) + end, "2"},
			{"after the last event", "?count=3", "3", 204, "", "3"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				name := strings.ReplaceAll(tt.name, " ", "-")
				header := http.Header{}
				if tt.lastEventID != "" {
					header.Set("Last-Event-ID", tt.lastEventID)
				}
				s := openStream(t, c, "/v1/greetings/"+name+"/events"+tt.query, header)
				if s.Res.StatusCode != tt.status {
					t.Fatalf("HTTP %d, want %d", s.Res.StatusCode, tt.status)
				}
				for {
					if _, err := s.Next(); err != nil {
						break // the end of the stream: its bytes are checked whole
					}
				}
				if got, want := s.Raw(), strings.ReplaceAll(tt.want, "NAME", name); got != want {
					t.Errorf("the stream is\n%q\nwant\n%q", got, want)
				}
				if got := g.LastEventIDs(name); !slices.Equal(got, []string{tt.backendSaw}) {
					t.Errorf("the backend's calls had last-event-id %q, want one call with %q", got, tt.backendSaw)
				}
			})
		}
	})

	t.Run("default route of a server stream", func(t *testing.T) {
		t.Parallel()
		s := openStream(t, c, "/acme.greeter.v1.GreeterService/Countdown?from=3", nil)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
		want := ": ok\nretry: 3000\ndata: {\"left\":2}\n\ndata: {\"left\":1}\n\ndata: {\"left\":0}\n\nevent: end\ndata: {}\n\n"
		if s.Res.StatusCode != 200 || s.Raw() != want {
			t.Errorf("HTTP %d, stream\n%q\nwant 200 and\n%q", s.Res.StatusCode, s.Raw(), want)
		}
	})

	t.Run("the document lists exactly the routes", func(t *testing.T) {
		t.Parallel()
		r := call(t, c, "GET", "/openapi.json", "")
		if r.status != 200 {
			t.Fatalf("GET /openapi.json: HTTP %d %s", r.status, r.body)
		}
		if got := operations(t, []byte(r.body)); !maps.EqualFunc(got, greeterRoutes, slices.Equal) {
			t.Errorf("paths and methods %v, want %v", got, greeterRoutes)
		}
		// The descriptor set kept the .proto's comments.
		for _, comment := range []string{"SayHello answers one greeting.", "GreeterService greets people"} {
			if !strings.Contains(r.body, comment) {
				t.Errorf("the document lacks the comment %q", comment)
			}
		}
		openapitest.ValidateDocument(t, []byte(r.body))
	})

	t.Run("the docs page lists exactly the routes", func(t *testing.T) {
		t.Parallel()
		b := browsertest.New(t, browsertest.Options{Lifetime: 40 * time.Second, ShotsDir: shotsDir(t)})
		b.Do("open /docs", chromedp.Navigate(base+"/docs"))
		b.WaitFor("the page is rendered", `document.documentElement.dataset.ready === "true"`, 20*time.Second)
		var listed []string
		b.Eval(`[...document.querySelectorAll("#endpoints section.op")].map(s => s.dataset.method.toLowerCase() + " " + s.dataset.path)`, &listed)
		var want []string
		for path, methods := range greeterRoutes {
			for _, m := range methods {
				want = append(want, m+" "+path)
			}
		}
		slices.Sort(listed)
		slices.Sort(want)
		if !slices.Equal(listed, want) {
			t.Errorf("the page lists %q, want %q", listed, want)
		}
	})
}

// shotsDir is where screenshots are copied: SSEGATE_E2E_SHOTS, as in e2e.
func shotsDir(t testing.TB) string {
	if dir := os.Getenv("SSEGATE_E2E_SHOTS"); dir != "" {
		return filepath.Join(dir, "thirdparty")
	}
	return ""
}
