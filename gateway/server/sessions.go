package server

import (
	"fmt"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
)

// Verifier returns the verifier of the session tokens cfg describes: an
// HS256 secret or kid=public-key pairs, with the issuer required. It is
// nil with -auth none.
func Verifier(cfg config.Config) (*identity.Verifier, error) {
	if cfg.Auth == config.AuthNone {
		return nil, nil
	}
	s := cfg.Sessions
	c := identity.Config{Algorithm: s.SessionAlgorithm, Issuer: s.SessionIssuer}
	if s.SessionAlgorithm == identity.HS256 {
		c.Secret = []byte(s.SessionSecret)
		return identity.NewVerifier(c)
	}
	keys, err := identity.LoadVerificationKeys(s.SessionVerificationKeys)
	if err != nil {
		return nil, fmt.Errorf("session-verification-keys: %w", err)
	}
	c.VerificationKeys = keys
	return identity.NewVerifier(c)
}
