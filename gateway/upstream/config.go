package upstream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Config describes one upstream. It unmarshals from a config file through
// sigs.k8s.io/yaml, which reads the json tags.
type Config struct {
	// Name identifies the upstream in errors, logs and metrics: a
	// DNS-label-like token (lowercase letters, digits, inner hyphens).
	Name string `json:"name"`
	// Addrs are host:port addresses of the upstream's replicas; calls are
	// balanced over those whose gRPC health service says SERVING.
	Addrs []string `json:"addrs"`
	// TLS, when present (even empty), turns TLS to the upstream on.
	TLS *TLSConfig `json:"tls,omitempty"`
	// DescriptorSet is the path of a serialized FileDescriptorSet (what
	// `buf build -o api.binpb` or `protoc --include_imports
	// --descriptor_set_out=…` writes). Exactly one of DescriptorSet and
	// Reflection is set.
	DescriptorSet string `json:"descriptor_set,omitempty"`
	// Reflection loads the descriptors from the upstream's gRPC server
	// reflection service (v1, else v1alpha).
	Reflection bool `json:"reflection,omitempty"`
	// Services are the full names of the services to expose; empty means
	// all that the descriptors define except reflection and health, or
	// health when it is all they define besides reflection.
	Services []string `json:"services,omitempty"`
}

// TLSConfig is TLS to the upstream. The zero value verifies the server
// against the system roots and the host of each address.
type TLSConfig struct {
	// CAFile is a PEM file of the CAs that sign the upstream's
	// certificates; empty means the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate and key (PEM) for
	// mutual TLS; both or neither.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// ServerName, when set, is the name verified in the server's
	// certificate and sent as :authority, instead of each address itself.
	ServerName string `json:"server_name,omitempty"`
}

// nameRE is a DNS label: the name may end up in hostnames, metric labels
// and token audiences, where anything else needs escaping.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate reports every problem of c, each as `upstream "NAME": FIELD: …`.
// It reads nothing but checks that the files it names can be opened.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("upstream %q: %s: %s", c.Name, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Name == "":
		bad("name", "required")
	case !nameRE.MatchString(c.Name):
		bad("name", "must be lowercase letters, digits and inner hyphens, at most 63")
	}

	if len(c.Addrs) == 0 {
		bad("addrs", "at least one host:port required")
	}
	seen := map[string]bool{}
	for _, a := range c.Addrs {
		if err := checkAddr(a); err != nil {
			bad("addrs", "%q: %v", a, err)
		} else if seen[a] {
			bad("addrs", "%q listed twice", a)
		}
		seen[a] = true
	}

	switch {
	case c.DescriptorSet != "" && c.Reflection:
		bad("descriptor_set", "set together with reflection; choose one")
	case c.DescriptorSet == "" && !c.Reflection:
		bad("descriptor_set", "required unless reflection is true")
	case c.DescriptorSet != "":
		if err := readable(c.DescriptorSet); err != nil {
			bad("descriptor_set", "%v", err)
		}
	}

	if t := c.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("tls", "cert_file and key_file go together")
		}
		for _, f := range []struct{ field, path string }{
			{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
		} {
			if f.path == "" {
				continue
			}
			if err := readable(f.path); err != nil {
				bad(f.field, "%v", err)
			}
		}
	}

	named := map[string]bool{}
	for _, s := range c.Services {
		if !protoreflect.FullName(s).IsValid() {
			bad("services", "%q is not a full protobuf name (package.Service)", s)
		} else if named[s] {
			bad("services", "%q listed twice", s)
		}
		named[s] = true
	}
	return errors.Join(errs...)
}

func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1 to 65535")
	}
	return nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}
