package gateway_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// gatewayKey is a gateway's identity signing key, and what its upstreams
// verify with: the public key alone.
type gatewayKey struct {
	minter *identity.Minter
	public crypto.PublicKey
}

func newGatewayKey(t *testing.T) gatewayKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: key, SigningKeyID: "gw",
		Issuer: "ssegate", Lifetime: identity.DefaultIdentityLifetime})
	if err != nil {
		t.Fatal(err)
	}
	m, err := identity.NewMinter(issuer, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return gatewayKey{minter: m, public: key.Public()}
}

// verify verifies md's identity token as the upstream named aud does.
func (k gatewayKey) verify(t *testing.T, md metadata.MD, aud string, claims ...string) (identity.Principal, error) {
	t.Helper()
	v, err := identity.NewVerifier(identity.Config{Algorithm: identity.ES256, Issuer: "ssegate", Audience: aud,
		VerificationKeys: map[string]crypto.PublicKey{"gw": k.public}, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	tok := md.Get(identity.MetadataIdentity)
	if len(tok) != 1 {
		t.Fatalf("identity metadata %q, want one token", tok)
	}
	return v.Verify(tok[0], time.Now())
}

// Every upstream call, SSE and REST, carries an identity token the
// gateway signed for that upstream (the audience it was registered with)
// holding the user, the session id and the forwarded claims; never the
// session token, the cookie or the claims beside it.
func TestUpstreamIdentityToken(t *testing.T) {
	t.Parallel()
	key := newGatewayKey(t)
	session := "eyJhbGciOiJIUzI1NiJ9.session-token-the-browser-holds.sig"
	p := identity.Principal{Subject: "ada", Token: session, Session: "s1", Expiry: time.Now().Add(time.Hour),
		Claims: map[string]any{"tenant": "acme"}}
	b := &backend{watch: func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error { return nil }}
	conn := startBackend(t, b)
	gw, err := gateway.New(gateway.WithHeaderWait(5*time.Second), gateway.WithIdentity(key.minter))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := gw.Register(ctx, jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0), conn, nil, gateway.Audience("jobs")); err != nil {
		t.Fatal(err)
	}
	// Registered without an audience: the service's full name.
	if err := gw.Register(ctx, logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0), conn, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(signedIn(p)(gw))
	t.Cleanup(srv.Close)
	b.tail = func(*logsv1.TailLogsRequest, logsv1.LogService_TailLogsServer) error { return nil }

	for _, tc := range []struct {
		name, path, accept, audience string
	}{
		{"SSE", "/v1/jobs/j1/events", "text/event-stream", "jobs"},
		{"NDJSON", "/v1/jobs/j1/events", "application/json", "jobs"},
		{"REST", "/v1/jobs/j1", "application/json", "jobs"},
		{"default audience", "/v1/logs/l1/events", "text/event-stream", "ssegate.logs.v1.LogService"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tc.path, nil)
			req.Header.Set("Accept", tc.accept)
			req.Header.Set("Cookie", "ssegate_session="+session)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode >= 300 {
				t.Fatalf("status %d", res.StatusCode)
			}
			md := b.lastMetadata()
			got, err := key.verify(t, md, tc.audience, "tenant")
			if err != nil {
				t.Fatalf("the upstream cannot verify its identity token: %v", err)
			}
			if got.Subject != "ada" || got.Session != "s1" || got.Claims["tenant"] != "acme" || got.Actor != "" {
				t.Errorf("identity token names %+v", got)
			}
			if lifetime := time.Until(got.Expiry); lifetime > identity.DefaultIdentityLifetime {
				t.Errorf("identity token valid for %v, want minutes", lifetime)
			}
			if _, err := key.verify(t, md, "auth"); err == nil {
				t.Error("another upstream accepts the token")
			}
			if sub := md.Get(identity.MetadataSubject); len(sub) != 1 || sub[0] != "ada" {
				t.Errorf("subject metadata %q", sub)
			}
			for k, vs := range md {
				for _, v := range vs {
					if strings.Contains(v, session) || strings.Contains(v, "session-token") {
						t.Errorf("the session token reached the upstream in %s", k)
					}
				}
				if k == "cookie" || k == "x-ssegate-token" || k == "x-ssegate-claims" {
					t.Errorf("upstream metadata has %s: %q", k, vs)
				}
			}
		})
	}
}

// A public route without a session calls its upstream without identity.
func TestNoIdentityWithoutPrincipal(t *testing.T) {
	t.Parallel()
	key := newGatewayKey(t)
	b := &backend{watch: func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error { return nil }}
	srv := startGateway(t, startBackend(t, b), nil, gateway.WithIdentity(key.minter))
	resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if md := b.lastMetadata(); len(md.Get(identity.MetadataIdentity)) != 0 || len(md.Get(identity.MetadataSubject)) != 0 {
		t.Fatalf("identity without a principal: %v", md)
	}
	if _, err := gateway.New(gateway.WithIdentity(nil)); err == nil {
		t.Error("WithIdentity(nil) accepted")
	}
}
