package identity_test

import (
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
		hs(with(c, "tenant", strings.Repeat("é", 700))),
		sign(tb, jwt.SigningMethodHS384, testSecret, "", c),
	)
	return seeds
}

// FuzzVerify: no input panics, every error is one of the two sentinels,
// whatever is accepted is exactly a token the issuer signed, and its
// principal's metadata is valid gRPC metadata.
func FuzzVerify(f *testing.F) {
	issued := issuedTokens(f)
	for _, s := range tokenSeeds(f, issued) {
		f.Add(s)
	}
	v := mustVerifier(f, fuzzConfig())
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
		checkMetadata(t, p)
	})
}

// FuzzClaimsMetadata: whatever string a forwarded claim holds, the
// metadata is printable ASCII, within the bound, and decodes to the claim
// (each byte of invalid UTF-8 reads back as U+FFFD, as encoding/json
// writes it).
func FuzzClaimsMetadata(f *testing.F) {
	for _, s := range []string{"", "acme", "Zoë 😀", "\x00\x1f\x7f", "\xff\xfe", `"\`, "<&>", "\u2028\u2029", strings.Repeat("é", 700)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := identity.Principal{Subject: "ada", Token: "tok", Claims: map[string]any{"tenant": s, "roles": []any{s}}}
		vals := p.Metadata().Get(identity.MetadataClaims)
		if len(vals) == 0 {
			if len(s) < identity.MaxClaimsSize/16 {
				t.Fatalf("claims of %d bytes left out", len(s))
			}
			return
		}
		checkMetadata(t, p)
		var back struct {
			Tenant string
			Roles  []string
		}
		if err := json.Unmarshal([]byte(vals[0]), &back); err != nil {
			t.Fatalf("%q does not decode: %v", vals[0], err)
		}
		want := strings.Map(func(r rune) rune { return r }, s) // each invalid byte as U+FFFD
		if back.Tenant != want || len(back.Roles) != 1 || back.Roles[0] != want {
			t.Fatalf("decoded %+v, want %q", back, want)
		}
	})
}

// checkMetadata fails unless p's metadata values are what gRPC sends:
// printable ASCII, with the claims within MaxClaimsSize.
func checkMetadata(t *testing.T, p identity.Principal) {
	t.Helper()
	for k, vs := range p.Metadata() {
		for _, v := range vs {
			if !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
				t.Fatalf("metadata %s = %q is not printable ASCII", k, v)
			}
			if k == identity.MetadataClaims && len(v) > identity.MaxClaimsSize {
				t.Fatalf("claims metadata is %d bytes", len(v))
			}
		}
	}
}
