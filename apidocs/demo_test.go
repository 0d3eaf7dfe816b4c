package apidocs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ssegate/ssegate/gateway/openapi/openapitest"
	"github.com/ssegate/ssegate/gateway/route"
	_ "github.com/ssegate/ssegate/gen/ssegate/bench/v1" // its routes are candidates too
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/internal/ssetest"
)

// startDemo runs the whole product in-process on loopback, as users run it.
func startDemo(t *testing.T) *app.Demo {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.JobPace = 10 * time.Millisecond
	cfg.LogLevel = "warn"
	return apptest.StartDemo(t, cfg)
}

// client calls the demo with a cookie session.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	cookie string // sent by hand when set
}

func signIn(t *testing.T, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	status, _, body := c.do("POST", "/v1/sessions", `{"username":"demo","password":"demo"}`, nil)
	if status != http.StatusOK {
		t.Fatalf("sign in: HTTP %d %s", status, body)
	}
	return c
}

func (c *client) do(method, path, body string, header http.Header) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return res.StatusCode, res.Header, b
}

// The gateway serves its committed document at /openapi.json.
func TestServedDocument(t *testing.T) {
	t.Parallel()
	demo := startDemo(t)
	res, err := http.Get(demo.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json without a session: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// Made at start from the descriptor set the demo's gateway loads.
	if !bytes.Equal(body, openapitest.DemoDocument(t)) {
		t.Error("/openapi.json is not the document of the demo's descriptor set")
	}
	res, err = http.Get(demo.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /docs without a session: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
}

// servedDocument is the /openapi.json the gateway at base serves.
func servedDocument(t *testing.T, base string) []byte {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %v", res.StatusCode, err)
	}
	return b
}

var pathVariable = regexp.MustCompile(`\{[^}]*\}`)

// Every route the running gateway serves is in the document, and nothing
// else: each candidate route (every google.api.http rule and SSE route of
// every service linked into this test, and every method on every
// documented path) is requested with a session, and the gateway's routing
// error tells the unrouted ones.
func TestEveryServedRouteIsDocumented(t *testing.T) {
	t.Parallel()
	demo := startDemo(t)
	c := signIn(t, demo.URL)

	documented := map[string]bool{}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(servedDocument(t, demo.URL), &doc); err != nil {
		t.Fatal(err)
	}
	candidates := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "additionalOperations" {
				t.Fatalf("%s: additionalOperations are not probed", path)
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			candidates[m+" "+path] = true
		}
	}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			for _, r := range serviceRoutes(t, fd.Services().Get(i)) {
				candidates[r] = true
			}
		}
		return true
	})

	// The session cookie goes by hand, not through the jar: signing out
	// (DELETE /v1/sessions/current, probed last) clears the jar's.
	u, _ := url.Parse(demo.URL)
	var cookie []string
	for _, ck := range c.http.Jar.Cookies(u) {
		cookie = append(cookie, ck.String())
	}
	probe := &client{t: t, base: demo.URL, http: &http.Client{}, cookie: strings.Join(cookie, "; ")}
	order := sortedKeys(candidates)
	sort.SliceStable(order, func(i, j int) bool {
		return !strings.HasPrefix(order[i], "DELETE ") && strings.HasPrefix(order[j], "DELETE ")
	})
	// A routed request must be one a documented operation matches (a
	// template variable matches one path segment: GET /v1/jobs/x:cancel is
	// GetJob's), and every documented operation must be routed.
	type matcher struct {
		route string
		re    *regexp.Regexp
	}
	var matchers []matcher
	for r := range documented {
		method, path, _ := strings.Cut(r, " ")
		parts := pathVariable.Split(path, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		matchers = append(matchers, matcher{r, regexp.MustCompile("^" + method + " " + strings.Join(parts, "[^/]+") + "$")})
	}
	served := map[string]bool{}
	for _, cand := range order {
		method, tmpl, _ := strings.Cut(cand, " ")
		if !routed(t, probe, method, tmpl) {
			continue
		}
		concrete := method + " " + pathVariable.ReplaceAllString(tmpl, "x")
		matched := false
		for _, m := range matchers {
			if m.re.MatchString(concrete) {
				matched = true
				if cand == m.route {
					served[m.route] = true
				}
			}
		}
		if !matched {
			t.Errorf("served but not documented: %s (from %s)", concrete, cand)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("documented but not served: %s", r)
		}
	}
	if len(served) < 10 {
		t.Errorf("only %d routes served: %v", len(served), served)
	}
}

