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
	// segments, for a path template with variables: each a literal, "*"
	// (one segment) or "**" (the rest); verb is the template's ":verb".
	segments []string
	verb     string
}

func parseRoute(s string) (route, error) {
	var rt route
	p := s
	if method, rest, ok := strings.Cut(s, " "); ok {
		rt.method, p = method, strings.TrimSpace(rest)
		if rt.method == "" || strings.ToUpper(rt.method) != rt.method || strings.ContainsAny(rt.method, "/ \t") {
			return route{}, fmt.Errorf("session: public route %q: bad method", s)
		}
	}
	if strings.Contains(p, "{") {
		return parseTemplate(rt, s, p)
	}
	if pre, ok := strings.CutSuffix(p, "/*"); ok {
		rt.prefix, p = true, pre+"/"
	}
	if !strings.HasPrefix(p, "/") || !cleanPath(p) || strings.ContainsAny(p, "*? \t") {
		return route{}, fmt.Errorf("session: public route %q: path must be clean and start with /", s)
	}
	rt.path = p
	return rt, nil
}

// parseTemplate reads a google.api.http path template, as the gateway
// serves routes: "{name}" is one segment, "{name=**}" the rest,
// "{name=shelves/*}" a literal and a segment, and a trailing ":verb" is
// part of the last segment.
func parseTemplate(rt route, s, p string) (route, error) {
	bad := func() (route, error) { return route{}, fmt.Errorf("session: public route %q: not a path template", s) }
	if !strings.HasPrefix(p, "/") {
		return bad()
	}
	if i := strings.LastIndex(p, ":"); i > strings.LastIndex(p, "}") && i > strings.LastIndex(p, "/") {
		p, rt.verb = p[:i], p[i+1:]
	}
	var out []string
	for rest := p[1:]; rest != ""; {
		if v, ok := strings.CutPrefix(rest, "{"); ok {
			end := strings.Index(v, "}")
			if end < 0 {
				return bad()
			}
			_, pattern, has := strings.Cut(v[:end], "=")
			if !has {
				pattern = "*"
			}
			out = append(out, strings.Split(pattern, "/")...)
			rest = strings.TrimPrefix(v[end+1:], "/")
			continue
		}
		seg, next, _ := strings.Cut(rest, "/")
		if strings.ContainsAny(seg, "{}") {
			return bad()
		}
		out = append(out, seg)
		rest = next
	}
	for i, seg := range out {
		if seg == "" || seg == "**" && i != len(out)-1 {
			return bad()
		}
	}
	rt.segments = out
	return rt, nil
}

func (rt route) match(method, p string) bool {
	if rt.method != "" && rt.method != method && !(rt.method == "GET" && method == "HEAD") {
		return false
	}
	switch {
	case rt.segments != nil:
		return rt.matchTemplate(p)
	case rt.prefix:
		return strings.HasPrefix(p, rt.path)
	}
	return p == rt.path
}

func (rt route) matchTemplate(p string) bool {
	got := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if rt.verb != "" {
		last, ok := strings.CutSuffix(got[len(got)-1], ":"+rt.verb)
		if !ok {
			return false
		}
		got[len(got)-1] = last
	}
	for i, want := range rt.segments {
		switch {
		case want == "**":
			return i < len(got) && got[i] != ""
		case i >= len(got), got[i] == "", want != "*" && want != got[i]:
			return false
		}
	}
	return len(got) == len(rt.segments)
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
