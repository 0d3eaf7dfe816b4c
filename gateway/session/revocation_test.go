package session_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/revocation"
	"github.com/ssegate/ssegate/gateway/session"
)

// revokedSet is a revocation set that holds ids until long after t0.
func revokedSet(ids ...string) *revocation.Set {
	set := revocation.NewSet(clockwork.NewFakeClockAt(t0))
	for _, id := range ids {
		set.Revoke(id, t0.Add(time.Hour))
	}
	return set
}

// A revoked session's cookie is refused with 401 "session ended", on a
// public route it counts as no session, and beside another cookie of a
// live session it does not lock the user out.
func TestRevokedSessionRefused(t *testing.T) {
	t.Parallel()
	withSID := func(sid string) string {
		c := claims(t0)
		c["sid"] = sid
		return sign(t, jwt.SigningMethodHS256, testSecret, "", c)
	}
	gone, live := withSID("gone"), withSID("live")
	m, err := session.NewMiddleware(mustVerifier(t, hsConfig()), session.WithClock(func() time.Time { return t0 }),
		session.WithRevocations(revokedSet("gone")), session.WithPublicRoutes("GET /public"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		cookies []string
		status  int
		message string
		session string // the principal's, "" for none
	}{
		{name: "revoked", path: "/private", cookies: []string{gone}, status: 401, message: "session ended"},
		{name: "live", path: "/private", cookies: []string{live}, status: 200, session: "live"},
		{name: "revoked beside live", path: "/private", cookies: []string{gone, live}, status: 200, session: "live"},
		{name: "revoked on a public route", path: "/public", cookies: []string{gone}, status: 200},
		{name: "no sid: nothing to revoke", path: "/private", cookies: []string{sign(t, jwt.SigningMethodHS256, testSecret, "", claims(t0))}, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen *identity.Principal
			h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p, ok := identity.FromContext(r.Context()); ok {
					seen = &p
				}
			}))
			r := httptest.NewRequest("GET", tc.path, nil)
			for _, c := range tc.cookies {
				r.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.message != "" {
				var body struct{ Code, Message string }
				if err := json.NewDecoder(w.Body).Decode(&body); err != nil || body.Code != "UNAUTHENTICATED" || body.Message != tc.message {
					t.Fatalf("body %+v (%v), want UNAUTHENTICATED %q", body, err, tc.message)
				}
			}
			switch {
			case tc.session == "" && seen != nil && seen.Session != "":
				t.Fatalf("principal of session %q, want none", seen.Session)
			case tc.session != "" && (seen == nil || seen.Session != tc.session):
				t.Fatalf("principal %+v, want session %q", seen, tc.session)
			}
		})
	}
}

// A sign-out this gateway answers revokes the session here at once: a copy
// of its cookie sent right after is refused, without waiting for the
// issuer's revocation to come back through the watch.
func TestSignOutRevokesAtOnce(t *testing.T) {
	t.Parallel()
	c := claims(t0)
	c["sid"] = "s1"
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", c)
	set := revokedSet()
	m, err := session.NewMiddleware(mustVerifier(t, hsConfig()), session.WithClock(func() time.Time { return t0 }),
		session.WithRevocations(set))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			return
		}
		md := metadata.Pairs(identity.MetadataClearSession, "1")
		if err := m.ForwardSession(runtime.NewServerMetadataContext(r.Context(), runtime.ServerMetadata{HeaderMD: md}), w, nil); err != nil {
			t.Error(err)
		}
	}))
	send := func(method string) int {
		r := httptest.NewRequest(method, "/v1/sessions/current", nil)
		r.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: tok})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := send(http.MethodGet); code != http.StatusOK {
		t.Fatalf("before the sign-out: status %d", code)
	}
	if code := send(http.MethodDelete); code != http.StatusOK {
		t.Fatalf("sign-out: status %d", code)
	}
	if !set.Revoked("s1") {
		t.Error("the signed-out session is not in the revocation set")
	}
	if code := send(http.MethodGet); code != http.StatusUnauthorized {
		t.Fatalf("the cookie replayed after the sign-out: status %d, want 401", code)
	}
}
