// Package static serves a page and its assets from files compiled into the
// binary, with the headers a strict page needs: its own
// Content-Security-Policy, nosniff, no framing, no referrer, and
// Cache-Control: no-cache with an ETag so browsers revalidate and get 304.
package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// contentTypes are set explicitly so the answer never depends on the host's
// MIME tables for the files a page has.
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
	csp   string
	files map[string]file // by URL path
}

// New returns a handler that serves fsys's index.html at each of pages, and
// each file under fsys's assets/ at assets (a URL prefix ending in "/")
// followed by its name. Every other path is 404 and every method but GET
// and HEAD 405. Every response carries csp as its Content-Security-Policy.
func New(fsys fs.FS, csp string, pages []string, assets string) (http.Handler, error) {
	h := &handler{csp: csp, files: map[string]file{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var urls []string
		switch name, ok := strings.CutPrefix(p, "assets/"); {
		case p == "index.html":
			urls = pages
		case ok:
			urls = []string{assets + name}
		default:
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ext := path.Ext(p)
		ct, ok := contentTypes[ext]
		if !ok {
			ct = mime.TypeByExtension(ext)
		}
		sum := sha256.Sum256(body)
		f := file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		for _, u := range urls {
			h.files[u] = f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
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
	// ServeContent answers HEAD, If-None-Match and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
