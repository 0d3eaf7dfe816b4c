// Package app assembles the demo: the auth, jobs and logs services' gRPC
// servers, and the all-in-one demo that runs them with the ssegate gateway
// (package gateway/server) in front, configured as any team configures it:
// upstreams with a descriptor set. The binaries in cmd/ only load a config
// and call into here, so tests start exactly what users run.
package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/internal/config"
)

// TokenConfig returns the session token settings of the auth service
// (which signs them) and the demo's gateway (which verifies them): HS256
// with the configured secret, or with a random one that lives as long as
// the process (enough for the all-in-one demo, not for separate
// processes).
func TokenConfig(cfg config.Config, logger *slog.Logger) (identity.Config, error) {
	c, random, err := tokenConfig(cfg)
	if random {
		logger.Warn(randomSecretWarning)
	}
	return c, err
}

const randomSecretWarning = "no session-secret set: using a random one; sessions end when the process stops"

// tokenConfig is TokenConfig without the log, for a caller that reports
// the random secret only once it has started (a failed start prints its
// error alone); random tells whether the secret is one.
func tokenConfig(cfg config.Config) (c identity.Config, random bool, err error) {
	if cfg.SessionAlgorithm == identity.ES256 || cfg.SessionAlgorithm == identity.RS256 {
		c, err = keySetConfig(cfg)
		return c, false, err
	}
	secret := []byte(cfg.SessionSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return identity.Config{}, false, err
		}
		random = true
	}
	return identity.Config{Algorithm: identity.HS256, Secret: secret, Issuer: cfg.SessionIssuer, Lifetime: cfg.SessionTTL}, random, nil
}

// keySetConfig loads the ES256/RS256 keys: the verification keys by kid,
// and the signing key where one is configured (the auth service).
func keySetConfig(cfg config.Config) (identity.Config, error) {
	keys, err := identity.LoadVerificationKeys(cfg.SessionVerificationKeys)
	if err != nil {
		return identity.Config{}, fmt.Errorf("session-verification-keys: %w", err)
	}
	c := identity.Config{Algorithm: cfg.SessionAlgorithm, VerificationKeys: keys, Issuer: cfg.SessionIssuer, Lifetime: cfg.SessionTTL}
	if cfg.SessionSigningKeyFile != "" {
		if c.SigningKey, err = identity.LoadSigningKey(cfg.SessionSigningKeyFile); err != nil {
			return identity.Config{}, fmt.Errorf("session-signing-key-file: %w", err)
		}
		c.SigningKeyID = cfg.SessionSigningKeyID
	}
	return c, nil
}

// CheckSessionKeys tells the auth service, run as its own process,
// whether it has what it needs to sign sessions the gateways verify: the
// common HS256 secret, or for ES256/RS256 the signing key. (The other
// services never see session tokens.)
func CheckSessionKeys(cfg config.Config) error {
	switch {
	case cfg.SessionAlgorithm == identity.HS256 && cfg.SessionSecret == "":
		return errors.New("session-secret: required when the services run as separate processes")
	case cfg.SessionAlgorithm != identity.HS256 && cfg.SessionSigningKeyFile == "":
		return errors.New("session-signing-key-file: the auth service needs the key that signs sessions")
	}
	return nil
}
