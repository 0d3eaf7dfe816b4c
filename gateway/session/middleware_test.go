package session_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
)

const (
	gwHost    = "gw.example.com"
	appOrigin = "https://app.example.com"
	devOrigin = "http://localhost:5173"
)

// recorder is the downstream handler: it counts calls and keeps what it saw.
type recorder struct {
	calls     atomic.Int32
	principal atomic.Pointer[identity.Principal]
	header    atomic.Pointer[http.Header]
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.calls.Add(1)
	if p, ok := identity.FromContext(r.Context()); ok {
		rec.principal.Store(&p)
	}
	h := r.Header.Clone()
	rec.header.Store(&h)
	w.WriteHeader(http.StatusOK)
}

func newMiddleware(t testing.TB, opts ...session.Option) *session.Middleware {
	t.Helper()
	base := []session.Option{
		session.WithAllowedOrigins(appOrigin, devOrigin),
		session.WithPublicRoutes(append(session.DefaultPublicRoutes(), "GET /static/*", "POST /v1/sessions", "DELETE /v1/sessions/current", "GET /")...),
		session.WithClock(func() time.Time { return t0 }),
	}
	m, err := session.NewMiddleware(mustVerifier(t, hsConfig()), append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewMiddleware: %v", err)
	}
	return m
}

