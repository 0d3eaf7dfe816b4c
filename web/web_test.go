package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/web"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		bodyHas            string
	}{
		{"page", "GET", "/", 200, "text/html; charset=utf-8", `<script src="/assets/app.js" defer></script>`},
		{"script", "GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "new EventSource("},
		{"stylesheet", "GET", "/assets/app.css", 200, "text/css; charset=utf-8", "white-space: pre-wrap"},
		{"icon", "GET", "/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"head", "HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"index by name", "GET", "/index.html", 404, "", ""},
		{"assets dir", "GET", "/assets/", 404, "", ""},
		{"assets no slash", "GET", "/assets", 404, "", ""},
		{"unknown asset", "GET", "/assets/nope.js", 404, "", ""},
		{"unknown path", "GET", "/nope", 404, "", ""},
		{"dot segments", "GET", "/assets/../index.html", 404, "", ""},
		{"nested", "GET", "/assets/app.js/x", 404, "", ""},
		{"post", "POST", "/", 405, "", ""},
		{"delete asset", "DELETE", "/assets/app.js", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range map[string]string{
				"Cache-Control":           "no-cache",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": web.ContentSecurityPolicy,
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.contentType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
				}
			}
			if tt.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", res.Header.Get("Allow"))
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned %d body bytes", len(body))
			}
			if !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("body does not contain %q", tt.bodyHas)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/app.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("status %d, ETag %q", rec.Code, etag)
	}
	req := httptest.NewRequest("GET", "/assets/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation status = %d, want 304", rec.Code)
	}
}

func TestCSPStrict(t *testing.T) {
	t.Parallel()
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(web.ContentSecurityPolicy, directive) {
			t.Errorf("CSP lacks %q", directive)
		}
	}
	if strings.Contains(web.ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP allows something unsafe: %s", web.ContentSecurityPolicy)
	}
}

// The CSP forbids inline script and style, so the page must not need them:
// a violation would only show in a browser's console.
func TestPageHasNoInlineCode(t *testing.T) {
	t.Parallel()
	page := read(t, "static/index.html")
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[0], ` src="`) || strings.TrimSpace(m[1]) != "" {
			t.Errorf("inline script: %s", m[0])
		}
	}
	checks := map[string]*regexp.Regexp{
		"style element":   regexp.MustCompile(`(?i)<style\b`),
		"style attribute": regexp.MustCompile(`(?i)\sstyle=`),
		"event handler":   regexp.MustCompile(`(?i)<[^>]*\son[a-z]+=`),
		"javascript: URL": regexp.MustCompile(`(?i)javascript:`),
		"foreign origin":  regexp.MustCompile(`(?i)(src|href)="(https?:)?//`),
	}
	for what, re := range checks {
		if loc := re.FindStringIndex(page); loc != nil {
			t.Errorf("page has a %s: %q", what, page[loc[0]:min(loc[1]+40, len(page))])
		}
	}
	script := read(t, "static/assets/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(script, bad) {
			t.Errorf("script uses %s: untrusted text must go through textContent", bad)
		}
	}
}

// Every id the script looks up exists in the page, and every id in the page
// that tests may rely on is documented in the comment at its top.
func TestElementIDs(t *testing.T) {
	t.Parallel()
	page := read(t, "static/index.html")
	script := read(t, "static/assets/app.js")
	end := strings.Index(page, "-->")
	if end < 0 {
		t.Fatal("index.html has no leading comment")
	}
	doc := page[:end]

	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(page[end:], -1) {
		if ids[m[1]] {
			t.Errorf("id %q appears twice", m[1])
		}
		ids[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\$\('([^']+)'\)`).FindAllStringSubmatch(script, -1) {
		if !ids[m[1]] {
			t.Errorf("app.js uses #%s, which index.html lacks", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`#([a-z][a-z-]*)`).FindAllStringSubmatch(doc, -1) {
		if !ids[m[1]] {
			t.Errorf("the comment documents #%s, which index.html lacks", m[1])
		}
	}
	for _, want := range []string{
		"login-form", "username", "password", "signin-error", "whoami", "signout",
		"job-form", "limit", "start-job", "cancel-job", "progress", "percent",
		"partial-count", "partial-largest", "result-count", "job-log", "conn-state",
		"event-ids", "jobs-list", "log-name", "tail-log", "log-pane", "log-conn-state",
	} {
		if !ids[want] {
			t.Errorf("page lacks #%s", want)
		}
		if !strings.Contains(doc, "#"+want+" ") {
			t.Errorf("#%s is not documented at the top of index.html", want)
		}
	}
	// Labels point at real controls.
	for _, m := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !ids[m[1]] {
			t.Errorf("label for missing #%s", m[1])
		}
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
