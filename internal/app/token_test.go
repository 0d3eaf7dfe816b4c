package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
)

// writeKeyPair writes an ES256 key pair as PEM files and returns their paths.
func writeKeyPair(t *testing.T, dir, name string) (private, public string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	private, public = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		t.Fatal(err)
	}
	return private, public
}

// With ES256 only the auth service holds a private key; the gateway
// verifies with the public key set, and a key rotates by kid.
func TestES256KeySetFromConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldKey, oldPub := writeKeyPair(t, dir, "old")
	newKey, newPub := writeKeyPair(t, dir, "new")
	load := func(args ...string) config.Config {
		t.Helper()
		cfg, err := config.Load("t", append([]string{"-session-algorithm", "ES256"}, args...), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	logger := slog.New(slog.DiscardHandler)
	tokens := func(cfg config.Config) identity.Config {
		t.Helper()
		c, err := app.TokenConfig(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The auth service signed with the old key, then rotated to the new one.
	oldIssuer, err := identity.NewIssuer(tokens(load("-session-signing-key-file", oldKey, "-session-signing-key-id", "old")))
	if err != nil {
		t.Fatal(err)
	}
	newIssuer, err := identity.NewIssuer(tokens(load("-session-signing-key-file", newKey, "-session-signing-key-id", "new")))
	if err != nil {
		t.Fatal(err)
	}
	// The gateway accepts both while the old key's tokens live.
	gatewayCfg := load("-session-verification-keys", "old="+oldPub+",new="+newPub)
	if err := app.CheckSessionKeys(gatewayCfg); err == nil {
		t.Fatal("an auth service without a signing key was accepted")
	}
	verifier, err := identity.NewVerifier(tokens(gatewayCfg))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, iss := range map[string]*identity.Issuer{"old": oldIssuer, "new": newIssuer} {
		tok, _, err := iss.Issue("demo", now)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := verifier.Verify(tok, now); err != nil || p.Subject != "demo" {
			t.Fatalf("%s key: %v %+v", name, err, p)
		}
	}
	// Once the old kid is dropped, its tokens are refused.
	rotated, err := identity.NewVerifier(tokens(load("-session-verification-keys", "new="+newPub)))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := oldIssuer.Issue("demo", now)
	if _, err := rotated.Verify(tok, now); err == nil {
		t.Fatal("a token of a dropped key was accepted")
	}
}

func TestSessionKeySettingsAreChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-session-algorithm", "HS512"}, "session-algorithm"},
		{[]string{"-session-algorithm", "ES256"}, "session-verification-keys"},
		{[]string{"-session-algorithm", "ES256", "-session-verification-keys", "nokid"}, "session-verification-keys"},
		{[]string{"-session-algorithm", "RS256", "-session-signing-key-file", "k.pem"}, "session-signing-key-id"},
		{[]string{"-session-verification-keys", "a=b.pem"}, "session-algorithm"},
		{[]string{"-session-algorithm", "ES256", "-session-secret", strings.Repeat("s", 32), "-session-verification-keys", "a=b"}, "session-secret"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := config.Load("t", tt.args, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
