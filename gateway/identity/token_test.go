package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

type tokenCase struct {
	name    string
	token   string
	want    error // nil: accepted
	subject string
}

func runTokenCases(t *testing.T, v *identity.Verifier, cases []tokenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(tc.token, t0)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want accepted", err)
				}
				if p.Subject != tc.subject || p.Token != tc.token {
					t.Fatalf("principal = %+v, want subject %q and the token", p, tc.subject)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if tc.want == identity.ErrTokenInvalid && errors.Is(err, identity.ErrTokenExpired) {
				t.Fatalf("Verify error = %v claims expiry", err)
			}
			if !reflect.DeepEqual(p, identity.Principal{}) {
				t.Fatalf("principal = %+v on error", p)
			}
		})
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestVerifyHS256(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	v := mustVerifier(t, cfg)
	good := mustIssue(t, mustIssuer(t, cfg), "demo", t0)
	c := claims(t0)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }
	sec := func(d time.Duration) int64 { return t0.Add(d).Unix() }

	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c)
	// A none token with a signature part copied from a real one.
	noneSig := none + strings.Split(good, ".")[2]

	parts := strings.Split(good, ".")
	payload, _ := json.Marshal(with(c, "sub", "ops"))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	// Flip the unused low bits of the last signature character: the same
	// bytes under lax base64, a different string.
	sig := []byte(parts[2])
	sig[len(sig)-1] ^= 1
	malleable := parts[0] + "." + parts[1] + "." + string(sig)

	big := hs(with(c, "pad", strings.Repeat("x", identity.MaxTokenSize)))
	justFits := hs(with(c, "pad", strings.Repeat("x", 2800)))

	runTokenCases(t, v, []tokenCase{
		{name: "issued", token: good, subject: "demo"},
		{name: "hand signed", token: hs(c), subject: "demo"},
		{name: "empty", token: "", want: identity.ErrTokenInvalid},
		{name: "garbage", token: "not a token", want: identity.ErrTokenInvalid},
		{name: "three garbage parts", token: "a.b.c", want: identity.ErrTokenInvalid},
		{name: "two parts", token: parts[0] + "." + parts[1], want: identity.ErrTokenInvalid},
		{name: "wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes!"), "", c), want: identity.ErrTokenInvalid},
		{name: "tampered payload", token: tampered, want: identity.ErrTokenInvalid},
		{name: "non-canonical signature", token: malleable, want: identity.ErrTokenInvalid},
		{name: "alg none", token: none, want: identity.ErrTokenInvalid},
		{name: "alg none with signature", token: noneSig, want: identity.ErrTokenInvalid},
		{name: "HS384 same secret", token: sign(t, jwt.SigningMethodHS384, testSecret, "", c), want: identity.ErrTokenInvalid},
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaKeys()[0], "k1", c), want: identity.ErrTokenInvalid},
		{name: "expired", token: hs(with(c, "exp", sec(-31*time.Second))), want: identity.ErrTokenExpired},
		{name: "expired within skew", token: hs(with(c, "exp", sec(-29*time.Second))), subject: "demo"},
		{name: "expired and wrong issuer", token: hs(with(with(c, "exp", sec(-time.Hour)), "iss", "evil")), want: identity.ErrTokenInvalid},
		{name: "no exp", token: hs(with(c, "exp", nil)), want: identity.ErrTokenInvalid},
		{name: "exp not a number", token: hs(with(c, "exp", "tomorrow")), want: identity.ErrTokenInvalid},
		{name: "not yet valid", token: hs(with(c, "nbf", sec(31*time.Second))), want: identity.ErrTokenInvalid},
		{name: "nbf within skew", token: hs(with(c, "nbf", sec(29*time.Second))), subject: "demo"},
		{name: "iat in future", token: hs(with(c, "iat", sec(31*time.Second))), want: identity.ErrTokenInvalid},
		{name: "iat within skew", token: hs(with(c, "iat", sec(29*time.Second))), subject: "demo"},
		{name: "wrong issuer", token: hs(with(c, "iss", "someone-else")), want: identity.ErrTokenInvalid},
		{name: "no issuer", token: hs(with(c, "iss", nil)), want: identity.ErrTokenInvalid},
		{name: "no subject", token: hs(with(c, "sub", nil)), want: identity.ErrTokenInvalid},
		{name: "subject with newline", token: hs(with(c, "sub", "demo\nx-ssegate-subject: ops")), want: identity.ErrTokenInvalid},
		{name: "subject not ASCII", token: hs(with(c, "sub", "dëmo")), want: identity.ErrTokenInvalid},
		{name: "oversized", token: big, want: identity.ErrTokenInvalid},
		{name: "large but under the limit", token: justFits, subject: "demo"},
	})
}

