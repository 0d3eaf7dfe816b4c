package identity_test

import (
	"crypto"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

// fuzzConfig verifies as a gateway in front of another team's issuer
// would: an audience, a user claim other than sub, forwarded claims.
func fuzzConfig() identity.Config {
	cfg := hsConfig()
	cfg.Audience, cfg.UserClaim, cfg.Claims = testAudience, "email", []string{"roles", "tenant"}
	return cfg
}

// issued is what a signed token must verify to.
type issued struct {
	subject string
	claims  map[string]any
}

// issuedTokens signs a few tokens; HS256 at a fixed time with a fixed
// session id is deterministic, so every fuzz worker computes the same set.
func issuedTokens(tb testing.TB) map[string]issued {
	tb.Helper()
	iss := mustIssuer(tb, fuzzConfig())
	out := map[string]issued{}
	for _, sub := range []string{"demo", "ops", "a", strings.Repeat("z", identity.MaxSubjectSize)} {
		tok, _, err := iss.Sign(identity.Grant{Subject: sub, Session: "fuzz-session"}, t0)
		if err != nil {
			tb.Fatal(err)
		}
		out[tok] = issued{subject: sub}
	}
	c := foreignClaims(t0)
	hs := func(c jwt.MapClaims) string { return sign(tb, jwt.SigningMethodHS256, testSecret, "", c) }
	out[hs(c)] = issued{"ada@example.com", map[string]any{"roles": []any{"admin", "ops"}, "tenant": "acme"}}
	out[hs(with(c, "tenant", json.Number("12345678901234567890")))] = issued{"ada@example.com",
		map[string]any{"roles": []any{"admin", "ops"}, "tenant": json.Number("12345678901234567890")}}
	out[hs(with(with(c, "roles", nil), "tenant", "Zoë"))] = issued{"ada@example.com", map[string]any{"tenant": "Zoë"}}
	// HS256 has one key: a kid changes nothing.
	out[sign(tb, jwt.SigningMethodHS256, testSecret, "some-kid", with(c, "roles", nil))] = issued{"ada@example.com", map[string]any{"tenant": "acme"}}
	return out
}

func tokenSeeds(tb testing.TB, issued map[string]issued) []string {
	c := foreignClaims(t0)
	seeds := []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."}
	for tok := range issued {
		seeds = append(seeds, tok, tok+"x", tok[:len(tok)-1], strings.ToUpper(tok))
	}
	hs := func(c jwt.MapClaims) string { return sign(tb, jwt.SigningMethodHS256, testSecret, "", c) }
	seeds = append(seeds,
		sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c),
		hs(with(c, "exp", t0.Add(-time.Hour).Unix())),
		hs(with(c, "exp", "1e400")),
		hs(with(c, "exp", json.Number("1e400"))),
		hs(with(c, "aud", []any{"x", 7})),
		hs(with(c, "aud", nil)),
		hs(with(c, "email", nil)),
		hs(with(c, "email", []any{"ada"})),
		hs(with(c, "tenant", strings.Repeat("é", 1100))),
		sign(tb, jwt.SigningMethodHS384, testSecret, "", c),
	)
	return seeds
}

// FuzzVerify: no input panics, every error is one of the two sentinels,
// whatever is accepted is exactly a token the issuer signed, and its
// principal reaches an upstream whole in an identity token.
func FuzzVerify(f *testing.F) {
	issued := issuedTokens(f)
	for _, s := range tokenSeeds(f, issued) {
		f.Add(s)
	}
	v := mustVerifier(f, fuzzConfig())
	forward := newForwarder(f)
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token, t0)
		if err != nil {
			if !errors.Is(err, identity.ErrTokenInvalid) && !errors.Is(err, identity.ErrTokenExpired) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if !reflect.DeepEqual(p, identity.Principal{}) {
				t.Fatalf("principal %+v with error", p)
			}
			return
		}
		want, ok := issued[token]
		if !ok {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
		if p.Subject != want.subject || p.Token != token || !reflect.DeepEqual(p.Claims, want.claims) {
			t.Fatalf("principal %+v, want %+v", p, want)
		}
		got, err := forward(p)
		if err != nil {
			t.Fatalf("forwarding %+v: %v", p, err)
		}
		if got.Subject != p.Subject || got.Session != p.Session || !reflect.DeepEqual(got.Claims, p.Claims) {
			t.Fatalf("upstream got %+v, want %+v", got, p)
		}
	})
}

// newForwarder returns a function that signs p's identity token as a
// gateway does and verifies it as its upstream does.
func newForwarder(tb testing.TB) func(identity.Principal) (identity.Principal, error) {
	key := ecKey(tb)
	names := fuzzConfig().Claims
	signer := mustIssuer(tb, identity.Config{Algorithm: identity.ES256, SigningKey: key, SigningKeyID: "gw",
		Issuer: "ssegate", Lifetime: 5 * time.Minute})
	upstream := mustVerifier(tb, identity.Config{Algorithm: identity.ES256, Issuer: "ssegate", Audience: "up",
		VerificationKeys: map[string]crypto.PublicKey{"gw": key.Public()}, Claims: names})
	return func(p identity.Principal) (identity.Principal, error) {
		tok, _, err := signer.Sign(identity.Grant{Subject: p.Subject, Audience: "up", Session: p.Session, Claims: p.Claims, NotAfter: p.Expiry}, t0)
		if err != nil {
			return identity.Principal{}, err
		}
		return upstream.Verify(tok, t0)
	}
}

// FuzzIdentityClaims: whatever string a forwarded claim holds, the
// identity token carries it to the upstream, which reads back the same
// value (each byte of invalid UTF-8 as U+FFFD, as encoding/json writes
// it); exactly the claims over MaxClaimsSize fail.
func FuzzIdentityClaims(f *testing.F) {
	for _, s := range []string{"", "acme", "Zoë 😀", "\x00\x1f\x7f", "\xff\xfe", `"\`, "<&>", "\u2028\u2029", strings.Repeat("é", 700)} {
		f.Add(s)
	}
	forward := newForwarder(f)
	f.Fuzz(func(t *testing.T, s string) {
		claims := map[string]any{"tenant": s, "roles": []any{s}}
		got, err := forward(identity.Principal{Subject: "ada", Session: "s1", Claims: claims})
		if err != nil {
			if raw, _ := json.Marshal(claims); len(raw) <= identity.MaxClaimsSize {
				t.Fatalf("claims of %d bytes refused: %v", len(raw), err)
			}
			return
		}
		if raw, _ := json.Marshal(claims); len(raw) > identity.MaxClaimsSize {
			t.Fatalf("claims of %d bytes accepted", len(raw))
		}
		want := strings.Map(func(r rune) rune { return r }, s) // each invalid byte as U+FFFD
		if got.Claims["tenant"] != want || !reflect.DeepEqual(got.Claims["roles"], []any{want}) || !utf8.ValidString(want) {
			t.Fatalf("upstream read %#v, want %q", got.Claims, want)
		}
	})
}
