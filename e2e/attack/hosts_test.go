package attack_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// port is the port of a host:port.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rebindingHosts are Host headers a page whose name re-resolved to
// loopback (DNS rebinding) sends, and look-alikes of loopback names.
func rebindingHosts(port string) []string {
	return []string{
		"evil.example", "evil.example:" + port, "127.0.0.1.nip.io:" + port, "0.0.0.0:" + port,
		"2130706433:" + port, "127.1:" + port, "evil.localhost:" + port, "localhost.evil.example:" + port,
	}
}

// DNS rebinding against the API, with a signed-in user's cookie: every
// request whose Host is not one the gateway serves is refused with 421,
// reads, writes and streams alike; the gateway's own names still work.
func rebindingAPI(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	p := port(t, s.a.Addr)
	for _, ok := range []string{s.a.Addr, "localhost:" + p} {
		if r := s.do(t, "GET", s.baseA+"/v1/jobs", "", withCookie(s.baseA, token, "Host", ok)); r.status != http.StatusOK {
			t.Fatalf("setup: GET /v1/jobs with Host %s: %v", ok, r)
		}
	}
	for _, host := range rebindingHosts(p) {
		origin := "http://" + host
		for _, req := range []struct{ method, path, body, accept string }{
			{"GET", "/v1/jobs", "", ""},
			{"POST", "/v1/jobs", `{"limit":1000}`, ""},
			{"GET", "/v1/logs/any/events?follow=true", "", "text/event-stream"},
			{"GET", "/docs", "", ""},
		} {
			h := withCookie(s.baseA, token, "Host", host, "Origin", origin)
			if req.accept != "" {
				h.Set("Accept", req.accept)
			}
			if r := s.do(t, req.method, s.baseA+req.path, req.body, h); r.status != http.StatusMisdirectedRequest {
				through(t, "%s %s with Host %s and Origin %s: %v, want 421", req.method, req.path, host, origin, r)
			}
		}
	}
}

// DNS rebinding to sign in with the demo's credentials: 421 and no cookie.
func rebindingSignIn(t *testing.T, s *system) {
	user := s.user(t)
	for _, host := range rebindingHosts(port(t, s.a.Addr)) {
		r := s.do(t, "POST", s.baseA+"/v1/sessions", credentials(user, user),
			header("Host", host, "Origin", "http://"+host))
		if r.status != http.StatusMisdirectedRequest || r.header.Get("Set-Cookie") != "" {
			through(t, "sign-in with Host %s: %v (Set-Cookie %q), want 421 without a cookie", host, r, r.header.Get("Set-Cookie"))
		}
	}
}

// DNS rebinding against the metrics listener on loopback: a page whose
// name re-resolved to 127.0.0.1 reads /metrics and the profiler, and
// /debug/pprof/cmdline holds the gateway's command line, flags such as
// -session-secret included. Refused unless the Host is a loopback name.
func rebindingMetrics(t *testing.T, s *system) {
	base := "http://" + s.metricsA
	if r := s.do(t, "GET", base+"/metrics", "", nil); r.status != http.StatusOK {
		t.Fatalf("setup: /metrics on the metrics listener: %v", r)
	}
	for _, host := range rebindingHosts(port(t, s.metricsA)) {
		for _, path := range []string{"/metrics", "/debug/pprof/cmdline"} {
			r := s.do(t, "GET", base+path, "", header("Host", host))
			if r.status == http.StatusOK {
				leak := ""
				if strings.Contains(r.body, sessionSecret) {
					leak = " (it holds the session secret)"
				}
				through(t, "GET %s on the metrics listener with Host %s: 200, %d bytes%s", path, host, len(r.body), leak)
			}
		}
	}
}

// /metrics and the profiler on the public port: not there (404 for a
// signed-in user; anonymous users get 401 or 404), and no metric or
// profile in any answer; on the metrics listener, on loopback, they are.
func opsEndpoints(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2", "/debug/vars"} {
		anon := s.do(t, "GET", s.baseA+path, "", nil)
		signed := s.do(t, "GET", s.baseA+path, "", withCookie(s.baseA, token))
		if anon.status != http.StatusNotFound && anon.status != http.StatusUnauthorized {
			through(t, "anonymous GET %s on the public port: %v, want 404 (or 401)", path, anon)
		}
		if signed.status != http.StatusNotFound {
			through(t, "signed-in GET %s on the public port: %v, want 404", path, signed)
		}
		for _, r := range []response{anon, signed} {
			if _, _, ok := errorBody(r.body); !ok || strings.Contains(r.body, "go_goroutines") || strings.Contains(r.body, "goroutine") {
				through(t, "GET %s on the public port answered more than a JSON error: %v", path, r)
			}
		}
	}
	if host, _, _ := net.SplitHostPort(s.metricsA); !net.ParseIP(host).IsLoopback() {
		through(t, "the metrics listener is on %s, not loopback", s.metricsA)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if r := s.do(t, "GET", "http://"+s.metricsA+path, "", nil); r.status != http.StatusOK {
			t.Fatalf("setup: GET %s on the metrics listener: %v, want 200", path, r)
		}
	}
}

