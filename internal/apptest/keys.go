package apptest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/internal/app"
)

// Kids of the keys Keys writes.
const (
	GatewayKeyID = "test-gateway"
	JobsKeyID    = "test-jobs"
)

// Keys are identity key files for the demo's binaries run as separate
// processes: the gateways' key pair and the jobs service's.
type Keys struct {
	GatewayKey, GatewayPub string // PEM files
	JobsKey, JobsPub       string
	// Gateway signs identity tokens as a gateway with GatewayKey does, for
	// tests that call a backend directly on a user's behalf.
	Gateway *identity.Minter
}

// WriteKeys writes fresh key pairs into a directory of t.
func WriteKeys(t testing.TB) Keys {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, key crypto.Signer) (private, public string) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		private, public = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
		if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			t.Fatal(err)
		}
		return private, public
	}
	var k Keys
	gw, err := identity.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := identity.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	k.GatewayKey, k.GatewayPub = write("gateway", gw)
	k.JobsKey, k.JobsPub = write("jobs", jobs)
	issuer, err := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: gw, SigningKeyID: GatewayKeyID,
		Issuer: identity.GatewayIssuer, Lifetime: identity.DefaultIdentityLifetime})
	if err != nil {
		t.Fatal(err)
	}
	if k.Gateway, err = identity.NewMinter(issuer, time.Now); err != nil {
		t.Fatal(err)
	}
	return k
}

// GatewayFlags are the flags of an ssegate gateway that signs with the
// gateways' key.
func (k Keys) GatewayFlags() []string {
	return []string{"-identity-signing-key-file", k.GatewayKey, "-identity-key-id", GatewayKeyID}
}

// ServiceFlags are the identity flags of the demo's service binary for
// service (app.AuthService, app.JobsService, app.LogsService): the
// gateways' public key, and the jobs service's key pair where it is used.
func (k Keys) ServiceFlags(service string) []string {
	flags := []string{"-identity-verification-keys", GatewayKeyID + "=" + k.GatewayPub}
	switch service {
	case app.JobsService:
		flags = append(flags, "-identity-signing-key-file", k.JobsKey, "-identity-key-id", JobsKeyID)
	case app.LogsService:
		flags = append(flags, "-jobs-identity-keys", JobsKeyID+"="+k.JobsPub)
	}
	return flags
}
