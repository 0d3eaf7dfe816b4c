package server_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/ssegate/ssegate/gateway/server"
)

// Behind trusted proxies the client is the nearest untrusted hop of
// X-Forwarded-For; anyone else's header is ignored.
func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name, remote, xff, want string
		trusted                 []netip.Prefix
	}{
		{"no proxies configured", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9", nil},
		{"untrusted peer's header ignored", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9", trusted},
		{"one trusted proxy", "127.0.0.1:5000", "198.51.100.1", "198.51.100.1", trusted},
		{"spoofed left hop skipped", "127.0.0.1:5000", "6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1", trusted},
		{"only proxies", "127.0.0.1:5000", "10.1.2.3", "127.0.0.1", trusted},
		{"malformed hop", "127.0.0.1:5000", "198.51.100.1, junk", "127.0.0.1", trusted},
		{"no header", "127.0.0.1:5000", "", "127.0.0.1", trusted},
		{"IPv6 client", "127.0.0.1:5000", "2001:db8::1", "2001:db8::1", trusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := server.ClientIP(tt.trusted)(r); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
