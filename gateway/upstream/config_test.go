package upstream_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ssegate/ssegate/gateway/upstream"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "api.binpb")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	ok := func() upstream.Config {
		return upstream.Config{Name: "jobs", Addrs: []string{"127.0.0.1:9090", "jobs-2.internal:9090"}, Reflection: true}
	}
	tests := []struct {
		name   string
		change func(*upstream.Config)
		want   []string // substrings of the error; none means valid
	}{
		{"reflection", func(*upstream.Config) {}, nil},
		{"descriptor set", func(c *upstream.Config) { c.Reflection, c.DescriptorSet = false, file }, nil},
		{"tls empty", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{} }, nil},
		{"tls full", func(c *upstream.Config) {
			c.TLS = &upstream.TLSConfig{CAFile: file, CertFile: file, KeyFile: file, ServerName: "jobs.internal"}
		}, nil},
		{"services", func(c *upstream.Config) { c.Services = []string{"jobs.v1.JobService", "grpc.health.v1.Health"} }, nil},
		{"ipv6", func(c *upstream.Config) { c.Addrs = []string{"[::1]:9090"} }, nil},

		{"no name", func(c *upstream.Config) { c.Name = "" }, []string{`upstream "": name: required`}},
		{"name with capitals", func(c *upstream.Config) { c.Name = "Jobs" }, []string{`upstream "Jobs": name:`}},
		{"name with a dot", func(c *upstream.Config) { c.Name = "jobs.v1" }, []string{`upstream "jobs.v1": name:`}},
		{"name ends in a hyphen", func(c *upstream.Config) { c.Name = "jobs-" }, []string{`name:`}},
		{"name too long", func(c *upstream.Config) { c.Name = strings.Repeat("a", 64) }, []string{`name:`}},
		{"no addrs", func(c *upstream.Config) { c.Addrs = nil }, []string{`upstream "jobs": addrs: at least one host:port`}},
		{"addr without port", func(c *upstream.Config) { c.Addrs = []string{"jobs.internal"} }, []string{`upstream "jobs": addrs: "jobs.internal":`}},
		{"addr without host", func(c *upstream.Config) { c.Addrs = []string{":9090"} }, []string{`addrs: ":9090": missing host`}},
		{"addr with bad port", func(c *upstream.Config) { c.Addrs = []string{"jobs:http"} }, []string{`addrs: "jobs:http": port must be`}},
		{"addr twice", func(c *upstream.Config) { c.Addrs = []string{"jobs:1", "jobs:1"} }, []string{`addrs: "jobs:1" listed twice`}},
		{"neither source", func(c *upstream.Config) { c.Reflection = false }, []string{`upstream "jobs": descriptor_set: required unless reflection`}},
		{"both sources", func(c *upstream.Config) { c.DescriptorSet = file }, []string{`descriptor_set: set together with reflection`}},
		{"set unreadable", func(c *upstream.Config) { c.Reflection, c.DescriptorSet = false, missing }, []string{`descriptor_set: open ` + missing}},
		{"set is a directory", func(c *upstream.Config) { c.Reflection, c.DescriptorSet = false, dir }, []string{`descriptor_set: ` + dir + ` is a directory`}},
		{"cert without key", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{CertFile: file} }, []string{`upstream "jobs": tls: cert_file and key_file go together`}},
		{"key without cert", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{KeyFile: file} }, []string{`tls: cert_file and key_file go together`}},
		{"ca unreadable", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{CAFile: missing} }, []string{`upstream "jobs": tls.ca_file: open ` + missing}},
		{"cert unreadable", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{CertFile: missing, KeyFile: file} }, []string{`tls.cert_file: open`}},
		{"key unreadable", func(c *upstream.Config) { c.TLS = &upstream.TLSConfig{CertFile: file, KeyFile: missing} }, []string{`tls.key_file: open`}},
		{"service not a full name", func(c *upstream.Config) { c.Services = []string{"jobs/v1.JobService"} }, []string{`upstream "jobs": services: "jobs/v1.JobService" is not a full protobuf name`}},
		{"service twice", func(c *upstream.Config) { c.Services = []string{"a.B", "a.B"} }, []string{`services: "a.B" listed twice`}},
		{"every problem at once", func(c *upstream.Config) { c.Addrs, c.Reflection = nil, false }, []string{`addrs:`, `descriptor_set:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok()
			tt.change(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// A config file's upstream entry unmarshals through sigs.k8s.io/yaml, which
// reads the json tags, into the fields it names.
func TestConfigFromYAML(t *testing.T) {
	t.Parallel()
	doc := `
name: jobs
addrs: ["jobs-1:9090", "jobs-2:9090"]
tls:
  ca_file: /etc/ssegate/ca.pem
  cert_file: /etc/ssegate/client.pem
  key_file: /etc/ssegate/client-key.pem
  server_name: jobs.internal
descriptor_set: /etc/ssegate/api.binpb
services: [jobs.v1.JobService]
`
	var got upstream.Config
	if err := yaml.UnmarshalStrict([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := upstream.Config{
		Name:  "jobs",
		Addrs: []string{"jobs-1:9090", "jobs-2:9090"},
		TLS: &upstream.TLSConfig{CAFile: "/etc/ssegate/ca.pem", CertFile: "/etc/ssegate/client.pem",
			KeyFile: "/etc/ssegate/client-key.pem", ServerName: "jobs.internal"},
		DescriptorSet: "/etc/ssegate/api.binpb",
		Services:      []string{"jobs.v1.JobService"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unmarshalled %+v, want %+v", got, want)
	}

	// An empty tls: block still turns TLS on.
	var empty upstream.Config
	if err := yaml.UnmarshalStrict([]byte("name: jobs\naddrs: [a:1]\nreflection: true\ntls: {}\n"), &empty); err != nil {
		t.Fatal(err)
	}
	if empty.TLS == nil || !empty.Reflection {
		t.Errorf("tls: {} gave TLS %v, reflection %v; want TLS on, reflection true", empty.TLS, empty.Reflection)
	}
}
