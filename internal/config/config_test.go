package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"addr": "127.0.0.1:9000", "heartbeat": "20s", "max_streams_per_user": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("t", []string{"-config", file, "-heartbeat", "5s"},
		env(map[string]string{"SSEGATE_HEARTBEAT": "7s", "SSEGATE_DATA_DIR": "/tmp/x", "SSEGATE_ADDR": "127.0.0.1:9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Heartbeat != 5*time.Second || cfg.DataDir != "/tmp/x" || cfg.Addr != "127.0.0.1:9100" || cfg.MaxStreamsPerUser != 3 {
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