func pkixPEM(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyES256(t *testing.T) {
	t.Parallel()
	k1, other := ecKey(t), ecKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := identity.Config{Algorithm: identity.ES256, SigningKey: k1, SigningKeyID: "k1", Issuer: testIssuer}
	v := mustVerifier(t, cfg)
	c := claims(t0)
	pubPEM := pkixPEM(t, &k1.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)

	runTokenCases(t, v, []tokenCase{
		{name: "issued", token: mustIssue(t, mustIssuer(t, cfg), "ops", t0), subject: "ops"},
		{name: "hand signed", token: sign(t, jwt.SigningMethodES256, k1, "k1", c), subject: "demo"},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodES256, k1, "k9", c), want: identity.ErrTokenInvalid},
		{name: "no kid", token: sign(t, jwt.SigningMethodES256, k1, "", c), want: identity.ErrTokenInvalid},
		{name: "other key under known kid", token: sign(t, jwt.SigningMethodES256, other, "k1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with public key PEM as secret", token: sign(t, jwt.SigningMethodHS256, pubPEM, "k1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with public key DER as secret", token: sign(t, jwt.SigningMethodHS256, der, "k1", c), want: identity.ErrTokenInvalid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", c), want: identity.ErrTokenInvalid},
		{name: "ES384", token: sign(t, jwt.SigningMethodES384, p384, "k1", c), want: identity.ErrTokenInvalid},
		{name: "expired", token: sign(t, jwt.SigningMethodES256, k1, "k1", with(c, "exp", t0.Add(-time.Minute).Unix())), want: identity.ErrTokenExpired},
		{name: "wrong issuer", token: sign(t, jwt.SigningMethodES256, k1, "k1", with(c, "iss", "x")), want: identity.ErrTokenInvalid},
	})
}

func TestVerifyRS256(t *testing.T) {
	t.Parallel()
	k1, other := rsaKeys()[0], rsaKeys()[1]
	// A verifier-only config, as a backend has.
	cfg := identity.Config{Algorithm: identity.RS256, VerificationKeys: map[string]crypto.PublicKey{"r1": &k1.PublicKey}, Issuer: testIssuer}
	v := mustVerifier(t, cfg)
	c := claims(t0)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k1.PublicKey)})

	runTokenCases(t, v, []tokenCase{
		{name: "hand signed", token: sign(t, jwt.SigningMethodRS256, k1, "r1", c), subject: "demo"},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodRS256, k1, "r2", c), want: identity.ErrTokenInvalid},
		{name: "other key under known kid", token: sign(t, jwt.SigningMethodRS256, other, "r1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with public key PEM as secret", token: sign(t, jwt.SigningMethodHS256, pkixPEM(t, &k1.PublicKey), "r1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with PKCS1 PEM as secret", token: sign(t, jwt.SigningMethodHS256, pkcs1, "r1", c), want: identity.ErrTokenInvalid},
		{name: "PS256 same key", token: sign(t, jwt.SigningMethodPS256, k1, "r1", c), want: identity.ErrTokenInvalid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "r1", c), want: identity.ErrTokenInvalid},
		{name: "not yet valid", token: sign(t, jwt.SigningMethodRS256, k1, "r1", with(c, "nbf", t0.Add(time.Hour).Unix())), want: identity.ErrTokenInvalid},
	})
}