// leakedIdentity returns the first header in h that names an identity or
// carries credentials.
func leakedIdentity(h http.Header) string {
	for k := range h {
		l := strings.ToLower(k)
		l = strings.TrimPrefix(l, "grpc-metadata-")
		if l == "authorization" || l == "proxy-authorization" || l == "cookie" || strings.HasPrefix(l, "x-ssegate-") {
			return k
		}
	}
	return ""
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	iss := mustIssuer(t, hsConfig())
	valid := mustIssue(t, iss, "demo", t0)
	c := claims(t0)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }
	cookie := func(v string) string { return session.DefaultCookieName + "=" + v }
	spoofed := map[string][]string{
		"Authorization":                    {"Bearer x"},
		"Proxy-Authorization":              {"Basic eA=="},
		"X-Ssegate-Token":                  {valid},
		"X-Ssegate-Subject":                {"ops"},
		"Grpc-Metadata-X-Ssegate-Subject":  {"ops"},
		"Grpc-Metadata-X-Ssegate-Token":    {valid},
		"Grpc-Metadata-Authorization":      {"Bearer x"},
		"Grpc-Metadata-Cookie":             {"a=b"},
		"grpc-metadata-x-ssegate-subject":  {"ops"}, // not canonical: set straight into the map
		"Grpc-Metadata-Grpcgateway-Cookie": {"a=b"},
		"Last-Event-ID":                    {"42"},
		"Grpc-Metadata-Trace":              {"t1"},
	}

	cases := []struct {
		name    string
		method  string
		path    string
		header  map[string][]string
		tls     bool
		status  int
		code    string // JSON error code, "" for none
		message string
		next    bool
		subject string // principal next sees, "" for none
		acao    string // expected Access-Control-Allow-Origin
	}{
		{name: "no cookie", status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "empty cookie", header: hdr("Cookie", cookie("")), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "garbage cookie", header: hdr("Cookie", cookie("garbage")), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "other cookie name", header: hdr("Cookie", "session="+valid), status: 401, code: "UNAUTHENTICATED"},
		{name: "wrong signature", header: hdr("Cookie", cookie(sign(t, jwt.SigningMethodHS256, []byte("a different secret, also 32 bytes"), "", c))), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "alg none", header: hdr("Cookie", cookie(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c))), status: 401, code: "UNAUTHENTICATED"},
		{name: "wrong algorithm", header: hdr("Cookie", cookie(sign(t, jwt.SigningMethodHS512, testSecret, "", c))), status: 401, code: "UNAUTHENTICATED"},
		{name: "expired", header: hdr("Cookie", cookie(hs(with(c, "exp", t0.Add(-time.Minute).Unix())))), status: 401, code: "UNAUTHENTICATED", message: "session expired"},
		{name: "not yet valid", header: hdr("Cookie", cookie(hs(with(c, "nbf", t0.Add(time.Minute).Unix())))), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "oversized cookie", header: hdr("Cookie", cookie(hs(with(c, "pad", strings.Repeat("p", 5000))))), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "valid", header: hdr("Cookie", cookie(valid)), status: 200, next: true, subject: "demo"},
		{name: "session in the gateway's name", header: hdr("Cookie", cookie(mustIssue(t, iss, identity.GatewaySubject, t0))), status: 401, code: "UNAUTHENTICATED", message: "sign in required"},
		{name: "valid among other cookies", header: hdr("Cookie", "theme=dark; "+cookie(valid)+"; x=y"), status: 200, next: true, subject: "demo"},
		{name: "garbage twin before valid", header: hdr("Cookie", cookie("junk")+"; "+cookie(valid)), status: 200, next: true, subject: "demo"},
		{name: "spoofed identity headers", header: merge(spoofed, hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo"},
		{name: "spoofed identity, no cookie", header: spoofed, status: 401, code: "UNAUTHENTICATED"},
		{name: "authorization bearer alone", header: hdr("Authorization", "Bearer "+valid), status: 401, code: "UNAUTHENTICATED"},

		{name: "foreign origin", header: merge(hdr("Origin", "https://evil.example"), hdr("Cookie", cookie(valid))), status: 403, code: "PERMISSION_DENIED"},
		{name: "null origin", header: merge(hdr("Origin", "null"), hdr("Cookie", cookie(valid))), status: 403, code: "PERMISSION_DENIED"},
		{name: "origin with path", header: hdr("Origin", appOrigin+"/x"), status: 403, code: "PERMISSION_DENIED"},
		{name: "two origins", header: map[string][]string{"Origin": {appOrigin, "https://evil.example"}}, status: 403, code: "PERMISSION_DENIED"},
		{name: "listed origin other scheme", header: hdr("Origin", "http://app.example.com"), status: 403, code: "PERMISSION_DENIED"},
		{name: "listed origin other port", header: hdr("Origin", "https://app.example.com:8443"), status: 403, code: "PERMISSION_DENIED"},
		{name: "foreign origin on public route", method: "POST", path: "/v1/sessions", header: hdr("Origin", "https://evil.example"), status: 403, code: "PERMISSION_DENIED"},
		{name: "same origin", header: merge(hdr("Origin", "http://"+gwHost), hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo"},
		{name: "same origin default port", header: merge(hdr("Origin", "http://"+gwHost+":80"), hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo"},
		{name: "same origin under TLS", tls: true, header: merge(hdr("Origin", "https://"+gwHost), hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo"},
		{name: "plain http origin under TLS", tls: true, header: hdr("Origin", "http://"+gwHost), status: 403, code: "PERMISSION_DENIED"},
		{name: "listed origin", header: merge(hdr("Origin", appOrigin), hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo", acao: appOrigin},
		{name: "listed dev origin", header: merge(hdr("Origin", devOrigin), hdr("Cookie", cookie(valid))), status: 200, next: true, subject: "demo", acao: devOrigin},
		{name: "listed origin without cookie", header: hdr("Origin", appOrigin), status: 401, code: "UNAUTHENTICATED", acao: appOrigin},
		{name: "preflight listed", method: "OPTIONS", header: merge(hdr("Origin", appOrigin), hdr("Access-Control-Request-Method", "GET")), status: 204, acao: appOrigin},
		{name: "preflight unlisted", method: "OPTIONS", header: merge(hdr("Origin", "https://evil.example"), hdr("Access-Control-Request-Method", "GET")), status: 403, code: "PERMISSION_DENIED"},
		{name: "options without preflight", method: "OPTIONS", header: hdr("Origin", appOrigin), status: 401, code: "UNAUTHENTICATED", acao: appOrigin},

		{name: "public login", method: "POST", path: "/v1/sessions", status: 200, next: true},
		{name: "public logout", method: "DELETE", path: "/v1/sessions/current", status: 200, next: true},
		{name: "public page", path: "/", status: 200, next: true},
		{name: "public docs", path: "/docs", status: 200, next: true},
		{name: "public openapi", path: "/openapi.json", status: 200, next: true},
		{name: "public healthz HEAD", method: "HEAD", path: "/healthz", status: 200, next: true},
		{name: "public readyz", path: "/readyz", status: 200, next: true},
		{name: "public static asset", path: "/static/js/app.js", status: 200, next: true},
		{name: "public route wrong method", method: "POST", path: "/", status: 401, code: "UNAUTHENTICATED"},
		{name: "whoami is not public", path: "/v1/sessions/current", status: 401, code: "UNAUTHENTICATED"},
		{name: "public prefix escape", path: "/static/../v1/jobs", status: 401, code: "UNAUTHENTICATED"},
		{name: "public prefix encoded slash", path: "/static%2F..%2Fv1/jobs", status: 401, code: "UNAUTHENTICATED"},
		{name: "public route with valid cookie", path: "/healthz", header: hdr("Cookie", cookie(valid)), status: 200, next: true, subject: "demo"},
		{name: "public route with expired cookie", method: "POST", path: "/v1/sessions", header: hdr("Cookie", cookie(hs(with(c, "exp", t0.Add(-time.Hour).Unix())))), status: 200, next: true},
		{name: "public route spoofed identity", method: "POST", path: "/v1/sessions", header: spoofed, status: 200, next: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMiddleware(t, session.WithTLS(tc.tls))
			rec := &recorder{}
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/v1/jobs/7"
			}
			r := httptest.NewRequest(method, "http://"+gwHost+path, nil)
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			m.Wrap(rec).ServeHTTP(w, r)

			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if got := rec.calls.Load(); (got == 1) != tc.next || got > 1 {
				t.Fatalf("next called %d times, want called = %v", got, tc.next)
			}
			if tc.code != "" {
				var b httperr.Body
				if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
					t.Fatalf("body %q: %v", w.Body, err)
				}
				if b.Code != tc.code || (tc.message != "" && b.Message != tc.message) {
					t.Fatalf("body = %+v, want code %s message %q", b, tc.code, tc.message)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type = %q", ct)
				}
			}
			res := w.Result()
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tc.acao)
			}
			if tc.acao != "" {
				if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Fatalf("Access-Control-Allow-Credentials = %q", got)
				}
			} else if len(res.Header.Values("Access-Control-Allow-Credentials")) != 0 {
				t.Fatal("credentials allowed without an allowed origin")
			}
			if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Origin") {
				t.Fatalf("Vary = %q, want Origin", res.Header.Values("Vary"))
			}
			if tc.status == 204 {
				if got := res.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Last-Event-ID") || !strings.Contains(got, "Content-Type") {
					t.Fatalf("Access-Control-Allow-Headers = %q", got)
				}
				if res.Header.Get("Access-Control-Allow-Methods") == "" || res.Header.Get("Access-Control-Max-Age") == "" {
					t.Fatalf("preflight headers missing: %v", res.Header)
				}
			}
			if !tc.next {
				return
			}
			p := rec.principal.Load()
			switch {
			case tc.subject == "" && p != nil:
				t.Fatalf("next saw principal %+v, want none", *p)
			case tc.subject != "" && (p == nil || p.Subject != tc.subject || p.Token == ""):
				t.Fatalf("next saw principal %v, want %q", p, tc.subject)
			}
			seen := *rec.header.Load()
			if k := leakedIdentity(seen); k != "" {
				t.Fatalf("next saw header %s: %v", k, seen)
			}
			for _, k := range []string{"Last-Event-ID", "Grpc-Metadata-Trace"} {
				if _, sent := tc.header[k]; sent && len(seen[k]) == 0 {
					t.Fatalf("next lost harmless header %s", k)
				}
			}
			if len(tc.header) > 0 && len(r.Header) == 0 {
				t.Fatal("caller's request header was emptied")
			}
		})
	}
}

