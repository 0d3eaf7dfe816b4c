package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/server"
)

func pemKey(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "identity.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// The gateway's identity key comes from identity-signing-key-file, ES256
// or EdDSA as its type says, or is fresh; its tokens verify with the
// public key alone, for the upstream they name, for identity-lifetime.
func TestIdentityIssuerFromConfig(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer // nil: a fresh one
		alg  string
	}{
		{"ES256 key file", ec, identity.ES256},
		{"EdDSA key file", ed, identity.EdDSA},
		{"fresh", nil, identity.ES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Identity{IdentityLifetime: 2 * time.Minute}
			if tc.key != nil {
				cfg.IdentitySigningKeyFile, cfg.IdentityKeyID = pemKey(t, tc.key), "gw-1"
			}
			issuer, fresh, err := server.IdentityIssuer(cfg, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if fresh != (tc.key == nil) {
				t.Fatalf("fresh = %v", fresh)
			}
			now := time.Now()
			tok, exp, err := issuer.Sign(identity.Grant{Subject: "ada", Audience: "jobs", Session: "s1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			if d := exp.Sub(now.Truncate(time.Second)); d != 2*time.Minute {
				t.Errorf("lifetime %v, want identity-lifetime", d)
			}
			if tc.key == nil {
				return // its public key is not ours to verify with
			}
			v, err := identity.NewVerifier(identity.Config{Algorithm: tc.alg, Issuer: identity.GatewayIssuer, Audience: "jobs",
				VerificationKeys: map[string]crypto.PublicKey{"gw-1": tc.key.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if p, err := v.Verify(tok, now); err != nil || p.Subject != "ada" || p.Session != "s1" {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
		})
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = server.IdentityIssuer(config.Identity{IdentitySigningKeyFile: pemKey(t, rk), IdentityKeyID: "gw-1", IdentityLifetime: time.Minute}, nil, "")
	if err == nil || !strings.Contains(err.Error(), "not an ECDSA P-256 or Ed25519 key") {
		t.Fatalf("an RSA key: %v, want it refused", err)
	}
}
