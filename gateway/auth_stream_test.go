package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// signedIn stands in for the auth middleware: it puts a principal in the
// request context, as the middleware does after verifying the cookie.
func signedIn(p identity.Principal) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), p)))
		})
	}
}

// idle is a backend stream that sends headers and waits for the client.
func idle(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
	_ = grpc.SendHeader(s.Context(), metadata.MD{})
	<-s.Context().Done()
	return nil
}

func TestPerPrincipalStreamCap(t *testing.T) {
	t.Parallel()
	b := &backend{watch: idle}
	srv, gw := startGatewayGW(t, startBackend(t, b), signedIn(identity.Principal{Subject: "demo", Token: "t"}),
		gateway.WithMaxStreamsPerPrincipal(2))
	url := srv.URL + "/v1/jobs/j1/events"
	ctx1, cancel1 := context.WithCancel(t.Context())
	_, u1 := stream(t, ctx1, url, nil)
	u1.mustNext(t)
	_, u2 := stream(t, t.Context(), url, nil)
	u2.mustNext(t)

	// Over the cap, an SSE client is told to come back later; others get 429.
	if resp, u := stream(t, t.Context(), url, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("third SSE stream: status %d", resp.StatusCode)
	} else if got := u.rest(t); len(got) != 2 || !strings.HasPrefix(got[1], "event: reconnect\n") {
		t.Fatalf("third SSE stream: %q", got)
	}
	resp, _ := stream(t, t.Context(), url, http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var body struct{ Code, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != "RESOURCE_EXHAUSTED" {
		t.Fatalf("body %+v %v", body, err)
	}
	if calls := b.callCount(); calls != 2 {
		t.Fatalf("backend saw %d streams, want 2: the refused one must not reach it", calls)
	}

	cancel1() // closing one stream frees a place
	deadline := time.Now().Add(10 * time.Second)
	for gw.OpenStreams() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open after one closed", gw.OpenStreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, u3 := stream(t, t.Context(), url, nil)
	u3.mustNext(t)
	for b.callCount() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("backend saw %d streams, want 3 once a place was free", b.callCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionExpiryMidStream(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClock()
	cancelled := make(chan struct{})
	b := &backend{watch: func(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		close(cancelled)
		return nil
	}}
	p := identity.Principal{Subject: "demo", Token: "t", Expiry: clock.Now().Add(time.Minute)}
	srv := startGateway(t, startBackend(t, b), signedIn(p), gateway.WithClock(clock), gateway.WithHeartbeat(time.Hour))
	_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	u.mustNext(t)
	u.mustNext(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 2); err != nil { // heartbeat and expiry timers
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	got := u.rest(t)
	want := []string{"event: error\ndata: {\"code\":\"UNAUTHENTICATED\",\"message\":\"session expired\"}\n\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	select {
	case <-cancelled:
	case <-ctx.Done():
		t.Fatal("upstream not cancelled at expiry")
	}

	// A reconnect with the expired session is refused before any upstream call.
	calls := b.callCount()
	resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	if resp.StatusCode != http.StatusUnauthorized || b.callCount() != calls {
		t.Fatalf("reconnect: status %d, backend calls %d -> %d", resp.StatusCode, calls, b.callCount())
	}
}

// Client-sent credentials and identity headers never reach a backend;
// trace context and ordinary metadata do.
func TestUpstreamMetadata(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error { return nil }}
	srv := startGateway(t, startBackend(t, b), signedIn(identity.Principal{Subject: "demo", Token: "tok"}))
	h := http.Header{
		"Cookie":                           {"ssegate_session=secret"},
		"Authorization":                    {"Bearer spoofed"},
		"X-Ssegate-Token":                  {"spoofed"},
		"X-Ssegate-Identity":               {"spoofed"},
		"Traceparent":                      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Grpc-Metadata-X-Ssegate-Token":    {"spoofed"},
		"Grpc-Metadata-X-Ssegate-Identity": {"spoofed"},
		"Grpc-Metadata-Authorization":      {"spoofed"},
		"Grpc-Metadata-Trace":              {"kept"},
	}
	resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", h)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	md := b.lastMetadata()
	for k, v := range md {
		if strings.Contains(k, "cookie") || strings.Contains(k, "authorization") || strings.Contains(strings.Join(v, ","), "spoofed") {
			t.Errorf("credential or spoofed identity forwarded as metadata %q: %q", k, v)
		}
	}
	// Without gateway.WithIdentity there is no identity at all, and never
	// the session token.
	if got := md.Get(identity.MetadataIdentity); len(got) != 0 {
		t.Errorf("identity without WithIdentity: %q", got)
	}
	if got := md.Get("x-ssegate-token"); len(got) != 0 {
		t.Errorf("the session token reached the backend: %q", got)
	}
	if got := md.Get("traceparent"); len(got) != 1 || got[0] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		keys := []string{}
		for k := range md {
			keys = append(keys, k)
		}
		t.Errorf("traceparent not propagated: %q in %v", got, keys)
	}
	if got := md.Get("trace"); len(got) != 1 || got[0] != "kept" {
		t.Errorf("ordinary Grpc-Metadata header not forwarded: %q", got)
	}
}

// The gateway drops the browser's credentials on its own copy of the
// request: the caller's request, which a logging or tracing layer around
// the gateway may still read, keeps its headers.
func TestCallerRequestUnchanged(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error { return nil }}
	after := make(chan http.Header, 1)
	keep := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			after <- r.Header.Clone()
		})
	}
	srv := startGateway(t, startBackend(t, b), func(next http.Handler) http.Handler {
		return keep(signedIn(identity.Principal{Subject: "demo", Token: "tok"})(next))
	})
	h := http.Header{"Cookie": {"ssegate_session=secret"}, "Authorization": {"Bearer x"}}
	if resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", h); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := <-after
	if got.Get("Cookie") != "ssegate_session=secret" || got.Get("Authorization") != "Bearer x" {
		t.Fatalf("caller's request headers after ServeHTTP: %v", got)
	}
	for k := range b.lastMetadata() {
		if k == "cookie" || k == "authorization" {
			t.Fatalf("%s reached the backend", k)
		}
	}
}
