package identity_test

import (
	"crypto"
	"fmt"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
)

// The gateway signs an identity token for the upstream "jobs"; the jobs
// service verifies it with the gateway's public key alone.
func ExampleMinter() {
	key, _ := identity.NewSigningKey()
	issuer, _ := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: key, SigningKeyID: "gw-1",
		Issuer: identity.GatewayIssuer, Lifetime: identity.DefaultIdentityLifetime})
	minter, _ := identity.NewMinter(issuer, time.Now)
	token, _ := minter.Token(identity.Principal{Subject: "ada", Session: "s1"}, "jobs")

	jobs, _ := identity.NewVerifier(identity.Config{Algorithm: identity.ES256, Issuer: identity.GatewayIssuer,
		Audience: "jobs", VerificationKeys: map[string]crypto.PublicKey{"gw-1": key.Public()}})
	p, err := jobs.Verify(token, time.Now())
	fmt.Println(p.Subject, p.Session, err)
	// Output: ada s1 <nil>
}
