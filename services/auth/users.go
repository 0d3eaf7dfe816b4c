package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"

	"github.com/ssegate/ssegate/gateway/identity"
)

// Users maps a user name to its bcrypt hash.
type Users map[string][]byte

// file is the users config: {"users": {"name": "bcrypt hash"}} in YAML or JSON.
type file struct {
	Users map[string]string `json:"users"`
}

//go:embed users.yaml
var defaultUsers []byte

// DefaultUsers returns the embedded demo users: demo/demo and ops/ops.
func DefaultUsers() (Users, error) {
	return ParseUsers(defaultUsers)
}

// LoadUsers reads a users file; see ParseUsers.
func LoadUsers(path string) (Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read users: %w", err)
	}
	return ParseUsers(data)
}

// ParseUsers reads a users config in YAML or JSON: a "users" object mapping
// each name to a bcrypt hash. Unknown fields, invalid names (they become
// session subjects: 1 to 256 printable ASCII characters, and not the
// gateway's own identity.GatewaySubject) and anything that
// is not a bcrypt hash are errors.
func ParseUsers(data []byte) (Users, error) {
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("auth: parse users: %w", err)
	}
	if len(f.Users) == 0 {
		return nil, errors.New("auth: no users")
	}
	u := make(Users, len(f.Users))
	for name, hash := range f.Users {
		if !identity.ValidSubject(name) {
			return nil, fmt.Errorf("auth: user name %q must be 1 to 256 printable ASCII characters", name)
		}
		if name == identity.GatewaySubject {
			return nil, fmt.Errorf("auth: user name %q is the gateway's own", name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("auth: user %q: not a bcrypt hash: %w", name, err)
		}
		u[name] = []byte(hash)
	}
	return u, nil
}
