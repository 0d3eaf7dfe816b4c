package thirdparty_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ssegate/ssegate/internal/apptest"
)

// healthRoutes are the default routes of grpc.health.v1.Health.
var healthRoutes = map[string][]string{
	"/grpc.health.v1.Health/Check": {"post"},
	"/grpc.health.v1.Health/List":  {"post"},
	"/grpc.health.v1.Health/Watch": {"get"},
}

const (
	reloadedMsg = "reloaded"
	refusedMsg  = "reload refused: the routes being served stay"
)

// logLine is one JSON log line of the gateway.
type logLine struct{ Msg, Err string }

// reloads are the gateway's log lines of reloads done and refused.
func reloads(stderr string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && (l.Msg == reloadedMsg || l.Msg == refusedMsg) {
			out = append(out, l)
		}
	}
	return out
}

// sighup sends SIGHUP to p and returns the reload's log line.
func sighup(t *testing.T, p *apptest.Process) logLine {
	t.Helper()
	n := len(reloads(p.Stderr()))
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var l []logLine
	// Only a wait for the line: a reload by reflection of an unreachable
	// upstream takes its 10 s timeout.
	if err := apptest.Eventually(30*time.Second, func() error {
		if l = reloads(p.Stderr()); len(l) > n {
			return nil
		}
		return errors.New("no reload log line")
	}); err != nil {
		t.Fatalf("%v after SIGHUP:\n%s", err, p.Stderr())
	}
	return l[n]
}

