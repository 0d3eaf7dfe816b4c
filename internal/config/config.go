// Package config holds the settings of the demo's binaries: the gateway's
// own (gateway/config, embedded) and those of the auth, jobs and logs
// services, loaded the same way (defaults, a config file, SSEGATE_*
// environment variables, flags) and validated.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	gwconfig "github.com/ssegate/ssegate/gateway/config"
)

// Config holds every setting of the demo's binaries.
type Config struct {
	gwconfig.Config

	// GRPCAddr is the listen address of a service binary's gRPC server.
	GRPCAddr string `json:"grpc_addr" name:"grpc-addr" help:"gRPC listen address of a service binary"`
	// DataDir holds the durable event history.
	DataDir string `json:"data_dir" name:"data-dir" help:"directory for durable history"`
	// LogDir is a directory whose files the logs service tails (empty: none).
	LogDir string `json:"log_dir" name:"log-dir" help:"directory whose files are tailed as logs"`
	// UsersFile lists users with bcrypt hashes (empty: the demo users).
	UsersFile string `json:"users_file" name:"users-file" help:"users file (default: demo/demo and ops/ops)"`
	// SessionTTL is the lifetime of the sessions the auth service signs.
	SessionTTL time.Duration `json:"session_ttl" name:"session-ttl" help:"session lifetime"`
	// SessionSigningKeyFile is the PEM private key the auth service signs
	// ES256/RS256 tokens with; SessionSigningKeyID is its kid.
	SessionSigningKeyFile string `json:"session_signing_key_file" name:"session-signing-key-file" help:"PEM private key that signs ES256/RS256 sessions (auth service)"`
	SessionSigningKeyID   string `json:"session_signing_key_id" name:"session-signing-key-id" help:"kid of the signing key"`
	// IdentityVerificationKeys are kid=path pairs of the gateway's public
	// identity keys: the services accept the identity tokens they verify.
	IdentityVerificationKeys []string `json:"identity_verification_keys" name:"identity-verification-keys" help:"comma-separated kid=public-key.pem pairs of the gateways' identity keys (services)"`
	// JobsIdentityKeys are kid=path pairs of the jobs service's public
	// identity keys: the logs service lets it append job logs for users.
	JobsIdentityKeys []string `json:"jobs_identity_keys" name:"jobs-identity-keys" help:"comma-separated kid=public-key.pem pairs of the jobs service's identity keys (logs service: job logs)"`
	// LogsAddrs are the logs service's addresses, for the jobs service.
	LogsAddrs []string `json:"logs_addr" name:"logs-addr" help:"logs service gRPC addresses, comma-separated (jobs service)"`
	// MaxJobsPerUser caps the jobs one user may have running at once
	// (0: no cap); beyond it creating one answers 429.
	MaxJobsPerUser int `json:"max_jobs_per_user" name:"max-jobs-per-user" help:"jobs one user may have running at once (0: no cap; beyond it, 429)"`
	// JobPace is the minimum time a job spends on one chunk, so demo jobs
	// run long enough to watch (0: as fast as the CPU allows).
	JobPace time.Duration `json:"job_pace" name:"job-pace" help:"minimum time per job chunk"`

	// StoreURL selects where the jobs and logs services keep their
	// history: empty, in bbolt files under DataDir (one process per
	// service); NATS server URLs, in NATS JetStream, which several
	// replicas of each service share.
	StoreURL string `json:"store_url" name:"store-url" help:"NATS servers that keep the history, nats://host:4222[,…] (empty: bbolt in data-dir)"`
	// StoreCredsFile, StoreTLSCAFile, StoreTLSCertFile and StoreTLSKeyFile
	// authenticate to the NATS servers and verify them.
	StoreCredsFile   string `json:"store_creds_file" name:"store-creds-file" help:"NATS credentials file (store-url)"`
	StoreTLSCAFile   string `json:"store_tls_ca_file" name:"store-tls-ca-file" help:"CA certificates of the NATS servers' TLS (store-url)"`
	StoreTLSCertFile string `json:"store_tls_cert_file" name:"store-tls-cert-file" help:"client certificate for NATS TLS (store-url)"`
	StoreTLSKeyFile  string `json:"store_tls_key_file" name:"store-tls-key-file" help:"key of store-tls-cert-file"`
	// StoreReplicas is how many NATS servers keep each stream.
	StoreReplicas int `json:"store_replicas" name:"store-replicas" help:"NATS servers that keep each stream: 3 for a cluster, 1 for a single server (store-url)"`
	// StorePrefix names the bucket and streams in NATS.
	StorePrefix string `json:"store_prefix" name:"store-prefix" help:"name of the NATS bucket and streams, so deployments can share a cluster (store-url)"`
	// ReplicaID names this jobs replica among the others (empty: the host
	// name and a random suffix, new at each start).
	ReplicaID string `json:"replica_id" name:"replica-id" help:"name of this jobs replica, unique among them (default: host name and a random suffix)"`
	// LeaseTTL is how long a running job's lease lasts without renewal: a
	// job whose replica died is taken over by another within about this
	// and half of it again.
	LeaseTTL time.Duration `json:"lease_ttl" name:"lease-ttl" help:"lease of a running job: another replica takes it over this long after its replica stopped renewing (store-url)"`
}

