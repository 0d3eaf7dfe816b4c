// Package cmd_test runs every binary in cmd/ as a user would, with a start
// that cannot succeed, and checks that each stops with one line naming the
// cause and status 1: never a panic, never a trace.
package cmd_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

const secret = "startup-test-secret-startup-test-secret"

func TestStartFailuresStopWithOneLine(t *testing.T) {
	t.Parallel()
	bins := apptest.Build(t, "ssegate-demo", "ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs")
	backends := []string{"-upstream", "jobs=127.0.0.1:1", "-reflection"}
	keys := apptest.WriteKeys(t)
	// Each binary's minimal flags; {addr} is the listen address, {data} the
	// data directory.
	binaries := []struct {
		name string
		args []string
	}{
		{"ssegate-demo", []string{"-addr", "{addr}", "-metrics-addr", "127.0.0.1:0", "-data-dir", "{data}"}},
		{"ssegate", slices.Concat([]string{"-addr", "{addr}", "-metrics-addr", "127.0.0.1:0", "-session-secret", secret}, keys.GatewayFlags(), backends)},
		{"ssegate-auth", slices.Concat([]string{"-grpc-addr", "{addr}", "-session-secret", secret, "-data-dir", "{data}"}, keys.ServiceFlags(app.AuthService))},
		{"ssegate-jobs", slices.Concat([]string{"-grpc-addr", "{addr}", "-data-dir", "{data}", "-logs-addr", "127.0.0.1:1"}, keys.ServiceFlags(app.JobsService))},
		{"ssegate-logs", slices.Concat([]string{"-grpc-addr", "{addr}", "-data-dir", "{data}"}, keys.ServiceFlags(app.LogsService))},
	}
	failures := []struct {
		name string
		// only lists the binaries that have this failure (nil: all).
		only []string
		// prepare returns the listen address and data directory to use and
		// the extra flags.
		prepare func(t *testing.T) (addr, data string, extra []string)
		want    string // the one line, after "NAME: "
	}{
		{
			name: "busy port",
			prepare: func(t *testing.T) (string, string, []string) {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { lis.Close() })
				return lis.Addr().String(), filepath.Join(t.TempDir(), "data"), nil
			},
			want: "listen tcp {addr}: bind: address already in use",
		},
		{
			name: "bad config value",
			prepare: func(t *testing.T) (string, string, []string) {
				return "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), []string{"-heartbeat", "soon"}
			},
			want: `-heartbeat: "soon" is not a duration such as 15s`,
		},
		{
			name: "no gateway identity keys",
			only: []string{"ssegate-auth", "ssegate-jobs", "ssegate-logs"},
			prepare: func(t *testing.T) (string, string, []string) {
				return "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), []string{"-identity-verification-keys", ""}
			},
			want: "identity-verification-keys: required when the services run as separate processes: the gateways' public identity keys, as kid=public-key.pem",
		},
		{
			name: "data directory is a file",
			only: []string{"ssegate-demo", "ssegate-auth", "ssegate-jobs", "ssegate-logs"},
			prepare: func(t *testing.T) (string, string, []string) {
				file := filepath.Join(t.TempDir(), "data")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return "127.0.0.1:0", file, nil
			},
			want: "store: mkdir {data}: not a directory",
		},
	}
	for _, b := range binaries {
		for _, f := range failures {
			if f.only != nil && !slices.Contains(f.only, b.name) {
				continue
			}
			t.Run(b.name+"/"+strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				addr, data, extra := f.prepare(t)
				r := strings.NewReplacer("{addr}", addr, "{data}", data)
				var args []string
				for _, a := range append(b.args, extra...) {
					args = append(args, r.Replace(a))
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, filepath.Join(bins, b.name), args...)
				cmd.Env = apptest.Env()
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				if ctx.Err() != nil {
					t.Fatalf("%s still running after 30s: %s", b.name, stderr.String())
				}
				if code := apptest.ExitCode(err); code != 1 {
					t.Errorf("exit status %d (%v), want 1", code, err)
				}
				want := b.name + ": " + r.Replace(f.want) + "\n"
				if got := stderr.String(); got != want {
					t.Errorf("stderr:\n%s\nwant exactly:\n%s", got, want)
				}
				if stdout.Len() > 0 {
					t.Errorf("stdout: %q, want nothing", stdout.String())
				}
				// Listening comes first: a busy port stops the start before
				// anything is created.
				if f.name == "busy port" {
					if _, err := os.Stat(data); !os.IsNotExist(err) {
						t.Errorf("the data directory exists after the failed start (%v)", err)
					}
				}
			})
		}
	}
}
