package thirdparty_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/ssegate/ssegate/gateway/openapi/openapitest"
)

// healthBackend is grpc-go's health service with server reflection and
// nothing else: a service this repository did not write.
type healthBackend struct {
	addr string
	*health.Server

	mu      sync.Mutex
	watches map[string]int // Watch calls by the service they watch
}

func startHealth(t testing.TB) *healthBackend {
	t.Helper()
	h := &healthBackend{Server: health.NewServer(), watches: map[string]int{}}
	h.addr = serveGRPC(t, func(s *grpc.Server) {
		healthpb.RegisterHealthServer(s, countingHealth{h})
		reflection.Register(s)
	})
	return h
}

// Watches is how many Watch calls asked for service.
func (h *healthBackend) Watches(service string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.watches[service]
}

// countingHealth counts the Watch calls of its backend and passes every
// call on to grpc-go's health server.
type countingHealth struct{ h *healthBackend }

func (c countingHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return c.h.Server.Check(ctx, req)
}

func (c countingHealth) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	return c.h.Server.List(ctx, req)
}

func (c countingHealth) Watch(req *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer) error {
	c.h.mu.Lock()
	c.h.watches[req.GetService()]++
	c.h.mu.Unlock()
	return c.h.Server.Watch(req, s)
}

// The issue's command line, as it is: `ssegate -upstream
// health=127.0.0.1:PORT -reflection -auth none` in front of a server that
// offers only health and reflection serves the health service's methods at
// their default routes, and documents them.
func TestHealthByReflection(t *testing.T) {
	t.Parallel()
	h := startHealth(t)
	// No heartbeat comes within the test, so the stream's bytes are
	// exactly the events.
	_, base := startGateway(t, gatewayBin(t), "-addr", "127.0.0.1:0",
		"-upstream", "health="+h.addr, "-reflection", "-auth", "none", "-heartbeat", "1h")
	c := newClient(t, base)

	t.Run("Watch streams each status change as an event", func(t *testing.T) {
		t.Parallel()
		const service = "acme.Inventory"
		s := openStream(t, c, "/grpc.health.v1.Health/Watch?service="+service, nil)
		if s.Res.StatusCode != 200 || s.Res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HTTP %d %s, want 200 text/event-stream", s.Res.StatusCode, s.Res.Header.Get("Content-Type"))
		}
		// The server sends the current status first, then one message
		// per change; each change waits for the event of the one before,
		// since grpc-go's health server keeps only the latest unsent one.
		want := ": ok\nretry: 3000\ndata: {\"status\":\"SERVICE_UNKNOWN\"}\n\n"
		changes := []healthpb.HealthCheckResponse_ServingStatus{
			healthpb.HealthCheckResponse_SERVING,
			healthpb.HealthCheckResponse_NOT_SERVING,
			healthpb.HealthCheckResponse_SERVING,
		}
		for i := 0; ; i++ {
			e, err := s.NextEvent()
			if err != nil {
				t.Fatalf("event %d: %v; so far:\n%s", i+1, err, s.Raw())
			}
			if e.ID != "" || e.Event != "" {
				t.Errorf("event %d: id %q, event %q, want an anonymous event without id", i+1, e.ID, e.Event)
			}
			if got := s.Raw(); got != want {
				t.Fatalf("after event %d the stream is\n%q\nwant\n%q", i+1, got, want)
			}
			if i == len(changes) {
				break
			}
			h.SetServingStatus(service, changes[i])
			want += `data: {"status":"` + changes[i].String() + "\"}\n\n"
		}
		if n := h.Watches(service); n != 1 {
			t.Errorf("the backend saw %d Watch calls for %s, want 1", n, service)
		}
	})

	t.Run("Check answers", func(t *testing.T) {
		t.Parallel()
		const service = "acme.Checked"
		h.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
		tests := []struct {
			name, body string
			status     int
			want       string
		}{
			{"serving", `{"service":"` + service + `"}`, 200, `{"status":"SERVING"}`},
			{"the server itself", `{}`, 200, `{"status":"SERVING"}`},
			{"unknown service", `{"service":"acme.Nope"}`, 404, `{"code":"NOT_FOUND","message":"unknown service"}`},
			{"not JSON", `{"service":`, 400, ``},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := call(t, c, "POST", "/grpc.health.v1.Health/Check", tt.body)
				if r.status != tt.status || (tt.want != "" && compact(r.body) != tt.want) {
					t.Errorf("POST Check %s: HTTP %d %s, want %d %s", tt.body, r.status, r.body, tt.status, tt.want)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
			})
		}
	})

	t.Run("the document lists the routes and validates", func(t *testing.T) {
		t.Parallel()
		r := call(t, c, "GET", "/openapi.json", "")
		if r.status != 200 {
			t.Fatalf("GET /openapi.json: HTTP %d %s", r.status, r.body)
		}
		// grpc-go's health.proto has List too, a unary method: every
		// method the server offers, each at its default route.
		want := map[string][]string{
			"/grpc.health.v1.Health/Check": {"post"},
			"/grpc.health.v1.Health/List":  {"post"},
			"/grpc.health.v1.Health/Watch": {"get"},
		}
		if got := operations(t, []byte(r.body)); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("paths and methods %v, want %v", got, want)
		}
		openapitest.ValidateDocument(t, []byte(r.body))
	})
}

// operations are the paths of an OpenAPI document with their methods,
// sorted.
func operations(t testing.TB, doc []byte) map[string][]string {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("the document: %v", err)
	}
	out := map[string][]string{}
	for path, item := range d.Paths {
		for method := range item {
			switch strings.ToLower(method) {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace", "query":
				out[path] = append(out[path], method)
			}
		}
		slices.Sort(out[path])
	}
	return out
}
