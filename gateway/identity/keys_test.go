package identity_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeysPEM(t *testing.T) {
	t.Parallel()
	ec := ecKey(t)
	rk := rsaKeys()[0]
	pkcs8EC, _ := x509.MarshalPKCS8PrivateKey(ec)
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(rk)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pubEC, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pubRSA, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	ed := edKey(t)
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(ed)
	pubEd, _ := x509.MarshalPKIXPublicKey(ed.Public())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ssegate"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour),
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	edCert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ed.Public(), ed)
	if err != nil {
		t.Fatal(err)
	}

	signing := []struct {
		name string
		data []byte
		want crypto.PublicKey // nil: error expected
	}{
		{"PKCS8 EC", pemOf("PRIVATE KEY", pkcs8EC), &ec.PublicKey},
		{"PKCS8 RSA", pemOf("PRIVATE KEY", pkcs8RSA), &rk.PublicKey},
		{"PKCS8 Ed25519", pemOf("PRIVATE KEY", pkcs8Ed), ed.Public()},
		{"SEC1", pemOf("EC PRIVATE KEY", sec1), &ec.PublicKey},
		{"PKCS1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), &rk.PublicKey},
		{"public key", pemOf("PUBLIC KEY", pubEC), nil},
		{"corrupt", pemOf("PRIVATE KEY", []byte("junk")), nil},
		{"not PEM", []byte("hello"), nil},
	}
	for _, tc := range signing {
		t.Run("signing "+tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := identity.ParseSigningKeyPEM(tc.data)
			if tc.want == nil {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eq, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(tc.want) {
				t.Fatal("wrong key")
			}
		})
	}

	verification := []struct {
		name string
		data []byte
		want crypto.PublicKey
	}{
		{"PKIX EC", pemOf("PUBLIC KEY", pubEC), &ec.PublicKey},
		{"PKIX RSA", pemOf("PUBLIC KEY", pubRSA), &rk.PublicKey},
		{"PKIX Ed25519", pemOf("PUBLIC KEY", pubEd), ed.Public()},
		{"Ed25519 certificate", pemOf("CERTIFICATE", edCert), ed.Public()},
		{"PKCS1", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey)), &rk.PublicKey},
		{"certificate", pemOf("CERTIFICATE", cert), &ec.PublicKey},
		{"private key", pemOf("PRIVATE KEY", pkcs8EC), nil},
		{"corrupt", pemOf("PUBLIC KEY", []byte("junk")), nil},
		{"empty", nil, nil},
	}
	for _, tc := range verification {
		t.Run("verification "+tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := identity.ParseVerificationKeyPEM(tc.data)
			if tc.want == nil {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eq, ok := k.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(tc.want) {
				t.Fatal("wrong key")
			}
		})
	}
}

// TestLoadKeys signs with a key loaded from a file and verifies with keys
// loaded from files, as a production gateway and backend would.
func TestLoadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ec := ecKey(t)
	priv, _ := x509.MarshalPKCS8PrivateKey(ec)
	pub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	privPath := write("signing.pem", pemOf("PRIVATE KEY", priv))
	pubPath := write("k1.pem", pemOf("PUBLIC KEY", pub))

	signer, err := identity.LoadSigningKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.LoadVerificationKeys([]string{"k1=" + pubPath})
	if err != nil {
		t.Fatal(err)
	}
	iss := mustIssuer(t, identity.Config{Algorithm: identity.ES256, SigningKey: signer, SigningKeyID: "k1"})
	v := mustVerifier(t, identity.Config{Algorithm: identity.ES256, VerificationKeys: keys})
	if _, err := v.Verify(mustIssue(t, iss, "demo", t0), t0); err != nil {
		t.Fatal(err)
	}

	if _, err := identity.LoadSigningKey(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("LoadSigningKey: missing file accepted")
	}
	if _, err := identity.LoadVerificationKeys([]string{"k2=" + filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("LoadVerificationKeys: missing file accepted")
	}
	if _, err := identity.LoadVerificationKeys([]string{"k2=" + privPath}); err == nil {
		t.Error("LoadVerificationKeys: private key accepted")
	}
}
