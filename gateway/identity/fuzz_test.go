package identity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

// issuedTokens signs a few tokens; HS256 at a fixed time is deterministic,
// so every fuzz worker computes the same set.
func issuedTokens(tb testing.TB) map[string]string {
	tb.Helper()
	iss := mustIssuer(tb, hsConfig())
	out := map[string]string{}
	for _, sub := range []string{"demo", "ops", "a", strings.Repeat("z", identity.MaxSubjectSize)} {
		out[mustIssue(tb, iss, sub, t0)] = sub
	}
	return out
}

func tokenSeeds(tb testing.TB, issued map[string]string) []string {
	c := claims(t0)
	seeds := []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."}
	for tok := range issued {
		seeds = append(seeds, tok, tok+"x", tok[:len(tok)-1], strings.ToUpper(tok))
	}
	seeds = append(seeds,
		sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c),
		sign(tb, jwt.SigningMethodHS256, testSecret, "", with(c, "exp", t0.Add(-time.Hour).Unix())),
		sign(tb, jwt.SigningMethodHS384, testSecret, "", c),
	)
	return seeds
}

// FuzzVerify: no input panics, every error is one of the two sentinels, and
// whatever is accepted is exactly a token the issuer signed.
func FuzzVerify(f *testing.F) {
	issued := issuedTokens(f)
	for _, s := range tokenSeeds(f, issued) {
		f.Add(s)
	}
	v := mustVerifier(f, hsConfig())
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token, t0)
		if err != nil {
			if !errors.Is(err, identity.ErrTokenInvalid) && !errors.Is(err, identity.ErrTokenExpired) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if p != (identity.Principal{}) {
				t.Fatalf("principal %+v with error", p)
			}
			return
		}
		sub, ok := issued[token]
		if !ok {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
		if p.Subject != sub || p.Token != token {
			t.Fatalf("principal %+v, want subject %q", p, sub)
		}
	})
}
