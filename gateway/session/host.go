package session

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/gateway/httperr"
)

// Hosts checks the Host of every request against the names the gateway
// answers for, so that a page whose domain re-resolves to the gateway (DNS
// rebinding) cannot drive it: such a page's requests name its own domain.
type Hosts struct {
	exact  map[string]bool
	suffix []string // ".example.com"
	anyIP  bool
}

// LoopbackHosts are the names a gateway always answers for.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// NewHosts allows the names given: exact host names (compared without the
// port and case), or with a leading dot every subdomain of the name. The
// loopback names are always allowed.
func NewHosts(names ...string) (*Hosts, error) {
	h := &Hosts{exact: map[string]bool{}}
	for _, n := range append(LoopbackHosts, names...) {
		n = strings.ToLower(strings.Trim(n, "[]"))
		switch {
		case n == "" || n == "." || strings.ContainsAny(n, "/:*@ ") && !isIP(n):
			return nil, fmt.Errorf("session: allowed host %q is not a host name", n)
		case strings.HasPrefix(n, "."):
			h.suffix = append(h.suffix, n)
		default:
			h.exact[n] = true
		}
	}
	return h, nil
}

func isIP(s string) bool { return net.ParseIP(s) != nil }

// WithAnyIP returns a copy of h that also allows every IP address other
// than the unspecified one: a scraper names its target so, and a page
// that rebinds a name to the gateway sends that name, never an address.
func (h *Hosts) WithAnyIP() *Hosts {
	c := *h
	c.anyIP = true
	return &c
}

// Allowed reports whether host, a request's Host (with or without a port),
// is one of the names.
func (h *Hosts) Allowed(host string) bool {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if h.exact[host] {
		return true
	}
	if ip := net.ParseIP(host); h.anyIP && ip != nil && !ip.IsUnspecified() {
		return true
	}
	for _, s := range h.suffix {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// Wrap refuses, with 421 Misdirected Request, a request for a host not
// allowed; the rest go on to next.
func (h *Hosts) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.Allowed(r.Host) {
			httperr.WriteStatus(w, http.StatusMisdirectedRequest, codes.PermissionDenied, "unknown host")
			return
		}
		next.ServeHTTP(w, r)
	})
}
