package auth_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ssegate/ssegate/services/auth"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	hash := string(testUsers()["demo"])
	cases := []struct {
		name string
		in   string
		want []string // user names; nil: error
	}{
		{"yaml", "users:\n  demo: \"" + hash + "\"\n  ops: '" + hash + "'\n", []string{"demo", "ops"}},
		{"json", `{"users": {"demo": "` + hash + `"}}`, []string{"demo"}},
		{"unknown field", "users:\n  demo: \"" + hash + "\"\nadmins: [demo]\n", nil},
		{"not a hash", "users:\n  demo: demo\n", nil},
		{"no users", "users: {}\n", nil},
		{"empty", "", nil},
		{"garbage", "{[", nil},
		{"name with newline", `{"users": {"a\nb": "` + hash + `"}}`, nil},
		{"users is a list", "users: [demo]\n", nil},
		{"the gateway's name", `{"users": {"ssegate:gateway": "` + hash + `"}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := auth.ParseUsers([]byte(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", u)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(u) != len(tc.want) {
				t.Fatalf("got %d users, want %v", len(u), tc.want)
			}
			for _, name := range tc.want {
				if string(u[name]) != hash {
					t.Fatalf("user %s: hash %q", name, u[name])
				}
			}
		})
	}
}

func TestDefaultUsers(t *testing.T) {
	t.Parallel()
	u, err := auth.DefaultUsers()
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 2 {
		t.Fatalf("default users: %d, want demo and ops", len(u))
	}
	for _, name := range []string{"demo", "ops"} {
		if err := bcrypt.CompareHashAndPassword(u[name], []byte(name)); err != nil {
			t.Errorf("%s/%s: %v", name, name, err)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	t.Parallel()
	hash := string(testUsers()["demo"])
	p := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(p, []byte("users:\n  alice: \""+hash+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := auth.LoadUsers(p)
	if err != nil || len(u) != 1 {
		t.Fatalf("LoadUsers = %v, %v", u, err)
	}
	if _, err := auth.LoadUsers(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
