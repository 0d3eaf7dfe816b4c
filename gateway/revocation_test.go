package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/revocation"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// bySession stands in for the session middleware: the principal is named
// by the X-Test-Session header, one session each.
func bySession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := r.Header.Get("X-Test-Session")
		p := identity.Principal{Subject: "demo", Token: "t-" + sid, Session: sid}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), p)))
	})
}

// A revoked session's open streams end at once, an SSE stream with an
// UNAUTHENTICATED error event, its upstream call cancelled; the streams
// of the user's other sessions go on.
func TestRevokedSessionStreamsEnd(t *testing.T) {
	t.Parallel()
	cancelled := make(chan string, 4)
	b := &backend{watch: func(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 2))
		<-s.Context().Done()
		cancelled <- req.GetId()
		return nil
	}}
	set := revocation.NewSet(clockwork.NewRealClock())
	srv := startGateway(t, startBackend(t, b), bySession, gateway.WithRevocations(set), gateway.WithHeartbeat(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, ended := stream(t, ctx, srv.URL+"/v1/jobs/j1/events", http.Header{"X-Test-Session": {"s1"}})
	_, other := stream(t, ctx, srv.URL+"/v1/jobs/j2/events", http.Header{"X-Test-Session": {"s2"}})
	for _, u := range []*units{ended, other} {
		u.mustNext(t) // : ok
		u.mustNext(t) // the progress event
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/jobs/j3/events", nil)
	req.Header.Set("X-Test-Session", "s1")
	ndjson, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ndjson.Body.Close()
	buf := make([]byte, 1)
	if _, err := ndjson.Body.Read(buf); err != nil { // its first message is out
		t.Fatal(err)
	}

	set.Revoke("s1", time.Now().Add(time.Hour))
	want := "event: error\ndata: {\"code\":\"UNAUTHENTICATED\",\"message\":\"session ended\"}\n\n"
	if got := ended.rest(t); strings.Join(got, "") != want {
		t.Fatalf("the revoked session's stream: %q, want %q", got, want)
	}
	if _, err := io.ReadAll(ndjson.Body); err != nil {
		t.Fatalf("the revoked session's NDJSON stream: %v", err)
	}
	got := map[string]bool{<-cancelled: true, <-cancelled: true}
	if !got["j1"] || !got["j3"] {
		t.Fatalf("upstream calls cancelled: %v, want j1 and j3", got)
	}
	select {
	case id := <-cancelled:
		t.Fatalf("the stream of another session (%s) was cancelled", id)
	default:
	}
	// A stream of the revoked session opened now ends at once too.
	_, late := stream(t, ctx, srv.URL+"/v1/jobs/j4/events", http.Header{"X-Test-Session": {"s1"}})
	if rest := strings.Join(late.rest(t), ""); !strings.HasSuffix(rest, want) {
		t.Fatalf("a new stream of the revoked session: %q", rest)
	}
	if _, err := gateway.New(gateway.WithRevocations(nil)); err == nil {
		t.Error("WithRevocations(nil) accepted")
	}
}
