package app

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	gwconfig "github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/identity"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/config"
)

// The names of the demo's services. Each is the audience of the identity
// tokens made for it, so it must be the service's upstream name in the
// gateway's config; "jobs" is also the issuer and actor of the tokens the
// jobs service signs when it writes a job's log as the job's owner.
const (
	AuthService = "auth"
	JobsService = "jobs"
	LogsService = "logs"
)

// Trust is whom the services accept identity tokens from.
type Trust struct {
	// Gateway are the gateways' public identity keys, by kid: tokens of
	// theirs may call every method.
	Gateway map[string]crypto.PublicKey
	// Jobs are the jobs service's public identity keys, by kid: the logs
	// service lets it append to logs on users' behalf, and nothing else.
	Jobs map[string]crypto.PublicKey
}

// LoadTrust reads the keys a service run as its own process trusts:
// identity-verification-keys (required), and jobs-identity-keys.
func LoadTrust(cfg config.Config) (Trust, error) {
	if len(cfg.IdentityVerificationKeys) == 0 {
		return Trust{}, errors.New("identity-verification-keys: required when the services run as separate processes: the gateways' public identity keys, as kid=public-key.pem")
	}
	gw, err := identity.LoadVerificationKeys(cfg.IdentityVerificationKeys)
	if err != nil {
		return Trust{}, fmt.Errorf("identity-verification-keys: %w", err)
	}
	jobs, err := identity.LoadVerificationKeys(cfg.JobsIdentityKeys)
	if err != nil {
		return Trust{}, fmt.Errorf("jobs-identity-keys: %w", err)
	}
	return Trust{Gateway: gw, Jobs: jobs}, nil
}

// verifier returns the verifier of identity tokens from issuer, signed
// with one of keys, for the service named audience.
func verifier(keys map[string]crypto.PublicKey, issuer, actor, audience string, claims []string) (*identity.Verifier, error) {
	alg := ""
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		a, err := identity.AlgorithmOf(keys[kid])
		if err != nil || a == identity.RS256 || (alg != "" && a != alg) {
			return nil, fmt.Errorf("identity key %q: want ECDSA P-256 or Ed25519 keys, all of one type", kid)
		}
		alg = a
	}
	return identity.NewVerifier(identity.Config{
		Algorithm: alg, VerificationKeys: keys,
		Issuer: issuer, Actor: actor, Audience: audience, Claims: claims,
	})
}

// interceptor is the identity interceptor of the service named name:
// the gateways' tokens for it, and on the logs service the jobs service's
// for Append.
func (t Trust) interceptor(cfg config.Config, name string, logger *slog.Logger, public ...string) (*identity.Interceptor, error) {
	gw, err := verifier(t.Gateway, identity.GatewayIssuer, "", name, cfg.SessionClaims)
	if err != nil {
		return nil, err
	}
	opts := []identity.InterceptorOption{identity.WithPublicMethods(public...), identity.WithLogger(logger)}
	if name == LogsService && len(t.Jobs) > 0 {
		jobs, err := verifier(t.Jobs, JobsService, JobsService, LogsService, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs-identity-keys: %w", err)
		}
		opts = append(opts, identity.WithCaller(jobs, logsv1.LogService_Append_FullMethodName))
	}
	return identity.NewInterceptor(gw, opts...)
}

// JobsIssuer returns the issuer of the jobs service's identity tokens,
// which name the job's owner, "jobs" as issuer and actor, and the logs
// service as audience: signed with key under kid, or when key is nil with
// identity-signing-key-file (required then).
func JobsIssuer(cfg config.Config, key crypto.Signer, kid string) (*identity.Issuer, error) {
	if key == nil {
		if cfg.IdentitySigningKeyFile == "" {
			return nil, errors.New("identity-signing-key-file: required: the jobs service signs the identity tokens of its calls to the logs service")
		}
		var err error
		if key, _, err = gwconfig.IdentityKey(cfg.IdentitySigningKeyFile); err != nil {
			return nil, fmt.Errorf("identity-signing-key-file: %w", err)
		}
		kid = cfg.IdentityKeyID
	}
	alg, err := identity.AlgorithmOf(key.Public())
	if err != nil {
		return nil, err
	}
	return identity.NewIssuer(identity.Config{
		Algorithm: alg, SigningKey: key, SigningKeyID: kid,
		Issuer: JobsService, Actor: JobsService, Lifetime: cfg.IdentityLifetime,
	})
}
