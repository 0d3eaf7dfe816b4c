package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ssegate/ssegate/gateway/session"
)

func TestHosts(t *testing.T) {
	t.Parallel()
	h, err := session.NewHosts("api.example.com", ".apps.example.org", "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"localhost", true}, {"localhost:8080", true}, {"127.0.0.1:8080", true}, {"[::1]:8080", true},
		{"API.Example.com", true}, {"api.example.com:443", true}, {"api.example.com.", true},
		{"x.apps.example.org", true}, {"a.b.apps.example.org:8443", true}, {"apps.example.org", false},
		{"10.0.0.5:8080", true}, {"10.0.0.6", false},
		{"evil.example", false}, {"api.example.com.evil.example", false}, {"rebind.attacker.test:8080", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := h.Allowed(tt.host); got != tt.ok {
			t.Errorf("Allowed(%q) = %v, want %v", tt.host, got, tt.ok)
		}
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	r := httptest.NewRequest("GET", "/v1/jobs", nil)
	r.Host = "rebind.attacker.test:8080"
	w := httptest.NewRecorder()
	h.Wrap(next).ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest || w.Body.String() != "{\"code\":\"PERMISSION_DENIED\",\"message\":\"unknown host\"}\n" {
		t.Errorf("foreign host: %d %q", w.Code, w.Body.String())
	}
	// WithAnyIP: every address but the unspecified one, names as before.
	anyIP := h.WithAnyIP()
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"10.0.0.6:9464", true}, {"[fd00::7]:9464", true}, {"api.example.com", true},
		{"0.0.0.0:9464", false}, {"[::]:9464", false}, {"127.1:9464", false}, {"2130706433", false}, {"evil.example", false},
	} {
		if got := anyIP.Allowed(tt.host); got != tt.ok {
			t.Errorf("WithAnyIP: Allowed(%q) = %v, want %v", tt.host, got, tt.ok)
		}
	}
	if h.Allowed("10.0.0.6") {
		t.Error("WithAnyIP changed the Hosts it was called on")
	}
	for _, bad := range []string{"", ".", "a/b", "*.example.com", "user@host"} {
		if _, err := session.NewHosts(bad); err == nil {
			t.Errorf("NewHosts(%q) accepted", bad)
		}
	}
}
