// Package apidocs serves the API documentation page at /docs: one HTML page
// whose script renders the gateway's /openapi.json (every endpoint, the
// events of each stream and their data) and runs a console that calls the
// REST operations and opens any stream with EventSource, on the browser's
// cookie session. The page talks only to its own origin, so it must be
// mounted beside the gateway's routes.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every response: scripts, styles and
// fetches from the page's own origin only, no inline script or style, and
// Trusted Types so that no string ever becomes markup.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Paths the handler serves.
const (
	// Page is the documentation page.
	Page = "/docs"
	// Assets is the prefix of its script and stylesheet.
	Assets = "/docs/assets/"
)

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	files map[string]file // by URL path
}

// Handler serves the page at GET /docs (and /docs/) and its files under
// /docs/assets/; every other path is 404 and every other method 405.
// Responses carry Cache-Control: no-cache with an ETag, the strict
// ContentSecurityPolicy and X-Content-Type-Options: nosniff.
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if p == "static/index.html" {
			h.files[Page] = f
			h.files[Page+"/"] = f
			return nil
		}
		h.files[Assets+strings.TrimPrefix(p, "static/assets/")] = f
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("apidocs: reading embedded files: " + err.Error())
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-cache")

	f, ok := h.files[r.URL.Path]
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
