package session_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
)

// revoked is a fixed set of revoked session ids.
type revoked map[string]bool

func (r revoked) Revoked(session string) bool { return r[session] }

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
		session.WithRevocations(revoked{"gone": true}), session.WithPublicRoutes("GET /public"))
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
