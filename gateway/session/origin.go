package session

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// normalizeOrigin returns s as a browser serializes an origin: lower-case
// scheme and host, no default port. Anything but "http(s)://host[:port]"
// (paths, user info, "null", "*") is refused.
func normalizeOrigin(s string) (string, bool) {
	if s == "" || len(s) > 2048 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" ||
		u.ForceQuery || u.Fragment != "" || u.Host == "" || strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, true
}

// route is one public route.
type route struct {
	method string // empty: any
	path   string
	prefix bool // path ends in "/" and matches everything below it
}

func parseRoute(s string) (route, error) {
	var rt route
	p := s
	if method, rest, ok := strings.Cut(s, " "); ok {
		rt.method, p = method, strings.TrimSpace(rest)
		if rt.method == "" || strings.ToUpper(rt.method) != rt.method || strings.ContainsAny(rt.method, "/ \t") {
			return route{}, fmt.Errorf("auth: public route %q: bad method", s)
		}
	}
	if pre, ok := strings.CutSuffix(p, "/*"); ok {
		rt.prefix, p = true, pre+"/"
	}
	if !strings.HasPrefix(p, "/") || !cleanPath(p) || strings.ContainsAny(p, "*? \t") {
		return route{}, fmt.Errorf("auth: public route %q: path must be clean and start with /", s)
	}
	rt.path = p
	return rt, nil
}

func (rt route) match(method, p string) bool {
	if rt.method != "" && rt.method != method && !(rt.method == "GET" && method == "HEAD") {
		return false
	}
	if rt.prefix {
		return strings.HasPrefix(p, rt.path)
	}
	return p == rt.path
}

// cleanPath reports whether p is absolute and has no empty, "." or ".."
// elements (a trailing slash is fine).
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}
