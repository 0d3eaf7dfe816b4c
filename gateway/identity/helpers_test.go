package identity_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

// t0 is the fixed "now" of every test; nothing here reads the wall clock.
var t0 = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

const testIssuer = "ssegate-test"

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func hsConfig() identity.Config {
	return identity.Config{Secret: testSecret, Issuer: testIssuer, Lifetime: time.Hour}
}

func mustIssuer(t testing.TB, cfg identity.Config) *identity.Issuer {
	t.Helper()
	i, err := identity.NewIssuer(cfg)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return i
}

func mustVerifier(t testing.TB, cfg identity.Config) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustIssue(t testing.TB, i *identity.Issuer, subject string, now time.Time) string {
	t.Helper()
	tok, _, err := i.Issue(subject, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

// claims builds the claims of a well-formed token issued at now.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer,
		"sub": "demo",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// sign signs c with method and key, setting kid when it is not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// RSA key generation is slow under the race detector: once per run.
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err) // test setup only
		}
		ks[i] = k
	}
	return ks
})

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
