package session_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
)

func TestServeMuxOptions(t *testing.T) {
	t.Parallel()
	if len(newMiddleware(t).ServeMuxOptions()) == 0 {
		t.Error("no ServeMuxOptions")
	}
}

func TestForwardSession(t *testing.T) {
	t.Parallel()
	iss := mustIssuer(t, hsConfig())
	// Issued ten minutes before now: Max-Age is what is left of it.
	tok := mustIssue(t, iss, "demo", t0.Add(-10*time.Minute))
	expired := mustIssue(t, iss, "demo", t0.Add(-2*time.Hour))

	cases := []struct {
		name    string
		md      metadata.MD
		tls     bool // WithTLS
		reqTLS  bool // the request itself arrived over TLS
		code    codes.Code
		cookie  string // Set-Cookie value, "" for none
		maxAge  int
		secure  bool
		cleared bool
	}{
		{name: "set", md: metadata.Pairs(identity.MetadataSetSession, tok, identity.MetadataSessionExpires, "1"), cookie: tok, maxAge: 50 * 60},
		{name: "set under TLS option", tls: true, md: metadata.Pairs(identity.MetadataSetSession, tok), cookie: tok, maxAge: 50 * 60, secure: true},
		{name: "set over TLS request", reqTLS: true, md: metadata.Pairs(identity.MetadataSetSession, tok), cookie: tok, maxAge: 50 * 60, secure: true},
		{name: "clear", md: metadata.Pairs(identity.MetadataClearSession, "1"), cleared: true},
		{name: "clear under TLS", tls: true, md: metadata.Pairs(identity.MetadataClearSession, "1"), cleared: true, secure: true},
		{name: "nothing", md: metadata.Pairs("other", "x")},
		{name: "garbage token", md: metadata.Pairs(identity.MetadataSetSession, "garbage"), code: codes.Internal},
		{name: "expired token", md: metadata.Pairs(identity.MetadataSetSession, expired), code: codes.Internal},
		{name: "two tokens", md: metadata.Pairs(identity.MetadataSetSession, tok, identity.MetadataSetSession, tok), code: codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMiddleware(t, session.WithTLS(tc.tls))
			var fwdErr error
			h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := runtime.NewServerMetadataContext(r.Context(), runtime.ServerMetadata{HeaderMD: tc.md})
				fwdErr = m.ForwardSession(ctx, w, nil)
			}))
			scheme := "http"
			if tc.reqTLS {
				scheme = "https"
			}
			r := httptest.NewRequest("POST", scheme+"://"+gwHost+"/v1/sessions", nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if status.Code(fwdErr) != tc.code {
				t.Fatalf("ForwardSession error = %v, want code %v", fwdErr, tc.code)
			}
			if fwdErr != nil && strings.Contains(fwdErr.Error(), "token") {
				t.Fatalf("error %q says too much", fwdErr)
			}
			sc := w.Result().Header.Values("Set-Cookie")
			if tc.cookie == "" && !tc.cleared {
				if len(sc) != 0 {
					t.Fatalf("Set-Cookie = %q, want none", sc)
				}
				return
			}
			if len(sc) != 1 {
				t.Fatalf("Set-Cookie = %q, want one", sc)
			}
			attrs := map[string]string{}
			for i, part := range strings.Split(sc[0], "; ") {
				k, v, _ := strings.Cut(part, "=")
				if i == 0 {
					if k != session.DefaultCookieName || v != tc.cookie {
						t.Fatalf("cookie %q=%q, want %q", k, v, tc.cookie)
					}
					continue
				}
				attrs[k] = v
			}
			wantAge := strconv.Itoa(tc.maxAge)
			if attrs["Max-Age"] != wantAge || attrs["Path"] != "/" || attrs["SameSite"] != "Lax" {
				t.Errorf("Set-Cookie %q: want Max-Age=%s, Path=/, SameSite=Lax", sc[0], wantAge)
			}
			if _, ok := attrs["HttpOnly"]; !ok {
				t.Errorf("Set-Cookie %q: not HttpOnly", sc[0])
			}
			if _, ok := attrs["Secure"]; ok != tc.secure {
				t.Errorf("Set-Cookie %q: Secure = %v, want %v", sc[0], ok, tc.secure)
			}
			if _, ok := attrs["Expires"]; !ok {
				t.Errorf("Set-Cookie %q: no Expires", sc[0])
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}
