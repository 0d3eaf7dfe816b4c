package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// TestAuthBeforeAnyUpstreamCall runs the real session middleware in front
// of the gateway and a backend that counts its streams: every refused
// request is answered before the backend is called.
func TestAuthBeforeAnyUpstreamCall(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("k", 32))
	cfg := identity.Config{Algorithm: identity.HS256, Secret: secret, Lifetime: time.Hour}
	issuer, err := identity.NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := session.NewMiddleware(verifier, session.WithAllowedOrigins("https://app.example"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		seen = append(seen, strings.Join(metadataOf(s.Context()).Get(identity.MetadataSubject), ","))
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), mw.Wrap, gateway.WithIdentity(newGatewayKey(t).minter))

	now := time.Now()
	good, _, err := issuer.Issue("demo", now)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, c jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(exp, nbf time.Time) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: "demo", Issuer: identity.DefaultIssuer, IssuedAt: jwt.NewNumericDate(now.Add(-2 * time.Hour)),
			ExpiresAt: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(nbf)}
	}
	valid := claims(now.Add(time.Hour), now.Add(-time.Hour))
	tests := []struct {
		name       string
		cookie     string // the session cookie's value; "-" sends no cookie
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{name: "no cookie", cookie: "-", wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "empty cookie", cookie: "", wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "garbage", cookie: "not-a-token", wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "wrong signature", cookie: sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "alg none", cookie: sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "wrong algorithm", cookie: sign(jwt.SigningMethodHS384, secret, valid), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "expired", cookie: sign(jwt.SigningMethodHS256, secret, claims(now.Add(-time.Hour), now.Add(-2*time.Hour))), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "not yet valid", cookie: sign(jwt.SigningMethodHS256, secret, claims(now.Add(2*time.Hour), now.Add(time.Hour))), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "oversized cookie", cookie: good + strings.Repeat("A", 5000), wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "foreign origin", cookie: good, header: http.Header{"Origin": {"https://evil.example"}}, wantStatus: 403, wantCode: "PERMISSION_DENIED"},
		{name: "spoofed identity headers", cookie: "-", header: http.Header{
			"Authorization": {"Bearer " + good}, "X-Ssegate-Token": {good}, "Grpc-Metadata-X-Ssegate-Token": {good},
			"X-Ssegate-Subject": {"demo"}}, wantStatus: 401, wantCode: "UNAUTHENTICATED"},
		{name: "valid", cookie: good, wantStatus: 204},
		{name: "valid, listed origin", cookie: good, header: http.Header{"Origin": {"https://app.example"}}, wantStatus: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.callCount()
			h := http.Header{}
			for k, v := range tt.header {
				h[k] = v
			}
			if tt.cookie != "-" {
				h.Set("Cookie", session.DefaultCookieName+"="+tt.cookie)
			}
			resp, _ := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", h)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCode == "" {
				if b.callCount() != before+1 || seen[len(seen)-1] != "demo" {
					t.Fatalf("backend calls %d -> %d, subjects %q", before, b.callCount(), seen)
				}
				return
			}
			var body struct{ Code, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != tt.wantCode {
				t.Fatalf("body %+v, %v", body, err)
			}
			if b.callCount() != before {
				t.Fatalf("an upstream stream was opened for a refused request")
			}
		})
	}
}
