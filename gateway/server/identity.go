package server

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
)

// WithIdentityKey signs the identity tokens sent to upstreams with key
// (ECDSA P-256 or Ed25519) under kid, instead of identity-signing-key-file
// or a fresh key: for a process that builds its backends' verifiers
// itself, as the all-in-one demo does.
func WithIdentityKey(key crypto.Signer, kid string) Option {
	return func(o *options) { o.identityKey, o.identityKID = key, kid }
}

// IdentityIssuer returns the issuer of the identity tokens cfg describes
// (identity-signing-key-file and identity-key-id, identity-lifetime): iss
// identity.GatewayIssuer, ES256 or EdDSA as the key's type says. With no
// key file it signs with key under kid, or with a fresh key when key is
// nil; fresh tells which.
func IdentityIssuer(cfg config.Identity, key crypto.Signer, kid string) (_ *identity.Issuer, fresh bool, err error) {
	switch {
	case key != nil:
	case cfg.IdentitySigningKeyFile != "":
		if key, _, err = config.IdentityKey(cfg.IdentitySigningKeyFile); err != nil {
			return nil, false, fmt.Errorf("identity-signing-key-file: %w", err)
		}
		kid = cfg.IdentityKeyID
	default:
		if key, err = identity.NewSigningKey(); err != nil {
			return nil, false, err
		}
		kid, fresh = "fresh-"+identity.NewSessionID()[:10], true
	}
	if kid == "" {
		return nil, false, errors.New("identity: a signing key needs a kid")
	}
	alg, err := identity.AlgorithmOf(key.Public())
	if err != nil {
		return nil, false, err
	}
	issuer, err := identity.NewIssuer(identity.Config{
		Algorithm: alg, SigningKey: key, SigningKeyID: kid,
		Issuer: identity.GatewayIssuer, Lifetime: cfg.IdentityLifetime,
	})
	return issuer, fresh, err
}

// newMinter is the signer of the identity tokens of upstream calls, or
// nil without sessions (no call is made on a user's behalf).
func (s *Server) newMinter() (*identity.Minter, error) {
	if s.sessions == nil {
		return nil, nil
	}
	issuer, fresh, err := IdentityIssuer(s.cfg.Identity, s.opts.identityKey, s.opts.identityKID)
	if err != nil {
		return nil, err
	}
	if fresh {
		s.logger.Warn("no identity-signing-key-file: identity tokens are signed with a fresh key, which backends in other processes cannot verify; give the gateway a key and its upstreams the public key")
	}
	return identity.NewMinter(issuer, time.Now)
}
