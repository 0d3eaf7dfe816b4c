package session_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
)

// issuedTokens signs a few tokens; HS256 at a fixed time is deterministic,
// so every fuzz worker computes the same set.
func issuedTokens(tb testing.TB) map[string]string {
	tb.Helper()
	iss := mustIssuer(tb, hsConfig())
	out := map[string]string{}
	for _, sub := range []string{"demo", "ops", "a", strings.Repeat("z", identity.MaxSubjectSize)} {
		out[mustIssue(tb, iss, sub, t0)] = sub
	}
	return out
}

func tokenSeeds(tb testing.TB, issued map[string]string) []string {
	c := claims(t0)
	seeds := []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."}
	for tok := range issued {
		seeds = append(seeds, tok, tok+"x", tok[:len(tok)-1], strings.ToUpper(tok))
	}
	seeds = append(seeds,
		sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c),
		sign(tb, jwt.SigningMethodHS256, testSecret, "", with(c, "exp", t0.Add(-time.Hour).Unix())),
		sign(tb, jwt.SigningMethodHS384, testSecret, "", c),
	)
	return seeds
}

// FuzzMiddlewareCookie drives arbitrary Cookie and Origin headers through
// the middleware: no panic, next runs only with a principal from an issued
// token (or not at all), never sees a Cookie, and CORS never says "*".
func FuzzMiddlewareCookie(f *testing.F) {
	issued := issuedTokens(f)
	for _, s := range tokenSeeds(f, issued) {
		f.Add(session.DefaultCookieName+"="+s, "")
		f.Add("a=b; "+session.DefaultCookieName+"="+s+"; c", appOrigin)
	}
	f.Add(`ssegate_session="quoted"`, "null")
	f.Add("ssegate_session=;ssegate_session=;;", "http://"+gwHost)
	f.Add(strings.Repeat("ssegate_session=x; ", 100), "https://evil.example")
	m := newMiddleware(f)
	f.Fuzz(func(t *testing.T, cookie, origin string) {
		rec := &recorder{}
		r := httptest.NewRequest(http.MethodGet, "http://"+gwHost+"/v1/jobs", nil)
		r.Header["Cookie"] = []string{cookie}
		if origin != "" {
			r.Header["Origin"] = []string{origin}
		}
		w := httptest.NewRecorder()
		m.Wrap(rec).ServeHTTP(w, r)

		if acao := w.Header().Get("Access-Control-Allow-Origin"); acao == "*" || acao != "" && acao != origin {
			t.Fatalf("Access-Control-Allow-Origin = %q for origin %q", acao, origin)
		}
		calls := rec.calls.Load()
		switch w.Code {
		case http.StatusOK:
			if calls != 1 {
				t.Fatalf("200 with next called %d times", calls)
			}
		case http.StatusUnauthorized, http.StatusForbidden:
			if calls != 0 {
				t.Fatalf("status %d with next called", w.Code)
			}
			return
		default:
			t.Fatalf("status %d", w.Code)
		}
		p := rec.principal.Load()
		if p == nil {
			t.Fatal("next ran without a principal on a private route")
		}
		if sub, ok := issued[p.Token]; !ok || sub != p.Subject || !strings.Contains(cookie, p.Token) {
			t.Fatalf("principal %+v is not from an issued token in the cookie", *p)
		}
		if k := leakedIdentity(*rec.header.Load()); k != "" {
			t.Fatalf("next saw %s", k)
		}
	})
}
