// Package web serves the demo page: one HTML page with its stylesheet and
// script, embedded in the binary. The page signs in, starts prime-counting
// jobs and watches them over Server-Sent Events, and tails logs; it talks only
// to the gateway's own origin, so the handler must share that origin with the
// REST and SSE routes (mount it at "/").
package web

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/ssegate/ssegate/internal/static"
)

//go:embed static
var files embed.FS

// ContentSecurityPolicy is sent with every response. Scripts, styles and
// fetches come from the page's own origin only: no inline script or style,
// no plugins, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the page at GET / and its files at GET /assets/<name>;
// every other path is 404 and every other method 405. Responses carry
// Cache-Control: no-cache with an ETag (browsers revalidate and get 304),
// a strict Content-Security-Policy and X-Content-Type-Options: nosniff.
func Handler() http.Handler {
	site, _ := fs.Sub(files, "static") // fails only on an invalid name
	h, err := static.New(site, ContentSecurityPolicy, []string{"/"}, "/assets/")
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("web: reading embedded files: " + err.Error())
	}
	return h
}
