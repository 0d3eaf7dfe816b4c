package session_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/identity/jwks"
	"github.com/ssegate/ssegate/gateway/session"
)

// teamLogin is another team's login service: it signs ES256 sessions with
// its current key and publishes its keys as a JWKS.
type teamLogin struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
}

func (l *teamLogin) publish(keys map[string]*ecdsa.PrivateKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = keys
}

func (l *teamLogin) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var set jwkset.JWKSMarshal
	for kid, k := range l.keys {
		j, err := jwkset.NewJWKFromKey(&k.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig, ALG: jwkset.AlgES256}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	_ = json.NewEncoder(w).Encode(set)
}

func teamToken(t *testing.T, key *ecdsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	base := jwt.MapClaims{
		"iss": "https://login.team.example", "aud": []string{"ssegate"}, "sub": "f81d4fae",
		"preferred_username": "ada", "roles": []string{"admin"}, "tenant": "acme",
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
	for k, v := range c {
		base[k] = v
	}
	return sign(t, jwt.SigningMethodES256, key, kid, base)
}

// TestCookieFromJWKSIssuer: the cookie path with another team's issuer,
// its keys from a JWKS URL. Its cookie becomes the principal with the user
// from preferred_username and the forwarded claims; a token with a kid
// published later is accepted at once; its login service sets the cookie
// through the session metadata as the demo's does.
func TestCookieFromJWKSIssuer(t *testing.T) {
	t.Parallel()
	k1, k2 := ecKey(t), ecKey(t)
	login := &teamLogin{keys: map[string]*ecdsa.PrivateKey{"k1": k1}}
	srv := httptest.NewServer(login)
	t.Cleanup(srv.Close)
	clock := clockwork.NewFakeClockAt(t0)
	keys, err := jwks.New(context.Background(), srv.URL+"/.well-known/jwks.json", identity.ES256, jwks.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	v := mustVerifier(t, identity.Config{
		Algorithm: identity.ES256, KeySet: keys,
		Issuer: "https://login.team.example", Audience: "ssegate",
		UserClaim: "preferred_username", Claims: []string{"roles", "tenant"},
	})
	m, err := session.NewMiddleware(v,
		session.WithCookieName("team_session"),
		session.WithPublicRoutes("POST /v1/login"),
		session.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}

	get := func(t *testing.T, cookie string, header http.Header) (*recorder, int) {
		t.Helper()
		rec := &recorder{}
		r := httptest.NewRequest("GET", "http://"+gwHost+"/v1/feeds/x:watch", nil)
		for k, vs := range header {
			r.Header[k] = vs
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "team_session", Value: cookie})
		}
		w := httptest.NewRecorder()
		m.Wrap(rec).ServeHTTP(w, r)
		return rec, w.Code
	}
	wantClaims := map[string]any{"roles": []any{"admin"}, "tenant": "acme"}

	// The steps run in order: the unknown-kid reads they cause are
	// limited in time, and the last steps count on that.

	t.Run("cookie", func(t *testing.T) {
		spoof := http.Header{"X-Ssegate-Claims": {`{"roles":["root"]}`}, "Grpc-Metadata-X-Ssegate-Claims": {`{"roles":["root"]}`}}
		rec, code := get(t, teamToken(t, k1, "k1", nil), spoof)
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		p := rec.principal.Load()
		if p == nil || p.Subject != "ada" || !reflect.DeepEqual(p.Claims, wantClaims) {
			t.Fatalf("principal %+v, want ada with %v", p, wantClaims)
		}
		if k := leakedIdentity(*rec.header.Load()); k != "" {
			t.Fatalf("client-sent %s reached the handler", k)
		}
	})
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"wrong audience", teamToken(t, k1, "k1", jwt.MapClaims{"aud": "other"})},
		{"user claim missing", teamToken(t, k1, "k1", jwt.MapClaims{"preferred_username": nil})},
		{"unpublished kid", teamToken(t, k2, "k2", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec, code := get(t, tc.token, nil); code != http.StatusUnauthorized || rec.calls.Load() != 0 {
				t.Fatalf("status %d, %d calls, want 401 and none", code, rec.calls.Load())
			}
		})
	}

	// The team rotates to k2. The read for the unpublished kid above was
	// a moment ago, so the JWKS is not read again before
	// jwks.UnknownKIDInterval has passed.
	login.publish(map[string]*ecdsa.PrivateKey{"k1": k1, "k2": k2})
	signedIn := teamToken(t, k2, "k2", nil)
	if _, code := get(t, signedIn, nil); code != http.StatusUnauthorized {
		t.Fatalf("k2 within the interval: status %d, want 401", code)
	}
	clock.Advance(jwks.UnknownKIDInterval)

	// Its login service signs Ada in: the gateway sets the cookie from
	// the response metadata, as for the demo's auth service.
	var fwdErr error
	login2 := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		md := metadata.Pairs(identity.MetadataSetSession, signedIn)
		fwdErr = m.ForwardSession(runtime.NewServerMetadataContext(r.Context(), runtime.ServerMetadata{HeaderMD: md}), w, nil)
	}))
	w := httptest.NewRecorder()
	login2.ServeHTTP(w, httptest.NewRequest("POST", "http://"+gwHost+"/v1/login", nil))
	if fwdErr != nil {
		t.Fatalf("ForwardSession: %v", fwdErr)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "team_session" || cookies[0].Value != signedIn || !cookies[0].HttpOnly {
		t.Fatalf("Set-Cookie %v, want team_session with the k2 token, HttpOnly", w.Result().Header.Values("Set-Cookie"))
	}
	rec, code := get(t, cookies[0].Value, nil)
	if p := rec.principal.Load(); code != http.StatusOK || p == nil || p.Subject != "ada" {
		t.Fatalf("with the new cookie: status %d, principal %+v", code, p)
	}
}
