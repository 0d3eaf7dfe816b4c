// Package apidocs serves the API documentation page at /docs: one HTML page
// whose script renders the gateway's /openapi.json (every endpoint, the
// events of each stream and their data) and runs a console that calls the
// REST operations and opens any stream with EventSource, on the browser's
// cookie session. The page talks only to its own origin, so it must be
// mounted beside the gateway's routes.
package apidocs

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/ssegate/ssegate/internal/static"
)

//go:embed static
var files embed.FS

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

// Handler serves the page at GET /docs (and /docs/) and its files under
// /docs/assets/; every other path is 404 and every other method 405.
// Responses carry Cache-Control: no-cache with an ETag, the strict
// ContentSecurityPolicy and X-Content-Type-Options: nosniff.
func Handler() http.Handler {
	site, _ := fs.Sub(files, "static") // fails only on an invalid name
	h, err := static.New(site, ContentSecurityPolicy, []string{Page, Page + "/"}, Assets)
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("apidocs: reading embedded files: " + err.Error())
	}
	return h
}
