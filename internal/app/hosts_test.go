package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/internal/apptest"
)

// A request naming a host the gateway does not serve (DNS rebinding: a
// page whose domain now resolves to the gateway) is refused before the
// session middleware, even with the demo's credentials; health answers any
// host; metrics and profiling are only on their own listener, which checks
// Host as well (any address passes there: scrapers name targets so).
func TestHostsAndOperationalEndpoints(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	demo := apptest.StartDemo(t, cfg)
	port := demo.URL[strings.LastIndex(demo.URL, ":"):]
	do := func(base, method, path, host, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	login := `{"username":"demo","password":"demo"}`
	tests := []struct {
		name, base, method, path, host, body string
		want                                 int
	}{
		{"sign-in for a rebound host", demo.URL, "POST", "/v1/sessions", "rebind.attacker.test" + port, login, 421},
		{"sign-in from loopback", demo.URL, "POST", "/v1/sessions", "127.0.0.1" + port, login, 200},
		{"sign-in as localhost", demo.URL, "POST", "/v1/sessions", "localhost" + port, login, 200},
		{"docs for a rebound host", demo.URL, "GET", "/docs", "rebind.attacker.test" + port, "", 421},
		{"health for any host", demo.URL, "GET", "/healthz", "10.1.2.3" + port, "", 200},
		{"readiness for any host", demo.URL, "GET", "/readyz", "10.1.2.3" + port, "", 200},
		{"no metrics on the public port", demo.URL, "GET", "/metrics", "127.0.0.1" + port, "", 401},
		{"no profiler on the public port", demo.URL, "GET", "/debug/pprof/", "127.0.0.1" + port, "", 401},
		{"metrics on their listener", demo.MetricsURL, "GET", "/metrics", "", "", 200},
		{"profiler on the metrics listener", demo.MetricsURL, "GET", "/debug/pprof/", "", "", 200},
		{"metrics as localhost", demo.MetricsURL, "GET", "/metrics", "localhost:9464", "", 200},
		{"metrics for a scraper naming an address", demo.MetricsURL, "GET", "/metrics", "10.1.2.3:9464", "", 200},
		{"metrics for a rebound host", demo.MetricsURL, "GET", "/metrics", "rebind.attacker.test:9464", "", 421},
		{"profiler for a rebound host", demo.MetricsURL, "GET", "/debug/pprof/cmdline", "rebind.attacker.test:9464", "", 421},
	}
	for _, tt := range tests {
		host := tt.host
		if host == "" {
			host = strings.TrimPrefix(tt.base, "http://")
		}
		if got := do(tt.base, tt.method, tt.path, host, tt.body); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	// Signed in, the public port still has no metrics: they are no route.
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	res, err := c.Do(t.Context(), "GET", "/metrics", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("signed in, GET /metrics on the public port: %d, want 404", res.StatusCode)
	}
	// REST answers carry none of gRPC's own metadata.
	res, err = c.Do(t.Context(), "GET", "/v1/jobs", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for k := range res.Header {
		if lk := strings.ToLower(k); lk == "grpc-metadata-content-type" || strings.HasPrefix(lk, "grpc-metadata-grpc-") {
			t.Errorf("REST answer header %s: %q", k, res.Header.Values(k))
		}
	}
}
