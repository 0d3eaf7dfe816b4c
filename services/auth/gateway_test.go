package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	ssegate "github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/route"
	"github.com/ssegate/ssegate/gateway/session"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
)

// gateway is the real gateway with the session options, behind the session
// middleware, on httptest.
type gateway struct {
	srv     *httptest.Server
	client  *http.Client
	backend *backend
}

// backendCalls is the metadata of every call that reached the backend.
func (g *gateway) backendCalls() []metadata.MD { return g.backend.calls() }

func startGateway(t *testing.T, b *backend, tls bool) *gateway {
	t.Helper()
	sd := authv1.File_ssegate_auth_v1_auth_proto.Services().Get(0)
	// Signing in and out are public by the methods' options.
	public := append(session.DefaultPublicRoutes(), route.PublicRoutes(sd)...)
	m, err := session.NewMiddleware(verifier(t), session.WithClock(clock), session.WithPublicRoutes(public...))
	if err != nil {
		t.Fatal(err)
	}
	mux, err := ssegate.New(ssegate.WithServeMuxOptions(m.ServeMuxOptions()...), ssegate.WithIdentity(gatewayMinter(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.Register(t.Context(), sd, b.conn, authv1.RegisterAuthServiceHandler, ssegate.Audience("auth")); err != nil {
		t.Fatal(err)
	}
	g := &gateway{backend: b}
	if tls {
		g.srv = httptest.NewTLSServer(m.Wrap(mux))
	} else {
		g.srv = httptest.NewServer(m.Wrap(mux))
	}
	g.client = g.srv.Client()
	t.Cleanup(func() {
		g.client.CloseIdleConnections()
		g.srv.Close()
	})
	return g
}

type response struct {
	status int
	header http.Header
	body   string
}

func (g *gateway) do(t *testing.T, method, path, body string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, g.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for k := range res.Header {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "grpc-metadata-x-ssegate-") || strings.HasPrefix(l, "grpc-trailer-x-ssegate-") {
			t.Fatalf("%s %s: response header %s leaks session metadata", method, path, k)
		}
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func TestThroughGateway(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startBackend(t, testUsers())
			g := startGateway(t, b, tls)

			// Wrong password and unknown user look the same.
			wrong := g.do(t, "POST", "/v1/sessions", `{"username":"demo","password":"nope"}`, nil)
			unknown := g.do(t, "POST", "/v1/sessions", `{"username":"nobody","password":"demo"}`, nil)
			if wrong.status != 401 || unknown.status != 401 {
				t.Fatalf("bad credentials: status %d and %d, want 401", wrong.status, unknown.status)
			}
			if wrong.body != unknown.body {
				t.Fatalf("bodies differ:\n%s\n%s", wrong.body, unknown.body)
			}
			if len(wrong.header.Values("Set-Cookie"))+len(unknown.header.Values("Set-Cookie")) != 0 {
				t.Fatal("cookie set on a failed sign-in")
			}

			// Sign in.
			login := g.do(t, "POST", "/v1/sessions", `{"username":"demo","password":"demo"}`, nil)
			if login.status != 200 || !strings.Contains(login.body, `"username":"demo"`) {
				t.Fatalf("login: %d %s", login.status, login.body)
			}
			set := login.header.Values("Set-Cookie")
			if len(set) != 1 {
				t.Fatalf("Set-Cookie = %q, want one", set)
			}
			attrs := strings.Split(set[0], "; ")
			for _, want := range []string{"Path=/", "Max-Age=43200", "HttpOnly", "SameSite=Lax"} {
				if !slices.Contains(attrs, want) {
					t.Errorf("Set-Cookie %q lacks %s", set[0], want)
				}
			}
			if slices.Contains(attrs, "Secure") != tls {
				t.Errorf("Set-Cookie %q: Secure should be %v", set[0], tls)
			}
			cookie, ok := strings.CutPrefix(attrs[0], session.DefaultCookieName+"=")
			if !ok || cookie == "" {
				t.Fatalf("Set-Cookie %q: no session", set[0])
			}
			signedIn := http.Header{"Cookie": {session.DefaultCookieName + "=" + cookie}}

			// WhoAmI with the cookie, and with spoofed identity on top.
			iss, err := identity.NewIssuer(tokenCfg)
			if err != nil {
				t.Fatal(err)
			}
			opsToken, _, err := iss.Issue("ops", t0)
			if err != nil {
				t.Fatal(err)
			}
			spoofed := signedIn.Clone()
			spoofed.Set("Authorization", "Bearer "+opsToken)
			spoofed.Set("Grpc-Metadata-X-Ssegate-Token", opsToken)
			spoofed.Set("X-Ssegate-Subject", "ops")
			spoofed.Set("Grpc-Metadata-Cookie", "ssegate_session="+opsToken)
			for _, h := range []http.Header{signedIn, spoofed} {
				who := g.do(t, "GET", "/v1/sessions/current", "", h)
				if who.status != 200 || !strings.Contains(who.body, `"username":"demo"`) {
					t.Fatalf("whoami: %d %s", who.status, who.body)
				}
			}
			before := len(b.calls())
			anon := g.do(t, "GET", "/v1/sessions/current", "", http.Header{"Grpc-Metadata-X-Ssegate-Token": {opsToken}})
			if anon.status != 401 || !strings.Contains(anon.body, `"code":"UNAUTHENTICATED"`) {
				t.Fatalf("whoami without cookie: %d %s", anon.status, anon.body)
			}
			if len(b.calls()) != before {
				t.Fatal("backend called without a session")
			}

			// Sign out clears the cookie.
			logout := g.do(t, "DELETE", "/v1/sessions/current", "", signedIn)
			if logout.status != 200 {
				t.Fatalf("logout: %d %s", logout.status, logout.body)
			}
			clear := logout.header.Values("Set-Cookie")
			if len(clear) != 1 || !strings.HasPrefix(clear[0], session.DefaultCookieName+"=;") || !strings.Contains(clear[0], "Max-Age=0") {
				t.Fatalf("logout Set-Cookie = %q", clear)
			}
			if strings.Contains(clear[0], "Secure") != tls {
				t.Errorf("logout Set-Cookie %q: Secure should be %v", clear[0], tls)
			}

			// What the backend saw: never a cookie, client credentials or
			// the session token, and an identity token the gateway made
			// for it out of the verified session.
			calls := b.calls()
			if len(calls) != 6 { // 3 logins, 2 whoami, 1 logout
				t.Fatalf("backend saw %d calls, want 6", len(calls))
			}
			for i, md := range calls {
				for k := range md {
					if strings.Contains(k, "cookie") || k == "authorization" {
						t.Errorf("call %d: backend got %s: %v", i, k, md[k])
					}
				}
				for k, vs := range md {
					if strings.Contains(strings.Join(vs, ","), cookie) {
						t.Errorf("call %d: the session token reached the backend in %s", i, k)
					}
				}
				tok := md.Get(identity.MetadataIdentity)
				if i < 3 {
					if len(tok) != 0 {
						t.Errorf("login %d: identity metadata %q without a session", i, tok)
					}
					continue
				}
				if len(tok) != 1 {
					t.Fatalf("call %d: identity metadata %q, want one token", i, tok)
				}
				if p, err := backendVerifier(t).Verify(tok[0], t0); err != nil || p.Subject != "demo" || p.Session == "" {
					t.Errorf("call %d: identity token %+v, %v; want demo's, with the session id", i, p, err)
				}
				if sub := md.Get(identity.MetadataSubject); len(sub) != 1 || sub[0] != "demo" {
					t.Errorf("call %d: subject metadata %q", i, sub)
				}
			}
		})
	}
}

// Failed sign-ins through the gateway end in 429 with Retry-After, the
// client address being the one the gateway sees.
func TestFailedSignInsThroughGateway(t *testing.T) {
	t.Parallel()
	g := startGateway(t, startBackend(t, testUsers()), false)
	for i := range 5 {
		if r := g.do(t, "POST", "/v1/sessions", `{"username":"demo","password":"nope"}`, nil); r.status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := g.do(t, "POST", "/v1/sessions", `{"username":"demo","password":"demo"}`, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, `"RESOURCE_EXHAUSTED"`) {
		t.Fatalf("sixth attempt: %d, Retry-After %q, %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatal("a refused attempt set a cookie")
	}
	var addrs []string
	for _, md := range g.backendCalls() {
		addrs = append(addrs, md.Get(identity.MetadataClientIP)...)
	}
	if len(addrs) == 0 || addrs[0] != "127.0.0.1" {
		t.Fatalf("client address metadata %q, want 127.0.0.1", addrs)
	}
}
