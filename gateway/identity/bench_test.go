package identity_test

import (
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
)

// What the gateway pays per upstream call for an identity token: one from
// the cache (every call but the first of a session and upstream in each
// half lifetime), or one signed.
func BenchmarkMinterToken(b *testing.B) {
	k := newKeys(b)
	p := identity.Principal{Subject: "ada", Token: "session-token", Session: "s1", Expiry: t0.Add(time.Hour),
		Claims: map[string]any{"tenant": "acme"}}
	b.Run("cached", func(b *testing.B) {
		m := newMinter(b, k.gateway, clock)
		for b.Loop() {
			if _, err := m.Token(p, "jobs"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signed", func(b *testing.B) {
		issuer := mustIssuer(b, k.gateway)
		g := identity.Grant{Subject: p.Subject, Audience: "jobs", Session: p.Session, Claims: p.Claims, NotAfter: p.Expiry}
		for b.Loop() {
			if _, _, err := issuer.Sign(g, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What a backend pays per call: verifying the gateway's ES256 token.
func BenchmarkVerifyIdentityToken(b *testing.B) {
	k := newKeys(b)
	tok := signGrant(b, k.gateway, identity.Grant{Subject: "ada", Audience: "logs", Session: "s1"}, t0)
	v := verifierFor(b, k.gateway, "logs")
	for b.Loop() {
		if _, err := v.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}