// Default returns the built-in defaults, which run the demo on loopback.
// The gateway's session secret is left empty: the all-in-one demo makes a
// random one, and separate processes must share one.
func Default() Config {
	return Config{
		Config:         gwconfig.Default(),
		GRPCAddr:       "127.0.0.1:0",
		DataDir:        ".data",
		SessionTTL:     12 * time.Hour,
		MaxJobsPerUser: 4,
		JobPace:        20 * time.Millisecond,
		StoreReplicas:  3,
		StorePrefix:    "ssegate",
		LeaseTTL:       10 * time.Second,
	}
}

// Load builds the configuration for a binary called name from args
// (without the program name) and the environment lookup getenv.
func Load(name string, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if err := gwconfig.Parse(name, args, getenv, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the services' settings, and the gateway's but for the
// session secret, which the all-in-one demo may make itself.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	gw := c.Config
	if gw.SessionAlgorithm == "HS256" && gw.SessionSecret == "" {
		gw.SessionSecret = strings.Repeat("x", 32) // checked by the binaries that need it
	}
	if gw.SessionAlgorithm != "HS256" && len(gw.SessionVerificationKeys) == 0 && c.SessionSigningKeyFile != "" {
		gw.SessionVerificationKeys = []string{"signing=" + c.SessionSigningKeyFile} // the signing key verifies too
	}
	if err := gw.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		bad("grpc-addr", "%q is not host:port", c.GRPCAddr)
	}
	for _, a := range c.LogsAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("logs-addr", "%q is not host:port", a)
		}
	}
	for _, keys := range []struct {
		name  string
		pairs []string
	}{{"identity-verification-keys", c.IdentityVerificationKeys}, {"jobs-identity-keys", c.JobsIdentityKeys}} {
		for _, kv := range keys.pairs {
			if kid, path, ok := strings.Cut(kv, "="); !ok || kid == "" || path == "" {
				bad(keys.name, "%q is not kid=path", kv)
			}
		}
	}
	if c.DataDir == "" {
		bad("data-dir", "must be set")
	}
	if c.SessionTTL <= 0 {
		bad("session-ttl", "must be positive, got %s", c.SessionTTL)
	}
	if c.MaxJobsPerUser < 0 {
		bad("max-jobs-per-user", "must not be negative, got %d", c.MaxJobsPerUser)
	}
	if c.JobPace < 0 {
		bad("job-pace", "must not be negative, got %s", c.JobPace)
	}
	c.validateStore(bad)
	switch {
	case (c.SessionSigningKeyFile == "") != (c.SessionSigningKeyID == ""):
		bad("session-signing-key-id", "session-signing-key-file and session-signing-key-id go together")
	case c.SessionSigningKeyFile != "" && c.SessionAlgorithm == "HS256":
		bad("session-algorithm", "HS256 uses session-secret; key files need ES256 or RS256")
	}
	return errors.Join(errs...)
}

var storePrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateStore checks the NATS settings; without store-url they are
// unused.
func (c Config) validateStore(bad func(name, format string, a ...any)) {
	if c.StoreURL == "" {
		return
	}
	for u := range strings.SplitSeq(c.StoreURL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		switch {
		case err != nil || p.Host == "":
			bad("store-url", "%q is not a URL such as nats://host:4222", u)
		case p.Scheme != "nats" && p.Scheme != "tls":
			bad("store-url", "%q: the scheme must be nats or tls", u)
		}
	}
	if c.StoreReplicas < 1 || c.StoreReplicas > 5 {
		bad("store-replicas", "must be from 1 to 5 (NATS keeps a stream on at most 5 servers), got %d", c.StoreReplicas)
	}
	if !storePrefix.MatchString(c.StorePrefix) {
		bad("store-prefix", "%q is not 1 to 64 letters, digits, '-' or '_'", c.StorePrefix)
	}
	if c.LeaseTTL < 2*time.Second || c.LeaseTTL%time.Second != 0 {
		bad("lease-ttl", "must be whole seconds, at least 2s, got %s", c.LeaseTTL)
	}
	if (c.StoreTLSCertFile == "") != (c.StoreTLSKeyFile == "") {
		bad("store-tls-key-file", "store-tls-cert-file and store-tls-key-file go together")
	}
}
