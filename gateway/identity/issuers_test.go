package identity_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

const testAudience = "ssegate-api"

// signer is one algorithm with its key, as another team's login service
// would sign with it.
type signer struct {
	name   string
	cfg    identity.Config // verifier-only: secret or public keys
	method jwt.SigningMethod
	key    any // signing key
	kid    string
	// confused signs the claims with another algorithm: HS256 keyed with
	// the public key (what an attacker holds), or a neighbour of the
	// configured algorithm with the same key.
	confused func(t *testing.T, c jwt.MapClaims) string
}

func signers(t *testing.T) []signer {
	ec, rk, ed := ecKey(t), rsaKeys()[0], edKey(t)
	edPub := ed.Public().(ed25519.PublicKey)
	return []signer{
		{
			name: "HS256", cfg: identity.Config{Algorithm: identity.HS256, Secret: testSecret},
			method: jwt.SigningMethodHS256, key: testSecret,
			confused: func(t *testing.T, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS512, testSecret, "", c) },
		},
		{
			name:   "ES256",
			cfg:    identity.Config{Algorithm: identity.ES256, VerificationKeys: map[string]crypto.PublicKey{"e1": &ec.PublicKey}},
			method: jwt.SigningMethodES256, key: ec, kid: "e1",
			confused: func(t *testing.T, c jwt.MapClaims) string {
				return sign(t, jwt.SigningMethodHS256, pkixPEM(t, &ec.PublicKey), "e1", c)
			},
		},
		{
			name:   "RS256",
			cfg:    identity.Config{Algorithm: identity.RS256, VerificationKeys: map[string]crypto.PublicKey{"r1": &rk.PublicKey}},
			method: jwt.SigningMethodRS256, key: rk, kid: "r1",
			confused: func(t *testing.T, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodPS256, rk, "r1", c) },
		},
		{
			name:   "EdDSA",
			cfg:    identity.Config{Algorithm: identity.EdDSA, VerificationKeys: map[string]crypto.PublicKey{"d1": edPub}},
			method: jwt.SigningMethodEdDSA, key: ed, kid: "d1",
			confused: func(t *testing.T, c jwt.MapClaims) string {
				return sign(t, jwt.SigningMethodHS256, []byte(edPub), "d1", c)
			},
		},
	}
}

// foreignClaims are those of a third-party identity provider: a user id
// in sub, the name in email, an audience list and claims of its own.
func foreignClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":    testIssuer,
		"aud":    []string{"other-api", testAudience},
		"sub":    "248289761001",
		"email":  "ada@example.com",
		"roles":  []string{"admin", "ops"},
		"tenant": "acme",
		"scope":  "openid email",
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
	}
}

type issuerCase struct {
	name    string
	token   string
	want    error // nil: accepted
	subject string
	claims  map[string]any
}

