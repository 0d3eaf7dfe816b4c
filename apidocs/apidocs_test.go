package apidocs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/apidocs"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	h := apidocs.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/docs", 200, "text/html; charset=utf-8", `<script src="/docs/assets/docs.js" defer></script>`},
		{"GET", "/docs/", 200, "text/html; charset=utf-8", `id="console-log"`},
		{"HEAD", "/docs", 200, "text/html; charset=utf-8", ""},
		{"GET", "/docs/assets/docs.js", 200, "text/javascript; charset=utf-8", `new EventSource(url, { withCredentials: true })`},
		{"GET", "/docs/assets/docs.css", 200, "text/css; charset=utf-8", ".console"},
		{"GET", "/docs/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/docs/assets/missing.js", 404, "", ""},
		{"GET", "/docs/index.html", 404, "", ""},
		{"GET", "/", 404, "", ""},
		{"POST", "/docs", 405, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != apidocs.ContentSecurityPolicy {
				t.Errorf("CSP %q", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if tc.contentType != "" && res.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if tc.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", res.Header.Get("Allow"))
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := apidocs.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/assets/docs.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest("GET", "/docs/assets/docs.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", rec.Code)
	}
}

// The page keeps to its CSP: no inline script, style or event handler,
// and the script builds the DOM without markup strings (Trusted Types).
func TestPageHasNoInlineCode(t *testing.T) {
	t.Parallel()
	h := apidocs.Handler()
	for _, path := range []string{"/docs", "/docs/assets/docs.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
}