// Cross-site requests with a signed-in user's cookie (CSRF): a
// state-changing POST or DELETE, a stream, and a sign-in (login CSRF)
// from another Origin, or from Origin null (a sandboxed frame), are
// refused with 403 and change nothing.
func crossSiteRequests(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	p := port(t, s.a.Addr)
	origins := []string{"http://evil.example", "null", "http://127.0.0.1:" + p + ".evil.example", "https://" + s.a.Addr, "http://localhost:" + p}
	for _, origin := range origins {
		h := func(kv ...string) http.Header {
			return withCookie(s.baseA, token, append([]string{"Origin", origin}, kv...)...)
		}
		if r := s.do(t, "POST", s.baseA+"/v1/jobs", `{"limit":1000}`, h()); r.status != http.StatusForbidden {
			through(t, "POST /v1/jobs from Origin %s: %v, want 403", origin, r)
		}
		if r := s.do(t, "DELETE", s.baseA+"/v1/sessions/current", "", h()); r.status != http.StatusForbidden {
			through(t, "DELETE /v1/sessions/current from Origin %s: %v, want 403", origin, r)
		}
		if r := s.do(t, "GET", s.baseA+"/v1/logs/any/events?follow=true", "", h("Accept", "text/event-stream")); r.status != http.StatusForbidden {
			through(t, "a stream from Origin %s: %v, want 403", origin, r)
		}
		other := s.user(t)
		r := s.do(t, "POST", s.baseA+"/v1/sessions", credentials(other, other), header("Origin", origin))
		if r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
			through(t, "sign-in from Origin %s: %v (Set-Cookie %q), want 403 without a cookie", origin, r, r.header.Get("Set-Cookie"))
		}
	}
	// Nothing changed: no job, and the session still works.
	r := s.do(t, "GET", s.baseA+"/v1/jobs", "", withCookie(s.baseA, token))
	if r.status != http.StatusOK || strings.Contains(r.body, `"id"`) {
		through(t, "%s's jobs after the cross-site POSTs: %v, want none", user, r)
	}
	if r := s.do(t, "GET", s.baseA+"/v1/jobs", "", withCookie(s.baseA, token, "Origin", s.baseA)); r.status != http.StatusOK {
		through(t, "the session after cross-site DELETEs, from its own Origin: %v, want 200", r)
	}
}

// CORS: another site's preflight and requests get no
// Access-Control-Allow-Origin (nor -Credentials), so its scripts read
// nothing.
func crossSiteReads(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	for _, r := range []response{
		s.do(t, "OPTIONS", s.baseA+"/v1/jobs", "", withCookie(s.baseA, token, "Origin", "http://evil.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")),
		s.do(t, "OPTIONS", s.baseA+"/v1/sessions", "", header("Origin", "http://evil.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")),
		s.do(t, "GET", s.baseA+"/v1/jobs", "", withCookie(s.baseA, token, "Origin", "http://evil.example")),
		s.do(t, "GET", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, token, "Origin", "null")),
	} {
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"} {
			if v := r.header.Get(k); v != "" {
				through(t, "a cross-site request got %s: %s (%v)", k, v, r)
			}
		}
	}
}

// Method override: a GET (which a cross-site link or top-level navigation
// sends with the Lax cookie and without an Origin check) that asks to be
// a DELETE, by query or header: the session is not signed out.
func methodOverride(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	for _, tr := range []struct{ path, header string }{
		{"/v1/sessions/current?_method=DELETE", ""},
		{"/v1/sessions/current?method=DELETE", ""},
		{"/v1/sessions/current", "X-HTTP-Method-Override"},
		{"/v1/sessions/current", "X-HTTP-Method"},
		{"/v1/sessions/current", "X-Method-Override"},
	} {
		h := withCookie(s.baseA, token)
		if tr.header != "" {
			h.Set(tr.header, "DELETE")
		}
		r := s.do(t, "GET", s.baseA+tr.path, "", h)
		if ck := r.header.Get("Set-Cookie"); ck != "" {
			through(t, "GET %s %s: DELETE: the answer sets %q", tr.path, tr.header, ck)
		}
	}
	// Given time to come back from the auth service, a revocation would
	// show here.
	if err := apptest.Eventually(2*time.Second, func() error {
		if r := s.do(t, "GET", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, token)); r.status != http.StatusOK {
			return fmt.Errorf("%v", r)
		}
		return errors.New("still signed in")
	}); err == nil || err.Error() != "still signed in" {
		through(t, "after GETs that ask to be DELETEs the session was signed out: %v", err)
	}
}
