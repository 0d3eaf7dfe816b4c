package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/config"
)

// secret is a valid HS256 secret: the default session settings need one.
const secret = "0123456789abcdef0123456789abcdef"

// env returns a lookup of m, with a session secret unless m sets one.
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "SSEGATE_SESSION_SECRET" {
			return v
		}
		return secret
	}
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"addr": "127.0.0.1:9000", "heartbeat": "20s", "max_streams_per_user": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("t", []string{"-config", file, "-heartbeat", "5s"},
		env(map[string]string{"SSEGATE_HEARTBEAT": "7s", "SSEGATE_SESSION_SECRET": secret, "SSEGATE_ADDR": "127.0.0.1:9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Heartbeat != 5*time.Second || cfg.SessionSecret != secret || cfg.Addr != "127.0.0.1:9100" || cfg.MaxStreamsPerUser != 3 {
		t.Fatalf("got %+v", cfg)
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad duration in env", nil, map[string]string{"SSEGATE_HEARTBEAT": "soon"}, "SSEGATE_HEARTBEAT"},
		{"zero heartbeat", []string{"-heartbeat", "0s"}, nil, "heartbeat"},
		{"bad address", []string{"-addr", "8080"}, nil, "addr"},
		{"bad origin", nil, map[string]string{"SSEGATE_ALLOWED_ORIGINS": "*"}, "allowed-origins"},
		{"short secret", []string{"-session-secret", "short"}, nil, "session-secret"},
		{"bad number", []string{"-max-streams-per-user", "many"}, nil, "max-streams-per-user"},
		{"negative cap", []string{"-max-streams-per-user", "-1"}, nil, "max-streams-per-user"},
		{"unknown flag", []string{"-nope", "1"}, nil, "nope"},
		{"bad level", []string{"-log-level", "loud"}, nil, "log-level"},
		{"cert without key", []string{"-tls-cert-file", "c.pem"}, nil, "tls-key-file"},
		{"key without cert", []string{"-tls-key-file", "k.pem"}, nil, "tls-cert-file"},
		{"missing cert files", []string{"-tls-cert-file", "/nonexistent/c.pem", "-tls-key-file", "/nonexistent/k.pem"}, nil, "tls-cert-file"},
		{"bad boolean in env", nil, map[string]string{"SSEGATE_H2C": "maybe"}, "SSEGATE_H2C"},
		{"bad boolean flag", []string{"-metrics=maybe"}, nil, "metrics"},
		{"negative global cap", []string{"-max-streams", "-1"}, nil, "max-streams"},
		{"negative per-IP cap", nil, map[string]string{"SSEGATE_MAX_STREAMS_PER_IP": "-2"}, "max-streams-per-ip"},
		{"short lifetime", []string{"-max-lifetime", "500ms"}, nil, "max-lifetime"},
		{"jitter over lifetime", []string{"-max-lifetime", "1m", "-lifetime-jitter", "1m"}, nil, "lifetime-jitter"},
		{"jitter without lifetime", []string{"-lifetime-jitter", "5s"}, nil, "lifetime-jitter"},
		{"negative reconnect jitter", []string{"-reconnect-jitter", "-1s"}, nil, "reconnect-jitter"},
		{"zero drain timeout", []string{"-drain-timeout", "0s"}, nil, "drain-timeout"},
		{"zero header timeout", []string{"-read-header-timeout", "0s"}, nil, "read-header-timeout"},
		{"zero idle timeout", []string{"-idle-timeout", "0s"}, nil, "idle-timeout"},
		{"tiny header limit", []string{"-max-header-bytes", "100"}, nil, "max-header-bytes"},
		{"zero HTTP/2 streams", []string{"-http2-max-streams", "0"}, nil, "http2-max-streams"},
		{"tiny message limit", []string{"-grpc-max-message-bytes", "10"}, nil, "grpc-max-message-bytes"},
		{"fast keepalive", []string{"-grpc-keepalive", "1s"}, nil, "grpc-keepalive"},
		{"bad upstream address", []string{"-upstream", "jobs=127.0.0.1:9001,9002", "-reflection"}, nil, `upstream "jobs"`},
		{"upstream without descriptors", []string{"-upstream", "jobs=127.0.0.1:9001"}, nil, `upstream "jobs"`},
		{"upstream not NAME=ADDRS", []string{"-upstream", "127.0.0.1:9001", "-reflection"}, nil, "-upstream"},
		{"reflection without upstream", []string{"-reflection"}, nil, "-upstream"},
		{"upstream named twice", []string{"-upstream", "a=127.0.0.1:1", "-upstream", "a=127.0.0.1:2", "-reflection"}, nil, `"a" is named twice`},
		{"no session secret", nil, map[string]string{"SSEGATE_SESSION_SECRET": ""}, "session-secret"},
		{"bad auth mode", []string{"-auth", "maybe"}, nil, "auth"},
		{"bad algorithm", []string{"-session-algorithm", "none"}, nil, "session-algorithm"},
		{"keys without key files", []string{"-session-algorithm", "ES256"}, map[string]string{"SSEGATE_SESSION_SECRET": ""}, "session-verification-keys"},
		{"secret with ES256", []string{"-session-algorithm", "ES256", "-session-jwks", "keys.json"}, nil, "session-secret"},
		{"bad JWKS URL", []string{"-session-algorithm", "EdDSA", "-session-jwks", "ftp://x/keys"}, map[string]string{"SSEGATE_SESSION_SECRET": ""}, "session-jwks"},
		{"bad cookie name", []string{"-session-cookie", "a b"}, nil, "session-cookie"},
		{"registered user claim", []string{"-session-user-claim", "exp"}, nil, "session-user-claim"},
		{"claim named twice", []string{"-session-claims", "roles,tenant,roles"}, nil, "session-claims"},
		{"fast JWKS refresh", []string{"-session-algorithm", "RS256", "-session-jwks", "keys.json", "-session-jwks-refresh", "1s"},
			map[string]string{"SSEGATE_SESSION_SECRET": ""}, "session-jwks-refresh"},
		{"JWKS with HS256", []string{"-session-jwks", "keys.json"}, nil, "session-algorithm"},
		{"bad public route", []string{"-public-routes", "GET v1"}, nil, "public-routes"},
		{"bad share mode", []string{"-stream-share", "/a.B/C=everyone"}, nil, "stream-share"},
		{"bad share method", []string{"-stream-share", "Watch=public"}, nil, "stream-share"},
		{"bad proxy prefix", []string{"-trusted-proxies", "10.0.0.0/33"}, nil, "trusted-proxies"},
		{"reserved forwarded claim", []string{"-session-claims", "roles,sid"}, nil, "session-claims"},
		{"identity key without kid", []string{"-identity-signing-key-file", "k.pem"}, nil, "identity-key-id"},
		{"identity kid without key", []string{"-identity-key-id", "gw"}, nil, "identity-key-id"},
		{"missing identity key", []string{"-identity-signing-key-file", "/nonexistent/k.pem", "-identity-key-id", "gw"}, nil, "identity-signing-key-file"},
		{"identity tokens of hours", []string{"-identity-lifetime", "2h"}, nil, "identity-lifetime"},
		{"identity tokens of a second", []string{"-identity-lifetime", "1s"}, nil, "identity-lifetime"},
		{"revocations of no upstream", []string{"-upstream", "jobs=127.0.0.1:1", "-reflection", "-session-revocations", "auth"}, nil, "session-revocations"},
		{"revocations without sessions", []string{"-auth", "none", "-session-revocations", "auth"}, nil, "session-revocations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load("t", tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestUnknownFileSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"hartbeat": "20s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load("t", []string{"-config", file}, env(nil)); err == nil || !strings.Contains(err.Error(), "hartbeat") {
		t.Fatalf("error %v", err)
	}
}

func TestNewSettings(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.json")
	conf := `{"metrics": false, "max_lifetime": "10m", "lifetime_jitter": "1m", "session_claims": ["roles", "tenant"]}`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("t", []string{"-config", file, "-h2c", "-upstream", "logs=127.0.0.1:9003, 127.0.0.1:9004", "-reflection"},
		env(map[string]string{"SSEGATE_MAX_STREAMS": "100", "SSEGATE_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.Join(cfg.SessionClaims, " ") != "roles tenant":
		t.Errorf("session-claims from a JSON list: %q", cfg.SessionClaims)
	case len(cfg.Upstreams) != 1 || strings.Join(cfg.Upstreams[0].Addrs, " ") != "127.0.0.1:9003 127.0.0.1:9004" || !cfg.Upstreams[0].Reflection:
		t.Errorf("upstream from flags: %+v", cfg.Upstreams)
	case cfg.Metrics || !cfg.H2C:
		t.Errorf("booleans: metrics %v, h2c %v", cfg.Metrics, cfg.H2C)
	case cfg.MaxLifetime != 10*time.Minute || cfg.LifetimeJitter != time.Minute || cfg.MaxStreams != 100:
		t.Errorf("lifetime %s, jitter %s, max streams %d", cfg.MaxLifetime, cfg.LifetimeJitter, cfg.MaxStreams)
	case len(cfg.TrustedProxies) != 2:
		t.Errorf("trusted proxies %q", cfg.TrustedProxies)
	}
	d := config.Default()
	d.SessionSecret = secret
	if !d.Metrics || d.H2C || d.TLS() || d.DrainTimeout <= 0 || d.Validate() != nil {
		t.Errorf("defaults: %+v, %v", d, d.Validate())
	}
}

func TestTLSPairIsLoaded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	// A certificate whose key does not match is named at start.
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load("t", []string{"-tls-cert-file", cert, "-tls-key-file", key, "-h2c"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "tls-cert-file") || !strings.Contains(err.Error(), "h2c") {
		t.Fatalf("error %v, want tls-cert-file and h2c named", err)
	}
}

// The full form of upstreams lives in the config file, YAML or JSON; flags
// replace the file's list.
func TestUpstreamsFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	set := filepath.Join(dir, "api.binpb")
	if err := os.WriteFile(set, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(dir, "ssegate.yaml")
	conf := "auth: none\nheartbeat: 20s\nupstreams:\n" +
		"  - name: jobs\n    addrs: [127.0.0.1:9001, 127.0.0.1:9002]\n    descriptor_set: " + set + "\n" +
		"    services: [acme.jobs.v1.JobService]\n" +
		"  - name: health\n    addrs: [127.0.0.1:9003]\n    reflection: true\n    tls: {server_name: health.internal}\n"
	if err := os.WriteFile(yaml, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("t", []string{"-config", yaml}, env(map[string]string{"SSEGATE_SESSION_SECRET": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth != config.AuthNone || cfg.Heartbeat != 20*time.Second || len(cfg.Upstreams) != 2 {
		t.Fatalf("got %+v", cfg)
	}
	jobs, health := cfg.Upstreams[0], cfg.Upstreams[1]
	if jobs.Name != "jobs" || len(jobs.Addrs) != 2 || jobs.DescriptorSet != set || jobs.Services[0] != "acme.jobs.v1.JobService" {
		t.Errorf("jobs: %+v", jobs)
	}
	if !health.Reflection || health.TLS == nil || health.TLS.ServerName != "health.internal" {
		t.Errorf("health: %+v", health)
	}

	cfg, err = config.Load("t", []string{"-config", yaml, "-upstream", "other=127.0.0.1:9100", "-descriptor-set", set}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Upstreams) != 1 || cfg.Upstreams[0].Name != "other" || cfg.Upstreams[0].DescriptorSet != set {
		t.Errorf("flags replace the file's upstreams: %+v", cfg.Upstreams)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("upstreams:\n  - name: x\n    adress: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load("t", []string{"-config", bad}, env(nil)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Errorf("misspelt upstream setting: %v", err)
	}
}

// TestSessionsOfAnotherIssuer: the settings of a gateway in front of
// another team's identity provider load as given.
func TestSessionsOfAnotherIssuer(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("t", []string{
		"-session-algorithm", "EdDSA",
		"-session-jwks", "http://127.0.0.1:9000/.well-known/jwks.json",
		"-session-jwks-refresh", "1m",
		"-session-issuer", "https://login.example.com",
		"-session-audience", "ssegate",
		"-session-user-claim", "preferred_username",
		"-session-claims", "roles, tenant",
	}, env(map[string]string{"SSEGATE_SESSION_SECRET": ""}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sessions
	if s.SessionAudience != "ssegate" || s.SessionUserClaim != "preferred_username" || strings.Join(s.SessionClaims, " ") != "roles tenant" ||
		s.SessionJWKSRefresh != time.Minute || s.SessionIssuer != "https://login.example.com" {
		t.Fatalf("sessions = %+v", s)
	}
}

// Under HTTPS the session cookie takes the __Host- prefix unless named.
func TestCookieName(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if got := c.CookieName(); got != "ssegate_session" {
		t.Errorf("plain HTTP: %q", got)
	}
	c.PublicHTTPS = true
	if got := c.CookieName(); got != "__Host-ssegate_session" {
		t.Errorf("HTTPS: %q", got)
	}
	c.SessionCookie = "app_session"
	if got := c.CookieName(); got != "app_session" {
		t.Errorf("named: %q", got)
	}
}