func TestVerifyEdDSA(t *testing.T) {
	t.Parallel()
	k1, other := edKey(t), edKey(t)
	cfg := identity.Config{Algorithm: identity.EdDSA, SigningKey: k1, SigningKeyID: "e1", Issuer: testIssuer}
	v := mustVerifier(t, cfg)
	c := claims(t0)
	pub := k1.Public().(ed25519.PublicKey)

	runTokenCases(t, v, []tokenCase{
		{name: "issued", token: mustIssue(t, mustIssuer(t, cfg), "ops", t0), subject: "ops"},
		{name: "hand signed", token: sign(t, jwt.SigningMethodEdDSA, k1, "e1", c), subject: "demo"},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodEdDSA, k1, "e2", c), want: identity.ErrTokenInvalid},
		{name: "other key under known kid", token: sign(t, jwt.SigningMethodEdDSA, other, "e1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with public key PEM as secret", token: sign(t, jwt.SigningMethodHS256, pkixPEM(t, pub), "e1", c), want: identity.ErrTokenInvalid},
		{name: "HS256 with raw public key as secret", token: sign(t, jwt.SigningMethodHS256, []byte(pub), "e1", c), want: identity.ErrTokenInvalid},
		{name: "ES256", token: sign(t, jwt.SigningMethodES256, ecKey(t), "e1", c), want: identity.ErrTokenInvalid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "e1", c), want: identity.ErrTokenInvalid},
		{name: "expired", token: sign(t, jwt.SigningMethodEdDSA, k1, "e1", with(c, "exp", t0.Add(-time.Minute).Unix())), want: identity.ErrTokenExpired},
	})
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := ecKey(t), ecKey(t)
	before := identity.Config{Algorithm: identity.ES256, SigningKey: k1, SigningKeyID: "k1", Issuer: testIssuer}
	// Rotated: k2 signs, k1 still verifies what it signed.
	during := identity.Config{
		Algorithm: identity.ES256, SigningKey: k2, SigningKeyID: "k2", Issuer: testIssuer,
		VerificationKeys: map[string]crypto.PublicKey{"k1": &k1.PublicKey},
	}
	// Afterwards k1 is dropped.
	after := identity.Config{Algorithm: identity.ES256, SigningKey: k2, SigningKeyID: "k2", Issuer: testIssuer}

	old := mustIssue(t, mustIssuer(t, before), "demo", t0)
	current := mustIssue(t, mustIssuer(t, during), "ops", t0)
	if kid := kidOf(t, current); kid != "k2" {
		t.Fatalf("rotated issuer signs with kid %q, want k2", kid)
	}
	if kid := kidOf(t, old); kid != "k1" {
		t.Fatalf("old issuer signs with kid %q, want k1", kid)
	}

	v := mustVerifier(t, during)
	for _, tok := range []string{old, current} {
		if _, err := v.Verify(tok, t0); err != nil {
			t.Errorf("during rotation: Verify(kid %s): %v", kidOf(t, tok), err)
		}
	}
	va := mustVerifier(t, after)
	if _, err := va.Verify(old, t0); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("after rotation: old token error = %v, want ErrTokenInvalid", err)
	}
	if _, err := va.Verify(current, t0); err != nil {
		t.Errorf("after rotation: current token: %v", err)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

func TestIssue(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	i := mustIssuer(t, cfg)
	now := t0.Add(750 * time.Millisecond)
	tok, exp, err := i.Issue("demo", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expiry = %v, want %v (whole seconds)", exp, want)
	}
	p, err := mustVerifier(t, cfg).Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Expiry.Equal(exp) || p.Subject != "demo" {
		t.Errorf("principal = %+v, want demo until %v", p, exp)
	}
	if _, err := mustVerifier(t, cfg).Verify(tok, exp.Add(time.Minute)); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("a minute after expiry: %v, want ErrTokenExpired", err)
	}
	if d := mustIssuer(t, identity.Config{Secret: testSecret}).Lifetime(); d != 12*time.Hour {
		t.Errorf("default lifetime = %v, want 12h", d)
	}

	for _, sub := range []string{"", "a\nb", "ü", strings.Repeat("a", identity.MaxSubjectSize+1)} {
		if _, _, err := i.Issue(sub, now); !errors.Is(err, identity.ErrBadSubject) {
			t.Errorf("Issue(%q) error = %v, want ErrBadSubject", sub, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	ec := ecKey(t)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		cfg      identity.Config
		verifier bool // the config is also invalid for a verifier
	}{
		{"no secret", identity.Config{}, true},
		{"short secret", identity.Config{Secret: []byte("short")}, true},
		{"unknown algorithm", identity.Config{Algorithm: "none", Secret: testSecret}, true},
		{"HS512", identity.Config{Algorithm: "HS512", Secret: testSecret}, true},
		{"HS256 with key", identity.Config{Secret: testSecret, SigningKey: ec, SigningKeyID: "k"}, true},
		{"ES256 with secret", identity.Config{Algorithm: identity.ES256, Secret: testSecret, SigningKey: ec, SigningKeyID: "k"}, true},
		{"ES256 without kid", identity.Config{Algorithm: identity.ES256, SigningKey: ec}, true},
		{"ES256 with RSA key", identity.Config{Algorithm: identity.ES256, SigningKey: rsaKeys()[0], SigningKeyID: "k"}, true},
		{"RS256 with EC key", identity.Config{Algorithm: identity.RS256, SigningKey: ec, SigningKeyID: "k"}, true},
		{"RS256 1024 bits", identity.Config{Algorithm: identity.RS256, SigningKey: rsa1024, SigningKeyID: "k"}, true},
		{"EdDSA with EC key", identity.Config{Algorithm: identity.EdDSA, SigningKey: ec, SigningKeyID: "k"}, true},
		{"ES256 with Ed25519 key", identity.Config{Algorithm: identity.ES256, SigningKey: edKey(t), SigningKeyID: "k"}, true},
		{"EdDSA short public key", identity.Config{Algorithm: identity.EdDSA, VerificationKeys: map[string]crypto.PublicKey{"k": ed25519.PublicKey("short")}}, true},
		{"ES256 no keys", identity.Config{Algorithm: identity.ES256}, true},
		{"ES256 verify only", identity.Config{Algorithm: identity.ES256, VerificationKeys: map[string]crypto.PublicKey{"k": &ec.PublicKey}}, false},
		{"empty kid", identity.Config{Algorithm: identity.ES256, VerificationKeys: map[string]crypto.PublicKey{"": &ec.PublicKey}}, true},
		{"kid names two keys", identity.Config{
			Algorithm: identity.ES256, SigningKey: ec, SigningKeyID: "k",
			VerificationKeys: map[string]crypto.PublicKey{"k": &ecKey(t).PublicKey},
		}, true},
		{"negative skew", identity.Config{Secret: testSecret, ClockSkew: -time.Second}, true},
		{"negative lifetime", identity.Config{Secret: testSecret, Lifetime: -time.Second}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := identity.NewIssuer(tc.cfg); err == nil {
				t.Error("NewIssuer accepted the config")
			}
			_, err := identity.NewVerifier(tc.cfg)
			if tc.verifier && err == nil {
				t.Error("NewVerifier accepted the config")
			}
			if !tc.verifier && err != nil {
				t.Errorf("NewVerifier: %v", err)
			}
		})
	}
}