func hdr(k, v string) map[string][]string { return map[string][]string{k: {v}} }

func merge(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

func TestNewMiddlewareErrors(t *testing.T) {
	t.Parallel()
	v := mustVerifier(t, hsConfig())
	cases := []struct {
		name string
		opts []session.Option
	}{
		{"wildcard origin", []session.Option{session.WithAllowedOrigins("*")}},
		{"null origin", []session.Option{session.WithAllowedOrigins("null")}},
		{"origin with path", []session.Option{session.WithAllowedOrigins("https://a.example/app")}},
		{"origin without scheme", []session.Option{session.WithAllowedOrigins("a.example")}},
		{"ftp origin", []session.Option{session.WithAllowedOrigins("ftp://a.example")}},
		{"route without path", []session.Option{session.WithPublicRoutes("GET")}},
		{"route relative", []session.Option{session.WithPublicRoutes("GET v1/x")}},
		{"route unclean", []session.Option{session.WithPublicRoutes("/a/../b")}},
		{"route lower-case method", []session.Option{session.WithPublicRoutes("get /")}},
		{"cookie name with space", []session.Option{session.WithCookieName("a b")}},
		{"empty cookie name", []session.Option{session.WithCookieName("")}},
		{"__Host- cookie without TLS", []session.Option{session.WithCookieName("__Host-s")}},
		{"nil clock", []session.Option{session.WithClock(nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := session.NewMiddleware(v, tc.opts...); err == nil {
				t.Fatal("NewMiddleware accepted the options")
			}
		})
	}
	if _, err := session.NewMiddleware(nil); err == nil {
		t.Error("NewMiddleware accepted a nil verifier")
	}
	m, err := session.NewMiddleware(v, session.WithTLS(true), session.WithCookieName("__Host-s"),
		session.WithAllowedOrigins("HTTPS://App.Example.com:443"))
	if err != nil {
		t.Fatalf("NewMiddleware: %v", err)
	}
	if m.CookieName() != "__Host-s" {
		t.Errorf("CookieName = %q", m.CookieName())
	}
	// The listed origin was normalized to what browsers send.
	r := httptest.NewRequest("GET", "https://"+gwHost+"/healthz", nil)
	r.Header.Set("Origin", "https://app.example.com")
	w := httptest.NewRecorder()
	m.Wrap(&recorder{}).ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("normalized origin: status %d, ACAO %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
}

// Public routes may be path templates, matched as the gateway routes them,
// and are replaced whole by SetPublicRoutes.
func TestPublicRouteTemplates(t *testing.T) {
	t.Parallel()
	m := newMiddleware(t, session.WithPublicRoutes(
		"GET /v1/feeds/{name}", "POST /v1/{name=shelves/*}:watch", "GET /v1/files/{path=**}", "GET /v1/exact"))
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.Wrap(next)
	tests := []struct {
		method, path string
		public       bool
	}{
		{"GET", "/v1/feeds/news", true},
		{"HEAD", "/v1/feeds/news", true},
		{"POST", "/v1/feeds/news", false},
		{"GET", "/v1/feeds/news/more", false},
		{"GET", "/v1/feeds/", false},
		{"POST", "/v1/shelves/7:watch", true},
		{"POST", "/v1/shelves/7", false},
		{"POST", "/v1/shelves/7:other", false},
		{"POST", "/v1/boxes/7:watch", false},
		{"GET", "/v1/files/a/b/c", true},
		{"GET", "/v1/files", false},
		{"GET", "/v1/exact", true},
		{"GET", "/v1/exact/x", false},
		{"GET", "/v1/feeds/..%2Fjobs", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Code == http.StatusTeapot; got != tt.public {
			t.Errorf("%s %s: public %v, want %v (status %d)", tt.method, tt.path, got, tt.public, w.Code)
		}
	}
	if err := m.SetPublicRoutes("GET /v1/exact"); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/feeds/news", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("after SetPublicRoutes, a route no longer listed: %d", w.Code)
	}
	for _, bad := range []string{"GET v1/{x}", "GET /v1/{x", "GET /v1/{x=**}/more", "get /v1/{x}"} {
		if err := m.SetPublicRoutes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
