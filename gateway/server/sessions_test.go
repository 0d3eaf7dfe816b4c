package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/server"
)

var sessionsNow = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

const sessionsSecret = "0123456789abcdef0123456789abcdef"

// anyIssuer is the session config of a gateway in front of another team's
// login service: its issuer, an audience, the user in email, two claims
// forwarded.
func anyIssuer(alg string) config.Config {
	cfg := config.Default()
	cfg.SessionAlgorithm = alg
	cfg.SessionIssuer = "https://login.example.com"
	cfg.SessionAudience = "ssegate"
	cfg.SessionUserClaim = "email"
	cfg.SessionClaims = []string{"roles", "tenant"}
	return cfg
}

func signSession(t *testing.T, method jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": "https://login.example.com", "aud": "ssegate", "sub": "u-1", "email": "ada@example.com",
		"roles": []string{"admin"}, "tenant": "acme", "scope": "openid",
		"iat": sessionsNow.Unix(), "exp": sessionsNow.Add(time.Hour).Unix(),
	})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwksOf(t *testing.T, kid string, pub crypto.PublicKey) []byte {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVerifierFromConfig: each way of configuring sessions yields a
// verifier that accepts the other issuer's token, with the user from the
// configured claim and only the configured claims.
func TestVerifierFromConfig(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := writeFile(t, "ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	edJWKS := jwksOf(t, "ed1", edPub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(edJWKS) }))
	t.Cleanup(srv.Close)

	hs := anyIssuer(identity.HS256)
	hs.SessionSecret = sessionsSecret
	es := anyIssuer(identity.ES256)
	es.SessionVerificationKeys = []string{"ec1=" + ecPEM}
	edFile := anyIssuer(identity.EdDSA)
	edFile.SessionJWKS = writeFile(t, "jwks.json", edJWKS)
	edURL := anyIssuer(identity.EdDSA)
	edURL.SessionJWKS = srv.URL + "/jwks.json"

	for _, tc := range []struct {
		name  string
		cfg   config.Config
		token string
	}{
		{"HS256 secret", hs, signSession(t, jwt.SigningMethodHS256, []byte(sessionsSecret), "")},
		{"ES256 key file", es, signSession(t, jwt.SigningMethodES256, ec, "ec1")},
		{"EdDSA JWKS file", edFile, signSession(t, jwt.SigningMethodEdDSA, ed, "ed1")},
		{"EdDSA JWKS URL", edURL, signSession(t, jwt.SigningMethodEdDSA, ed, "ed1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, closer, err := server.Verifier(context.Background(), tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = closer.Close() })
			p, err := v.Verify(tc.token, sessionsNow)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"roles": []any{"admin"}, "tenant": "acme"}
			if p.Subject != "ada@example.com" || !reflect.DeepEqual(p.Claims, want) {
				t.Fatalf("principal %q with %v, want ada@example.com with %v", p.Subject, p.Claims, want)
			}
			other := tc.cfg
			other.SessionAudience = "another-api"
			ov, oc, err := server.Verifier(context.Background(), other, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = oc.Close() })
			if _, err := ov.Verify(tc.token, sessionsNow); !errors.Is(err, identity.ErrTokenInvalid) {
				t.Fatalf("other audience: %v, want ErrTokenInvalid", err)
			}
		})
	}
}

func TestVerifierErrors(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	jwksDown := anyIssuer(identity.RS256)
	jwksDown.SessionJWKS = downURL + "/jwks.json"
	keyMissing := anyIssuer(identity.ES256)
	keyMissing.SessionVerificationKeys = []string{"k=" + filepath.Join(t.TempDir(), "none.pem")}
	none := config.Default()
	none.Auth = config.AuthNone

	for _, tc := range []struct {
		name, want string
		cfg        config.Config
	}{
		{"JWKS unreachable", "session-jwks", jwksDown},
		{"key file missing", "session-verification-keys", keyMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := server.Verifier(context.Background(), tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	v, closer, err := server.Verifier(context.Background(), none, nil)
	if err != nil || v != nil || closer == nil {
		t.Fatalf("-auth none: %v, %v, %v", v, closer, err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifierCloseStopsRefreshes is not parallel: it checks that no
// goroutine of the JWKS refreshes outlives the closer.
func TestVerifierCloseStopsRefreshes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := jwksOf(t, "ed1", edPub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	cfg := anyIssuer(identity.EdDSA)
	cfg.SessionJWKS = srv.URL
	_, closer, err := server.Verifier(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}