// serviceRoutes lists "METHOD template" for the HTTP rules and SSE routes
// of sd, read from its options directly.
func serviceRoutes(t *testing.T, sd protoreflect.ServiceDescriptor) []string {
	var out []string
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			for m, p := range map[string]string{"GET": r.GetGet(), "POST": r.GetPost(), "PUT": r.GetPut(), "PATCH": r.GetPatch(), "DELETE": r.GetDelete()} {
				if p != "" {
					out = append(out, m+" "+p)
				}
			}
			if c := r.GetCustom(); c != nil {
				t.Errorf("%s: custom method %s is not probed", md.FullName(), c.GetKind())
			}
		}
	}
	routes, err := route.ForService(sd)
	if err != nil && !errors.Is(err, route.ErrNoRoutes) {
		t.Fatal(err)
	}
	for _, rt := range routes {
		for _, tmpl := range rt.Templates {
			out = append(out, "GET "+tmpl)
		}
	}
	return out
}

// routed requests method tmpl (its variables filled with "x") and reports
// whether the gateway routed it: anything but its "no such route" 404 and
// "method not allowed" 405.
func routed(t *testing.T, c *client, method, tmpl string) bool {
	t.Helper()
	path := pathVariable.ReplaceAllString(tmpl, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := ""
	if method != "GET" && method != "DELETE" {
		body = `{"limit":100}`
	}
	req, _ := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", c.cookie)
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return true // it reached a backend that keeps the stream open
		}
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var e struct{ Code, Message string }
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	_ = json.Unmarshal(b, &e)
	switch {
	case res.StatusCode == 404 && e.Message == "no such route", res.StatusCode == 405 && e.Message == "method not allowed":
		return false
	case res.StatusCode == 401:
		t.Fatalf("%s %s: 401 with a session: %s", method, path, b)
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// event is one SSE event as its fields came on the wire.
type event map[string]any

// readEvents reads a text/event-stream body to its end and returns its
// events, each as the object the document's itemSchema describes: only the
// fields the event carried, retry as a number.
func readEvents(t *testing.T, r io.Reader) []event {
	t.Helper()
	blocks, err := ssetest.NewReader(r).Events()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	var events []event
	for _, b := range blocks {
		e := event{"data": b.Data}
		if b.Has("id") {
			e["id"] = b.ID
		}
		if b.Has("event") {
			e["event"] = b.Event
		}
		if b.Has("retry") {
			n, err := strconv.Atoi(b.Retry)
			if err != nil {
				t.Fatalf("retry %q", b.Retry)
			}
			e["retry"] = n
		}
		events = append(events, e)
	}
	return events
}

// The REST answers and the events the running gateway sends validate
// against the document's schemas: each event against its stream's
// itemSchema, JSON data against its contentSchema.
func TestLiveTrafficMatchesDocument(t *testing.T) {
	t.Parallel()
	demo := startDemo(t)
	c := signIn(t, demo.URL)
	schemas, err := openapitest.NewSchemas(servedDocument(t, demo.URL))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, v []byte, ptr ...string) {
		t.Helper()
		if err := schemas.Validate(v, ptr...); err != nil {
			t.Errorf("%s: %s\ndoes not match %s: %v", what, v, openapitest.Pointer(ptr...), err)
		}
	}
	jsonOK := func(path, method string) []string {
		return []string{"paths", path, method, "responses", "200", "content", "application/json", "schema"}
	}
	rest := func(method, path, tmpl, body string) []byte {
		t.Helper()
		status, _, b := c.do(method, path, body, http.Header{"Accept": {"application/json"}})
		if status != 200 {
			t.Fatalf("%s %s: HTTP %d %s", method, path, status, b)
		}
		check(method+" "+path, b, jsonOK(tmpl, strings.ToLower(method))...)
		return b
	}

	var job struct{ ID string }
	if err := json.Unmarshal(rest("POST", "/v1/jobs", "/v1/jobs", `{"limit":3000000}`), &job); err != nil || job.ID == "" {
		t.Fatalf("created job: %v %q", err, job.ID)
	}
	rest("GET", "/v1/jobs/"+job.ID, "/v1/jobs/{id}", "")
	rest("GET", "/v1/jobs", "/v1/jobs", "")
	rest("GET", "/v1/sessions/current", "/v1/sessions/current", "")

	stream := func(path, tmpl string) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		var names []string
		ptr := []string{"paths", tmpl, "get", "responses", "200", "content", "text/event-stream", "itemSchema"}
		for _, ev := range readEvents(t, res.Body) {
			b, _ := json.Marshal(ev)
			check("event from "+path, b, ptr...)
			name, _ := ev["event"].(string)
			names = append(names, name)
		}
		return names
	}
	names := stream("/v1/jobs/"+job.ID+"/events", "/v1/jobs/{id}/events")
	for _, want := range []string{"log", "progress", "partial", "completed", "end"} {
		if !slices.Contains(names, want) {
			t.Errorf("job stream lacks a %s event: %v", want, names)
		}
	}

	// The job's log, once shipped, ends with the job: a finite tail.
	var logs []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		names := stream("/v1/logs/job-"+job.ID+"/events", "/v1/logs/{name}/events")
		if len(names) > 1 && names[len(names)-1] == "end" {
			logs = names
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job's log never ended: %v", names)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if logs[0] != "log" {
		t.Errorf("log stream: %v", logs)
	}
	rest("GET", "/v1/logs", "/v1/logs", "")

	// grpc-gateway's NDJSON at the same URL, for other clients.
	status, hdr, b := c.do("GET", "/v1/jobs/"+job.ID+"/events", "", nil)
	if status != 200 {
		t.Fatalf("NDJSON: HTTP %d %s", status, b)
	}
	t.Logf("NDJSON Content-Type: %s", hdr.Get("Content-Type"))
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for _, line := range lines {
		check("NDJSON line", line, "paths", "/v1/jobs/{id}/events", "get", "responses", "200", "content", "application/x-ndjson", "itemSchema")
	}
	if len(lines) < 3 {
		t.Errorf("NDJSON: %d lines", len(lines))
	}

	// Errors before the stream starts are the documented error body.
	status, _, b = c.do("GET", "/v1/jobs/no-such-job/events", "", http.Header{"Accept": {"text/event-stream"}})
	if status != 404 {
		t.Fatalf("unknown job: HTTP %d %s", status, b)
	}
	check("404", b, "components", "responses", "NotFound", "content", "application/json", "schema")
	status, _, b = c.do("GET", "/v1/jobs/"+job.ID+"/events", "", http.Header{"Accept": {"text/event-stream"}, "Last-Event-Id": {"not a number"}})
	if status != 400 {
		t.Fatalf("bad Last-Event-ID: HTTP %d %s", status, b)
	}
	check("400", b, "components", "responses", "BadRequest", "content", "application/json", "schema")
	anon := &client{t: t, base: demo.URL, http: &http.Client{Timeout: 10 * time.Second}}
	status, _, b = anon.do("GET", "/v1/jobs", "", nil)
	if status != 401 {
		t.Fatalf("no session: HTTP %d %s", status, b)
	}
	check("401", b, "components", "responses", "Unauthenticated", "content", "application/json", "schema")
}