// TestVerifyAnyIssuer runs the same cases for each algorithm: a verifier
// with an audience, a user claim other than sub and two forwarded claims.
func TestVerifyAnyIssuer(t *testing.T) {
	t.Parallel()
	c := foreignClaims(t0)
	wantClaims := map[string]any{"roles": []any{"admin", "ops"}, "tenant": "acme"}
	for _, s := range signers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			cfg := s.cfg
			cfg.Issuer, cfg.Audience, cfg.UserClaim, cfg.Claims = testIssuer, testAudience, "email", []string{"roles", "tenant", "uid"}
			v := mustVerifier(t, cfg)
			tok := func(c jwt.MapClaims) string { return sign(t, s.method, s.key, s.kid, c) }
			// é is two bytes in the token and six ("\u00e9") in metadata.
			accents := func(n int) string { return strings.Repeat("é", n) }

			cases := []issuerCase{
				{name: "good", token: tok(c), subject: "ada@example.com", claims: wantClaims},
				{name: "audience as a string", token: tok(with(c, "aud", testAudience)), subject: "ada@example.com", claims: wantClaims},
				{name: "forwarded claims absent", token: tok(with(with(c, "roles", nil), "tenant", nil)), subject: "ada@example.com"},
				{name: "one forwarded claim", token: tok(with(c, "roles", nil)), subject: "ada@example.com", claims: map[string]any{"tenant": "acme"}},
				{name: "numbers kept exact", token: tok(with(c, "uid", json.Number("9007199254740993"))), subject: "ada@example.com",
					claims: map[string]any{"roles": []any{"admin", "ops"}, "tenant": "acme", "uid": json.Number("9007199254740993")}},
				{name: "forwarded claims near the limit", token: tok(with(c, "tenant", accents(600))), subject: "ada@example.com",
					claims: map[string]any{"roles": []any{"admin", "ops"}, "tenant": accents(600)}},
				{name: "forwarded claims too large", token: tok(with(c, "tenant", accents(1100))), want: identity.ErrClaimsTooLarge},
				{name: "wrong algorithm", token: s.confused(t, c), want: identity.ErrTokenInvalid},
				{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, s.kid, c), want: identity.ErrTokenInvalid},
				{name: "wrong issuer", token: tok(with(c, "iss", "https://evil.example")), want: identity.ErrTokenInvalid},
				{name: "wrong audience", token: tok(with(c, "aud", []string{"other-api"})), want: identity.ErrTokenInvalid},
				{name: "missing audience", token: tok(with(c, "aud", nil)), want: identity.ErrTokenInvalid},
				{name: "audience not a string", token: tok(with(c, "aud", 7)), want: identity.ErrTokenInvalid},
				{name: "no user claim", token: tok(with(c, "email", nil)), want: identity.ErrBadSubject},
				{name: "user claim a number", token: tok(with(c, "email", 42)), want: identity.ErrBadSubject},
				{name: "user claim empty", token: tok(with(c, "email", "")), want: identity.ErrBadSubject},
				{name: "user claim with newline", token: tok(with(c, "email", "ada@example.com\nx-ssegate-subject: root")), want: identity.ErrBadSubject},
				{name: "user claim not ASCII", token: tok(with(c, "email", "adà@example.com")), want: identity.ErrBadSubject},
				{name: "expired", token: tok(with(c, "exp", t0.Add(-time.Hour).Unix())), want: identity.ErrTokenExpired},
				{name: "exp out of range", token: tok(with(c, "exp", json.Number("1e400"))), want: identity.ErrTokenInvalid},
				{name: "exp past year 9999", token: tok(with(c, "exp", json.Number("253402300800"))), want: identity.ErrTokenInvalid},
				{name: "negative iat", token: tok(with(c, "iat", -1)), want: identity.ErrTokenInvalid},
				{name: "expired and wrong audience", token: tok(with(with(c, "exp", t0.Add(-time.Hour).Unix()), "aud", "x")), want: identity.ErrTokenInvalid},
				{name: "expired and bad user", token: tok(with(with(c, "exp", t0.Add(-time.Hour).Unix()), "email", nil)), want: identity.ErrTokenInvalid},
			}
			if s.kid != "" {
				cases = append(cases, issuerCase{name: "kid unknown", token: sign(t, s.method, s.key, "nope", c), want: identity.ErrTokenInvalid})
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					if len(tc.token) > identity.MaxTokenSize {
						t.Fatalf("test token is %d bytes, over MaxTokenSize", len(tc.token))
					}
					p, err := v.Verify(tc.token, t0)
					if tc.want != nil {
						if !errors.Is(err, tc.want) {
							t.Fatalf("Verify error = %v, want %v", err, tc.want)
						}
						if tc.want != identity.ErrTokenExpired && errors.Is(err, identity.ErrTokenExpired) {
							t.Fatalf("Verify error = %v claims expiry", err)
						}
						if tc.want != identity.ErrTokenExpired && !errors.Is(err, identity.ErrTokenInvalid) {
							t.Fatalf("Verify error = %v does not wrap ErrTokenInvalid", err)
						}
						if !reflect.DeepEqual(p, identity.Principal{}) {
							t.Fatalf("principal = %+v on error", p)
						}
						return
					}
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if p.Subject != tc.subject || p.Token != tc.token || !p.Expiry.Equal(t0.Add(time.Hour)) {
						t.Fatalf("principal = %q until %v, want %q until %v", p.Subject, p.Expiry, tc.subject, t0.Add(time.Hour))
					}
					if !reflect.DeepEqual(p.Claims, tc.claims) {
						t.Fatalf("claims = %#v, want %#v", p.Claims, tc.claims)
					}
				})
			}
		})
	}
}

