package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/identity/jwks"
)

// Verifier returns the verifier of the session tokens cfg describes, and
// what stops its key refreshes. The keys are an HS256 secret, or ES256,
// RS256 or EdDSA public keys from kid=path pairs, a JWKS file or URL
// (read within ctx, then refreshed every session-jwks-refresh until the
// closer is closed), or both; the issuer, the audience when set, the user
// claim and the forwarded claims are required and read as cfg says. With
// -auth none the verifier is nil; the closer is never nil.
func Verifier(ctx context.Context, cfg config.Config, logger *slog.Logger) (*identity.Verifier, io.Closer, error) {
	if cfg.Auth == config.AuthNone {
		return nil, nopCloser{}, nil
	}
	s := cfg.Sessions
	c := identity.Config{
		Algorithm: s.SessionAlgorithm,
		Issuer:    s.SessionIssuer,
		Audience:  s.SessionAudience,
		UserClaim: s.SessionUserClaim,
		Claims:    s.SessionClaims,
	}
	if s.SessionAlgorithm == identity.HS256 {
		c.Secret = []byte(s.SessionSecret)
		v, err := identity.NewVerifier(c)
		return v, nopCloser{}, err
	}
	if len(s.SessionVerificationKeys) > 0 {
		keys, err := identity.LoadVerificationKeys(s.SessionVerificationKeys)
		if err != nil {
			return nil, nil, fmt.Errorf("session-verification-keys: %w", err)
		}
		c.VerificationKeys = keys
	}
	var closer io.Closer = nopCloser{}
	if s.SessionJWKS != "" {
		set, err := jwks.New(ctx, s.SessionJWKS, s.SessionAlgorithm,
			jwks.WithRefresh(s.SessionJWKSRefresh), jwks.WithLogger(logger))
		if err != nil {
			return nil, nil, fmt.Errorf("session-jwks: %w", err)
		}
		c.KeySet, closer = set, set
	}
	v, err := identity.NewVerifier(c)
	if err != nil {
		_ = closer.Close()
		return nil, nil, err
	}
	return v, closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
