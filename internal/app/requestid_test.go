package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/requestid"
	"github.com/ssegate/ssegate/gateway/server"
	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/gateway/upstream"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

// idBackend records the x-request-id metadata of every call.
type idBackend struct {
	authv1.UnimplementedAuthServiceServer
	logsv1.UnimplementedLogServiceServer
	mu  sync.Mutex
	ids [][]string
}

func (b *idBackend) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ids = append(b.ids, md.Get(requestid.MetadataKey))
}

func (b *idBackend) last() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids) == 0 {
		return nil
	}
	return b.ids[len(b.ids)-1]
}

func (b *idBackend) WhoAmI(ctx context.Context, _ *authv1.WhoAmIRequest) (*authv1.WhoAmIResponse, error) {
	b.record(ctx)
	return &authv1.WhoAmIResponse{Principal: &authv1.Principal{Username: "demo"}}, nil
}

func (b *idBackend) TailLogs(req *logsv1.TailLogsRequest, s grpc.ServerStreamingServer[logsv1.TailLogsResponse]) error {
	b.record(s.Context())
	return s.Send(&logsv1.TailLogsResponse{Name: req.GetName(), Offset: 1, Text: "hello"})
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every request gets its own id: in the response header, in the access log
// line, and in the metadata of its upstream call. Ids a client sends are
// neither forwarded nor echoed.
func TestRequestIDReachesHeaderLogAndBackend(t *testing.T) {
	t.Parallel()
	backend := &idBackend{}
	srv := grpc.NewServer()
	authv1.RegisterAuthServiceServer(srv, backend)
	logsv1.RegisterLogServiceServer(srv, backend)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	cfg := apptest.Config(t)
	cfg.LogLevel = "info"
	// A stream of its own: a shared upstream is the gateway's call, made
	// once for every browser, with no one request's id.
	cfg.StreamShare = []string{"/ssegate.logs.v1.LogService/TailLogs=none"}
	tokens, err := app.TokenConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identity.NewIssuer(tokens)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := issuer.Issue("demo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	addr := lis.Addr().String()
	gw, err := app.GatewayConfig(cfg, tokens.Secret, map[string]string{"auth": addr, "jobs": addr, "logs": addr})
	if err != nil {
		t.Fatal(err)
	}
	gw.Upstreams = slices.DeleteFunc(gw.Upstreams, func(u upstream.Config) bool { return u.Name == "jobs" })
	g, err := server.New(t.Context(), gw, server.NewLogger(gw, &logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(hs.Close)

	get := func(path, accept string) (string, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", hs.URL+path, nil)
		req.Header.Set("Cookie", session.DefaultCookieName+"="+token)
		req.Header.Set("Accept", accept)
		req.Header.Set("X-Request-Id", "spoofed")
		req.Header.Set("Grpc-Metadata-X-Request-Id", "spoofed")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, res.Status, body)
		}
		return res.Header.Get(requestid.Header), body
	}

	restID, _ := get("/v1/sessions/current", "application/json")
	if got := backend.last(); len(got) != 1 || got[0] != restID || restID == "spoofed" || restID == "" {
		t.Errorf("REST: header id %q, backend saw %q", restID, got)
	}
	streamID, body := get("/v1/logs/x/events", "text/event-stream")
	if got := backend.last(); len(got) != 1 || got[0] != streamID || streamID == restID || streamID == "spoofed" {
		t.Errorf("SSE: header id %q, backend saw %q (REST id %q)", streamID, got, restID)
	}
	if !bytes.Contains(body, []byte("event: end")) {
		t.Errorf("SSE body %q", body)
	}

	// The access log has one line per request, with its id.
	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader([]byte(logs.String())))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "http request" {
			id, _ := line[requestid.LogKey].(string)
			lines[id] = line
		}
	}
	if l := lines[restID]; l == nil || l["route"] != "/v1/sessions/current" || l["user"] != "demo" {
		t.Errorf("log line of the REST request: %v", l)
	}
	if l := lines[streamID]; l == nil || l["route"] != "/v1/logs/{name}/events" || l["stream"] != true || l["rpc"] != "/ssegate.logs.v1.LogService/TailLogs" {
		t.Errorf("log line of the stream: %v", l)
	}
}