// SIGHUP re-reads the config file and its descriptors and swaps the routes
// while a stream stays open on its connection; a reload that fails is
// refused with a log line and the routes being served stay.
func TestReload(t *testing.T) {
	t.Parallel()
	set := buildDescriptorSet(t)
	h, g := startHealth(t), startGreeter(t, set, false)
	dir := t.TempDir()
	healthOnly := "addr: 127.0.0.1:0\nauth: none\nheartbeat: 1h\nupstreams:\n" +
		"  - name: health\n    addrs: [" + h.addr + "]\n    reflection: true\n"
	withGreeter := healthOnly + "  - name: greeter\n    addrs: [" + g.addr + "]\n    descriptor_set: " + set + "\n"
	cfg := writeFile(t, dir, "ssegate.yaml", healthOnly)
	p, base := startGateway(t, gatewayBin(t), "-config", cfg)
	c := newClient(t, base)

	const service = "acme.Reloaded"
	s := openStream(t, c, "/grpc.health.v1.Health/Watch?service="+service, nil)
	wantStream := ": ok\nretry: 3000\ndata: {\"status\":\"SERVICE_UNKNOWN\"}\n\n"
	statuses := []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING}
	changes := 0
	// streamGoesOn checks that the open stream has received everything so
	// far, then changes the status and reads the event of that change.
	streamGoesOn := func(t *testing.T, when string) {
		t.Helper()
		if changes > 0 {
			st := statuses[changes%2]
			h.SetServingStatus(service, st)
			wantStream += `data: {"status":"` + st.String() + "\"}\n\n"
		}
		changes++
		if _, err := s.NextEvent(); err != nil {
			t.Fatalf("%s: the open stream: %v; so far:\n%s", when, err, s.Raw())
		}
		if got := s.Raw(); got != wantStream {
			t.Fatalf("%s: the open stream is\n%q\nwant\n%q", when, got, wantStream)
		}
		if n := h.Watches(service); n != 1 {
			t.Fatalf("%s: the backend saw %d Watch calls for %s, want 1: the stream reconnected", when, n, service)
		}
	}
	// serves checks the routes that answer and the document, or with docs
	// off that there is none.
	serves := func(t *testing.T, when string, greeter, docs bool) {
		t.Helper()
		want := maps.Clone(healthRoutes)
		greet := call(t, c, "POST", "/v1/greetings", `{"name":"Ada"}`)
		if greeter {
			maps.Copy(want, greeterRoutes)
			if greet.status != 200 || compact(greet.body) != `{"message":"Hello, Ada!"}` {
				t.Errorf("%s: POST /v1/greetings: HTTP %d %s, want 200", when, greet.status, greet.body)
			}
		} else if greet.status != 404 {
			t.Errorf("%s: POST /v1/greetings: HTTP %d %s, want 404", when, greet.status, greet.body)
		}
		if r := call(t, c, "POST", "/grpc.health.v1.Health/Check", `{}`); r.status != 200 || compact(r.body) != `{"status":"SERVING"}` {
			t.Errorf("%s: POST Check: HTTP %d %s, want 200", when, r.status, r.body)
		}
		doc, page := call(t, c, "GET", "/openapi.json", ""), call(t, c, "GET", "/docs", "")
		switch {
		case !docs:
			if doc.status != 404 || page.status != 404 {
				t.Errorf("%s, docs off: GET /openapi.json: HTTP %d, GET /docs: HTTP %d, want 404 and 404", when, doc.status, page.status)
			}
		case doc.status != 200 || page.status != 200:
			t.Errorf("%s: GET /openapi.json: HTTP %d, GET /docs: HTTP %d, want 200 and 200", when, doc.status, page.status)
		default:
			if got := operations(t, []byte(doc.body)); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s: the document lists %v, want %v", when, got, want)
			}
		}
	}

	streamGoesOn(t, "at start")
	serves(t, "at start", false, true)

	writeFile(t, dir, "ssegate.yaml", withGreeter)
	if l := sighup(t, p); l.Msg != reloadedMsg {
		t.Fatalf("adding the greeter: %s: %s", l.Msg, l.Err)
	}
	serves(t, "after adding the greeter", true, true)
	streamGoesOn(t, "after adding the greeter")

	garbage := writeFile(t, dir, "garbage.binpb", "not a descriptor set")
	unreachable := freeAddr(t)
	refused := []struct {
		name, config string
		wantErr      string // in the refusal's err
	}{
		{"a descriptor set that does not resolve",
			healthOnly + "  - name: greeter\n    addrs: [" + g.addr + "]\n    descriptor_set: " + garbage + "\n",
			`upstream "greeter": descriptor set ` + garbage + ": descriptors do not resolve: not a FileDescriptorSet"},
		{"an unreachable upstream",
			withGreeter + "  - name: gone\n    addrs: [" + unreachable + "]\n    reflection: true\n",
			`upstream "gone": unreachable`},
		{"two upstreams with one service",
			withGreeter + "  - name: greeter-again\n    addrs: [" + g.addr + "]\n    descriptor_set: " + set + "\n",
			`upstream "greeter-again": ` + greeterService + `: upstream "greeter" serves it too`},
		// Without a document to build, nothing else would notice.
		{"two upstreams with one service, docs off",
			withGreeter + "  - name: greeter-again\n    addrs: [" + g.addr + "]\n    descriptor_set: " + set + "\ndocs: false\n",
			`upstream "greeter-again": ` + greeterService + `: upstream "greeter" serves it too`},
		{"a file that does not parse", withGreeter + "upstreams: [\n", "config file " + cfg},
		{"a bad setting", withGreeter + "heartbeat: soon\n", `heartbeat: "soon" is not a duration`},
	}
	for _, tt := range refused {
		writeFile(t, dir, "ssegate.yaml", tt.config)
		if l := sighup(t, p); l.Msg != refusedMsg || !strings.Contains(l.Err, tt.wantErr) {
			t.Errorf("%s: log %q, err %q; want %q with %q", tt.name, l.Msg, l.Err, refusedMsg, tt.wantErr)
		}
		serves(t, "after "+tt.name, true, true)
		streamGoesOn(t, "after "+tt.name)
	}

	// Docs off and on again, as the reload's doc says.
	writeFile(t, dir, "ssegate.yaml", withGreeter+"docs: false\n")
	if l := sighup(t, p); l.Msg != reloadedMsg {
		t.Fatalf("turning docs off: %s: %s", l.Msg, l.Err)
	}
	serves(t, "after turning docs off", true, false)
	streamGoesOn(t, "after turning docs off")

	// And back: the greeter's routes go, the docs come back, the stream
	// stays.
	writeFile(t, dir, "ssegate.yaml", healthOnly)
	if l := sighup(t, p); l.Msg != reloadedMsg {
		t.Fatalf("removing the greeter: %s: %s", l.Msg, l.Err)
	}
	serves(t, "after removing the greeter", false, true)
	streamGoesOn(t, "after removing the greeter")
	if _, exited := p.Wait(0); exited {
		t.Fatalf("the gateway exited:\n%s", p.Stderr())
	}
}

// freeAddr is a 127.0.0.1 address where nothing listens.
func freeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