// TestVerifyDefaultUserClaim: without UserClaim the user is sub, and no
// claims are forwarded unless named.
func TestVerifyDefaultUserClaim(t *testing.T) {
	t.Parallel()
	for _, s := range signers(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			cfg := s.cfg
			cfg.Issuer = testIssuer
			v := mustVerifier(t, cfg)
			c := foreignClaims(t0)
			p, err := v.Verify(sign(t, s.method, s.key, s.kid, c), t0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != "248289761001" || p.Claims != nil {
				t.Fatalf("principal = %q with claims %v, want sub and none", p.Subject, p.Claims)
			}
			if _, err := v.Verify(sign(t, s.method, s.key, s.kid, with(c, "sub", nil)), t0); !errors.Is(err, identity.ErrBadSubject) {
				t.Fatalf("no sub: %v, want ErrBadSubject", err)
			}
		})
	}
}

// TestIssueAudienceAndUserClaim: an issuer writes what a verifier of the
// same Config requires.
func TestIssueAudienceAndUserClaim(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	cfg.Audience, cfg.UserClaim = testAudience, "preferred_username"
	tok := mustIssue(t, mustIssuer(t, cfg), "ada", t0)
	p, err := mustVerifier(t, cfg).Verify(tok, t0)
	if err != nil || p.Subject != "ada" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	other := cfg
	other.Audience = "another-api"
	if _, err := mustVerifier(t, other).Verify(tok, t0); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Fatalf("other audience: %v, want ErrTokenInvalid", err)
	}
	// Backends verifying by sub still see the same user.
	plain := hsConfig()
	if p, err := mustVerifier(t, plain).Verify(tok, t0); err != nil || p.Subject != "ada" {
		t.Fatalf("by sub: %+v, %v", p, err)
	}
}

func TestClaimsConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  identity.Config
	}{
		{"user claim exp", identity.Config{Secret: testSecret, UserClaim: "exp"}},
		{"user claim iss", identity.Config{Secret: testSecret, UserClaim: "iss"}},
		{"empty forwarded claim", identity.Config{Secret: testSecret, Claims: []string{"roles", ""}}},
		{"forwarded claim twice", identity.Config{Secret: testSecret, Claims: []string{"roles", "roles"}}},
		{"HS256 with a key set", identity.Config{Secret: testSecret, KeySet: keySet{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := identity.NewVerifier(tc.cfg); err == nil {
				t.Fatal("NewVerifier accepted the config")
			}
		})
	}
}

// keySet is a fixed identity.KeySet.
type keySet map[string]crypto.PublicKey

func (s keySet) Key(kid string) (crypto.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, errors.New("no such key")
}

// TestKeySet: keys the verifier does not hold come from its key set, and
// only those of the configured algorithm's type verify.
func TestKeySet(t *testing.T) {
	t.Parallel()
	static, dynamic, rk := edKey(t), edKey(t), rsaKeys()[0]
	v := mustVerifier(t, identity.Config{
		Algorithm: identity.EdDSA, Issuer: testIssuer,
		VerificationKeys: map[string]crypto.PublicKey{"static": static.Public()},
		KeySet: keySet{
			"dynamic": dynamic.Public(),
			"static":  dynamic.Public(), // the configured key wins
			"rsa":     &rk.PublicKey,    // wrong type for EdDSA
		},
	})
	c := claims(t0)
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"static key", sign(t, jwt.SigningMethodEdDSA, static, "static", c), true},
		{"key set key", sign(t, jwt.SigningMethodEdDSA, dynamic, "dynamic", c), true},
		{"static kid signed by the key set's key", sign(t, jwt.SigningMethodEdDSA, dynamic, "static", c), false},
		{"RSA key in the set", sign(t, jwt.SigningMethodRS256, rk, "rsa", c), false},
		{"EdDSA token under the RSA kid", sign(t, jwt.SigningMethodEdDSA, dynamic, "rsa", c), false},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, dynamic, "gone", c), false},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, dynamic, "", c), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(tc.tok, t0)
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, identity.ErrTokenInvalid) {
				t.Fatalf("Verify error = %v, want ErrTokenInvalid", err)
			}
		})
	}
	if err := identity.CheckKey(identity.EdDSA, &rk.PublicKey); err == nil {
		t.Error("CheckKey(EdDSA, RSA key) accepted")
	}
	if err := identity.CheckKey(identity.HS256, testSecret); err == nil {
		t.Error("CheckKey(HS256, secret) accepted")
	}
	if err := identity.CheckKey(identity.RS256, &rk.PublicKey); err != nil {
		t.Errorf("CheckKey(RS256, RSA key): %v", err)
	}
}
