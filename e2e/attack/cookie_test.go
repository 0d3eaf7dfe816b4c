package attack_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/internal/app"
)

// setCookie is the session cookie an answer from base sets, parsed, and
// its raw header.
func setCookie(t *testing.T, base string, r response) (*http.Cookie, string) {
	t.Helper()
	for _, line := range r.header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err == nil && strings.HasSuffix(ck.Name, "ssegate_session") {
			return ck, line
		}
	}
	t.Fatalf("setup: %v without a session cookie (Set-Cookie %q)", r, r.header.Values("Set-Cookie"))
	return nil, ""
}

// checkFlags fails t for a session cookie from base that a browser would
// send where it must not, or let scripts read: under TLS it is
// __Host-prefixed and Secure (no Domain, Path=/, so browsers keep it to
// this origin over HTTPS); always HttpOnly and SameSite.
func checkFlags(t *testing.T, base, what string, ck *http.Cookie, raw string) {
	t.Helper()
	tls := strings.HasPrefix(base, "https:")
	switch {
	case tls && (ck.Name != "__Host-ssegate_session" || !ck.Secure):
		through(t, "%s under TLS: %q, want the __Host- prefix and Secure", what, raw)
	case ck.Path != "/" || ck.Domain != "" || strings.Contains(strings.ToLower(raw), "domain="):
		through(t, "%s: %q, want Path=/ and no Domain", what, raw)
	case !ck.HttpOnly || (ck.SameSite != http.SameSiteLaxMode && ck.SameSite != http.SameSiteStrictMode):
		through(t, "%s: %q, want HttpOnly and SameSite Lax or Strict", what, raw)
	}
}

// The session cookie under TLS: named __Host-, Secure, Path=/, no
// Domain, HttpOnly, SameSite, not cached; the sign-out clears it with the
// same name and flags (a browser ignores a __Host- cookie set without
// them, and would keep the old one); and the plain name, which a
// sibling subdomain or a plain-HTTP page could set (cookie tossing), is
// not taken for it.
func tlsCookie(t *testing.T, s *system) {
	user := s.user(t)
	in, _ := s.signInAnswer(t, s.baseTLS, user)
	ck, raw := setCookie(t, s.baseTLS, in)
	checkFlags(t, s.baseTLS, "the sign-in's Set-Cookie", ck, raw)
	if in.header.Get("Cache-Control") != "no-store" {
		through(t, "the sign-in answer may be cached: Cache-Control %q", in.header.Get("Cache-Control"))
	}
	if r := s.do(t, "GET", s.baseTLS+"/v1/jobs", "", header("Cookie", "ssegate_session="+ck.Value)); r.status != http.StatusUnauthorized {
		through(t, "the token under the unprefixed name ssegate_session over TLS: %v, want 401", r)
	}
	out := s.do(t, "DELETE", s.baseTLS+"/v1/sessions/current", "", withCookie(s.baseTLS, ck.Value))
	cleared, raw := setCookie(t, s.baseTLS, out)
	checkFlags(t, s.baseTLS, "the sign-out's Set-Cookie", cleared, raw)
	if cleared.Value != "" || cleared.MaxAge >= 0 {
		through(t, "the sign-out's Set-Cookie does not clear the cookie: %q", raw)
	}
}

// The same over plain HTTP, where Secure cannot be: HttpOnly, SameSite,
// Path=/, no Domain, no caching.
func httpCookie(t *testing.T, s *system) {
	user := s.user(t)
	in, _ := s.signInAnswer(t, s.baseA, user)
	ck, raw := setCookie(t, s.baseA, in)
	checkFlags(t, s.baseA, "the sign-in's Set-Cookie", ck, raw)
	if in.header.Get("Cache-Control") != "no-store" {
		through(t, "the sign-in answer may be cached: Cache-Control %q", in.header.Get("Cache-Control"))
	}
}

// forgedCookie is a session token an attacker makes.
type forgedCookie struct {
	name  string
	token func(t *testing.T, s *system, real, victim string) string
}

func hs256(t *testing.T, secret string, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sessionClaims are the claims of a session token as the auth service
// writes them.
func sessionClaims(victim string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": identity.DefaultIssuer, "sub": victim, "sid": "forgedsession",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

var forgedCookies = []forgedCookie{
	{"another user's name in a real token's payload, its signature kept", func(t *testing.T, s *system, real, victim string) string {
		parts := strings.Split(real, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		c["sub"] = victim
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}},
	{"alg none", func(t *testing.T, s *system, _, victim string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims(victim)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}},
	{"alg none without the final dot", func(t *testing.T, s *system, _, victim string) string {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims(victim)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return strings.TrimSuffix(tok, ".")
	}},
	{"HS256 with the apptest helpers' secret", func(t *testing.T, s *system, _, victim string) string {
		return hs256(t, "apptest-secret-apptest-secret-apptest", sessionClaims(victim))
	}},
	{"HS256 with 32 's' (the api tests' secret)", func(t *testing.T, s *system, _, victim string) string {
		return hs256(t, strings.Repeat("s", 32), sessionClaims(victim))
	}},
	{"HS256 with 'secret'", func(t *testing.T, s *system, _, victim string) string {
		return hs256(t, "secret", sessionClaims(victim))
	}},
	{"the real secret's token, expired an hour ago (a stolen old cookie)", func(t *testing.T, s *system, _, victim string) string {
		iss, err := identity.NewIssuer(identity.Config{Secret: []byte(sessionSecret)})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := iss.Issue(victim, time.Now().Add(-identity.DefaultLifetime-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}},
	{"a gateway's identity token for a backend, replayed as the cookie", func(t *testing.T, s *system, _, victim string) string {
		tok, err := s.keys.Gateway.Token(identity.Principal{Subject: victim}, app.LogsService)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}},
	{"5,000 bytes of garbage", func(t *testing.T, s *system, _, _ string) string {
		return strings.Repeat("A", 5000)
	}},
}

// Made-up and tampered session cookies: refused (401) for REST and SSE,
// while the real one passes.
func forgedSessionCookies(t *testing.T, s *system) {
	_, _, real := s.signIn(t, s.baseA)
	victim := s.user(t)
	if r := s.do(t, "GET", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, real)); r.status != http.StatusOK {
		t.Fatalf("setup: the real cookie: %v", r)
	}
	for _, f := range forgedCookies {
		tok := f.token(t, s, real, victim)
		if r := s.do(t, "GET", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, tok)); r.status != http.StatusUnauthorized {
			through(t, "a cookie with %s, REST: %v, want 401", f.name, r)
		}
		r := s.do(t, "GET", s.baseA+"/v1/logs/any/events?follow=true", "", withCookie(s.baseA, tok, "Accept", "text/event-stream"))
		if r.status != http.StatusUnauthorized {
			through(t, "a cookie with %s, SSE: %v, want 401", f.name, r)
		}
	}
}
