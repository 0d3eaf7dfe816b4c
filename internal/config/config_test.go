package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/config"
)

// The demo's binaries take the gateway's settings and their own from the
// same flags, environment and file.
func TestDemoSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SSEGATE_DATA_DIR": "/tmp/x", "SSEGATE_HEARTBEAT": "7s"}
	cfg, err := config.Load("t", []string{"-job-pace", "5ms", "-logs-addr", "127.0.0.1:9001,127.0.0.1:9002"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StoreURL != "" {
		t.Fatal("the default history is not bbolt")
	}
	nats, err := config.Load("t", []string{"-store-url", "nats://10.0.0.1:4222,nats://10.0.0.2:4222", "-store-replicas", "3", "-lease-ttl", "5s"}, func(string) string { return "" })
	if err != nil || nats.LeaseTTL != 5*time.Second || nats.StoreReplicas != 3 {
		t.Fatalf("NATS settings: %+v, %v", nats, err)
	}
	if cfg.DataDir != "/tmp/x" || cfg.Heartbeat != 7*time.Second || cfg.JobPace != 5*time.Millisecond || len(cfg.LogsAddrs) != 2 {
		t.Fatalf("got %+v", cfg)
	}
	if cfg.SessionSecret != "" {
		t.Fatal("a session secret appeared from nowhere")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-data-dir", ""}, "data-dir"},
		{[]string{"-grpc-addr", "9000"}, "grpc-addr"},
		{[]string{"-logs-addr", "9000"}, "logs-addr"},
		{[]string{"-session-signing-key-file", "k.pem"}, "session-signing-key-id"},
		{[]string{"-heartbeat", "0s"}, "heartbeat"},
		{[]string{"-store-url", "127.0.0.1:4222"}, "store-url"},
		{[]string{"-store-url", "http://127.0.0.1:4222"}, "store-url"},
		{[]string{"-store-url", "nats://a:4222", "-store-replicas", "0"}, "store-replicas"},
		{[]string{"-store-url", "nats://a:4222", "-store-prefix", "a.b"}, "store-prefix"},
		{[]string{"-store-url", "nats://a:4222", "-lease-ttl", "1500ms"}, "lease-ttl"},
		{[]string{"-store-url", "nats://a:4222", "-store-tls-cert-file", "c.pem"}, "store-tls-key-file"},
	} {
		if _, err := config.Load("t", tt.args, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one naming %s", tt.args, err, tt.want)
		}
	}
}
