package static_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/ssegate/ssegate/internal/static"
)

const csp = "default-src 'self'"

func newHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := static.New(fstest.MapFS{
		"index.html":       {Data: []byte("<!doctype html>")},
		"assets/app.js":    {Data: []byte("let x")},
		"assets/img/a.svg": {Data: []byte("<svg/>")},
		"notes.txt":        {Data: []byte("not served")},
		"other/index.html": {Data: []byte("not served")},
	}, csp, []string{"/p", "/p/"}, "/p/assets/")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/p", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"GET", "/p/", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"HEAD", "/p", 200, "text/html; charset=utf-8", ""},
		{"GET", "/p/assets/app.js", 200, "text/javascript; charset=utf-8", "let x"},
		{"GET", "/p/assets/img/a.svg", 200, "image/svg+xml", "<svg/>"},
		{"GET", "/p/index.html", 404, "", ""},
		{"GET", "/p/notes.txt", 404, "", ""},
		{"GET", "/p/assets/notes.txt", 404, "", ""},
		{"GET", "/p/assets/", 404, "", ""},
		{"GET", "/", 404, "", ""},
		{"POST", "/p", 405, "", ""},
		{"DELETE", "/p/assets/app.js", 405, "", ""},
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
			for k, want := range map[string]string{
				"Content-Security-Policy": csp,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-cache",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if tc.status == 200 {
				if got := res.Header.Get("Content-Type"); got != tc.contentType {
					t.Errorf("Content-Type %q, want %q", got, tc.contentType)
				}
				if string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
			}
			if tc.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", res.Header.Get("Allow"))
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/p/assets/app.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("status %d, ETag %q", rec.Code, etag)
	}
	req := httptest.NewRequest("GET", "/p/assets/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", rec.Code)
	}
}
