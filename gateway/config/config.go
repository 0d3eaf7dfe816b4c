// Package config holds the settings of the ssegate gateway and loads them
// from, in rising precedence, built-in defaults, a config file (YAML or
// JSON), SSEGATE_* environment variables and command-line flags, and
// validates them. A bad setting stops the start with an error that names
// it.
package config

import (
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/upstream"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Config holds every setting of the gateway. The `name` tag is the flag
// name; the environment variable is SSEGATE_ and the name upper-cased with
// '-' as '_'; the `json` tag is the key in the config file.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string `json:"addr" name:"addr" help:"HTTP listen address"`
	// AllowedHosts are the host names requests may name in Host, besides
	// the listen address's host and loopback names (localhost, 127.0.0.1,
	// ::1): a request for any other host is refused, so that a page whose
	// domain re-resolves to the gateway (DNS rebinding) cannot use it. A
	// name starting with a dot allows its subdomains.
	AllowedHosts []string `json:"allowed_hosts" name:"allowed-hosts" help:"comma-separated host names the gateway answers for, besides its listen host and loopback (.example.com: subdomains)"`

	// Upstreams are the gRPC services the gateway serves (file: a list;
	// flags: -upstream with -descriptor-set or -reflection).
	Upstreams []upstream.Config `json:"upstreams"`
	// GRPCMaxMessageBytes bounds a gRPC message to or from an upstream.
	GRPCMaxMessageBytes int `json:"grpc_max_message_bytes" name:"grpc-max-message-bytes" help:"largest gRPC message sent or received, in bytes"`
	// GRPCKeepalive is how often an idle upstream connection is pinged
	// (0: never; some servers refuse frequent pings).
	GRPCKeepalive time.Duration `json:"grpc_keepalive" name:"grpc-keepalive" help:"ping interval of idle upstream connections (0: none, else at least 10s)"`

	Heartbeat    time.Duration `json:"heartbeat" name:"heartbeat" help:"idle time before a heartbeat comment"`
	Retry        time.Duration `json:"retry" name:"retry" help:"default reconnection delay sent to clients"`
	HeaderWait   time.Duration `json:"header_wait" name:"header-wait" help:"bounded wait for upstream headers before committing 200"`
	WriteTimeout time.Duration `json:"write_timeout" name:"write-timeout" help:"deadline of each write to a stream client; slower clients are evicted"`
	// MaxStreamsPerUser caps one user's concurrent streams (0: no cap).
	MaxStreamsPerUser int `json:"max_streams_per_user" name:"max-streams-per-user" help:"concurrent streams per user (0: no cap)"`
	// MaxStreams caps the gateway's concurrent streams.
	MaxStreams int `json:"max_streams" name:"max-streams" help:"concurrent streams of the whole gateway (0: no cap)"`
	// MaxStreamsPerIP caps one client address's concurrent streams.
	MaxStreamsPerIP int `json:"max_streams_per_ip" name:"max-streams-per-ip" help:"concurrent streams per client IP (0: no cap)"`
	// BusyRetry is the retry an SSE client refused by a cap gets, plus a
	// random part of as much again.
	BusyRetry time.Duration `json:"busy_retry" name:"busy-retry" help:"retry sent to SSE clients refused by a stream cap (plus up to as much again)"`
	// QueueBytes bounds the bytes read ahead of a slow client per stream.
	QueueBytes int `json:"queue_bytes" name:"queue-bytes" help:"bytes of messages read ahead of a slow stream client"`
	// StreamShare overrides the share option of server-streaming methods,
	// as "/package.Service/Method=public" (one upstream for everyone),
	// "=per_user" (one per signed-in user) or "=none".
	StreamShare []string `json:"stream_share" name:"stream-share" help:"comma-separated /pkg.Service/Method=public|per_user|none: which browsers share one upstream stream"`
	// MaxBodyBytes bounds request bodies of routes without their own limit.
	MaxBodyBytes int `json:"max_body_bytes" name:"max-body-bytes" help:"largest request body, in bytes, where the method sets no limit (over it, 413)"`
	// BodyReadTimeout bounds the time to receive a request body.
	BodyReadTimeout time.Duration `json:"body_read_timeout" name:"body-read-timeout" help:"time to receive a request body (over it, 408)"`
	// MaxLifetime ends streams at an event boundary with a reconnect event,
	// less a random part of LifetimeJitter (0: no limit).
	MaxLifetime    time.Duration `json:"max_lifetime" name:"max-lifetime" help:"maximum stream lifetime before a reconnect event (0: none)"`
	LifetimeJitter time.Duration `json:"lifetime_jitter" name:"lifetime-jitter" help:"random part taken off max-lifetime per stream"`
	// ReconnectJitter is the random delay added to the retry of a reconnect
	// event, so clients spread out their reconnects after a drain.
	ReconnectJitter time.Duration `json:"reconnect_jitter" name:"reconnect-jitter" help:"random delay added to the retry of reconnect events"`
	// DrainTimeout bounds a graceful stop: streams get a reconnect event,
	// requests finish, then whatever is left is closed.
	DrainTimeout time.Duration `json:"drain_timeout" name:"drain-timeout" help:"bound on a graceful stop (SIGTERM) before connections are closed"`

	// TLSCertFile and TLSKeyFile serve HTTPS with HTTP/2 (both or neither).
	TLSCertFile string `json:"tls_cert_file" name:"tls-cert-file" help:"PEM certificate chain: serve HTTPS and HTTP/2"`
	TLSKeyFile  string `json:"tls_key_file" name:"tls-key-file" help:"PEM private key of tls-cert-file"`
	// H2C serves cleartext HTTP/2 (prior knowledge) beside HTTP/1.1, for a
	// proxy in front that speaks HTTP/2 to its backends.
	H2C bool `json:"h2c" name:"h2c" help:"also serve cleartext HTTP/2 (h2c) when there is no TLS"`
	// PublicHTTPS says browsers reach the gateway over HTTPS through a proxy
	// that terminates TLS: cookies get Secure. Implied by TLSCertFile.
	PublicHTTPS bool `json:"public_https" name:"public-https" help:"browsers use HTTPS through a TLS-terminating proxy (Secure cookies)"`
	// TrustedProxies are the addresses (IPs or CIDRs) whose X-Forwarded-For
	// names the client, for the per-IP cap and logs.
	TrustedProxies []string `json:"trusted_proxies" name:"trusted-proxies" help:"comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed"`

	ReadHeaderTimeout time.Duration `json:"read_header_timeout" name:"read-header-timeout" help:"time to read a request's headers"`
	IdleTimeout       time.Duration `json:"idle_timeout" name:"idle-timeout" help:"keep-alive time of a connection between requests"`
	MaxHeaderBytes    int           `json:"max_header_bytes" name:"max-header-bytes" help:"largest request header block, in bytes"`
	// HTTP2MaxStreams bounds the concurrent requests on one HTTP/2 connection.
	HTTP2MaxStreams int `json:"http2_max_streams" name:"http2-max-streams" help:"concurrent requests per HTTP/2 connection"`

	// Auth is "session" (routes need a session cookie unless public) or
	// "none" (every route is served without one).
	Auth string `json:"auth" name:"auth" help:"session (a JWT session cookie) or none"`
	Sessions
	Identity
	// AllowedOrigins are the cross origins allowed to call with cookies.
	AllowedOrigins []string `json:"allowed_origins" name:"allowed-origins" help:"comma-separated origins allowed cross-origin with cookies"`
	// PublicRoutes are routes served without a session besides those the
	// descriptors mark public, as "METHOD /path" or "/path"; a path ending
	// in "/*" covers everything below it.
	PublicRoutes []string `json:"public_routes" name:"public-routes" help:"comma-separated routes served without a session (METHOD /path, /path/*)"`

	// Docs serves the OpenAPI document at /openapi.json and the docs page
	// at /docs.
	Docs bool `json:"docs" name:"docs" help:"serve /openapi.json and the /docs page"`
	// Metrics serves Prometheus metrics at /metrics, and profiling at
	// /debug/pprof/, on MetricsAddr: a listener of their own (loopback by
	// default), never the public port.
	Metrics     bool   `json:"metrics" name:"metrics" help:"serve Prometheus metrics and profiling on metrics-addr"`
	MetricsAddr string `json:"metrics_addr" name:"metrics-addr" help:"listen address of /metrics and /debug/pprof/ (keep it off the public network)"`
	LogLevel    string `json:"log_level" name:"log-level" help:"debug, info, warn or error"`
}

// Sessions describe the JWT in the session cookie, whoever signed it.
type Sessions struct {
	// SessionCookie is the cookie's name; empty (the default) names it as
	// CookieName says.
	SessionCookie string `json:"session_cookie" name:"session-cookie" help:"name of the session cookie (default ssegate_session, __Host-ssegate_session under HTTPS)"`
	// SessionAlgorithm is the one algorithm accepted.
	SessionAlgorithm string `json:"session_algorithm" name:"session-algorithm" help:"HS256, ES256, RS256 or EdDSA"`
	// SessionSecret is the HS256 key.
	SessionSecret string `json:"session_secret" name:"session-secret" help:"HS256 secret of session tokens (at least 32 bytes)"`
	// SessionVerificationKeys are kid=path pairs of PEM public keys.
	SessionVerificationKeys []string `json:"session_verification_keys" name:"session-verification-keys" help:"comma-separated kid=public-key.pem pairs accepted for ES256, RS256 or EdDSA"`
	// SessionJWKS is a JWKS file or an http(s) URL, read again every
	// SessionJWKSRefresh and, at most once a minute, when a token names a
	// kid it lacks. Only keys of SessionAlgorithm are used.
	SessionJWKS        string        `json:"session_jwks" name:"session-jwks" help:"JWKS file or http(s) URL of the session keys"`
	SessionJWKSRefresh time.Duration `json:"session_jwks_refresh" name:"session-jwks-refresh" help:"how often session-jwks is read again (at least 10s)"`
	// SessionIssuer and SessionAudience are the iss and aud required
	// (empty audience: not checked).
	SessionIssuer   string `json:"session_issuer" name:"session-issuer" help:"iss claim required of session tokens"`
	SessionAudience string `json:"session_audience" name:"session-audience" help:"aud claim required of session tokens (empty: not checked)"`
	// SessionUserClaim names the claim that holds the user (1 to 256
	// printable ASCII characters).
	SessionUserClaim string `json:"session_user_claim" name:"session-user-claim" help:"claim that names the user (sub, email, preferred_username, …)"`
	// SessionClaims are the other claims passed on to upstreams, inside
	// the identity token of each upstream call; a token whose claims take
	// more than 2 KiB as JSON is refused.
	SessionClaims []string `json:"session_claims" name:"session-claims" help:"comma-separated claims passed on to upstreams (roles, tenant, …)"`
	// SessionRevocations names the upstream that serves
	// ssegate.v1.SessionRevocationService, the sessions its issuer ended
	// before they expired: the gateway watches it, refuses their cookies
	// and ends their streams. Empty: sessions end only when they expire.
	SessionRevocations string `json:"session_revocations" name:"session-revocations" help:"upstream serving ssegate.v1.SessionRevocationService: revoked sessions are refused and their streams ended (empty: none)"`
}

// Identity describes the identity tokens this process signs: the
// gateway's, one per upstream call on a user's behalf (audience: the
// upstream's name), and, in a service, those of its calls to other
// services for a user. Backends verify them with the public key alone.
type Identity struct {
	// IdentitySigningKeyFile is the PEM private key, ECDSA P-256 (ES256)
	// or Ed25519 (EdDSA); empty: a fresh key each start, whose public key
	// only the same process can hand on (the all-in-one demo).
	IdentitySigningKeyFile string `json:"identity_signing_key_file" name:"identity-signing-key-file" help:"PEM private key (ECDSA P-256 or Ed25519) that signs the identity tokens sent to upstreams (default: a fresh one per start)"`
	// IdentityKeyID is the key's kid, which verifiers look it up by.
	IdentityKeyID string `json:"identity_key_id" name:"identity-key-id" help:"kid of identity-signing-key-file"`
	// IdentityLifetime is how long an identity token is valid.
	IdentityLifetime time.Duration `json:"identity_lifetime" name:"identity-lifetime" help:"lifetime of identity tokens (10s to 1h)"`
}

// Auth modes.
const (
	AuthSession = "session"
	AuthNone    = "none"
)

// MinJWKSRefresh is the shortest session-jwks-refresh: an identity
// provider should not be asked for its keys more often.
const MinJWKSRefresh = 10 * time.Second

// MinGRPCKeepalive is the shortest ping interval: servers refuse pings
// more often than this (and grpc-go never pings more often anyway).
const MinGRPCKeepalive = upstream.MinKeepalive

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		GRPCMaxMessageBytes: 4 << 20,
		GRPCKeepalive:       30 * time.Second,
		Heartbeat:           15 * time.Second,
		Retry:               3 * time.Second,
		HeaderWait:          300 * time.Millisecond,
		WriteTimeout:        10 * time.Second,
		MaxStreamsPerUser:   16,
		BusyRetry:           10 * time.Second,
		QueueBytes:          1 << 20,
		MaxBodyBytes:        1 << 20,
		BodyReadTimeout:     10 * time.Second,
		ReconnectJitter:     5 * time.Second,
		DrainTimeout:        10 * time.Second,
		ReadHeaderTimeout:   10 * time.Second,
		IdleTimeout:         120 * time.Second,
		MaxHeaderBytes:      64 << 10,
		HTTP2MaxStreams:     250,
		Auth:                AuthSession,
		Sessions: Sessions{
			SessionAlgorithm:   "HS256",
			SessionJWKSRefresh: 10 * time.Minute,
			SessionIssuer:      "ssegate",
			SessionUserClaim:   "sub",
		},
		Identity:    Identity{IdentityLifetime: identity.DefaultIdentityLifetime},
		Docs:        true,
		Metrics:     true,
		MetricsAddr: "127.0.0.1:9464",
		LogLevel:    "info",
	}
}

// Load builds the gateway's configuration for a binary called name from
// args (without the program name) and the environment lookup getenv, and
// validates it.
func Load(name string, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if err := Parse(name, args, getenv, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// CookieName is the session cookie's name: SessionCookie when set, else
// "ssegate_session", with the __Host- prefix when browsers reach the
// gateway over HTTPS (TLS or PublicHTTPS), so that browsers refuse the
// cookie from sibling subdomains and over plain HTTP.
func (c Config) CookieName() string {
	switch {
	case c.SessionCookie != "":
		return c.SessionCookie
	case c.TLS() || c.PublicHTTPS:
		return "__Host-ssegate_session"
	}
	return "ssegate_session"
}

// TLS reports whether the gateway serves HTTPS itself.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// Validate checks every setting and names each bad one. It checks the
// upstreams' settings too (not that they can be reached: that is for the
// start).
func (c Config) Validate() error {
	v := &validator{}
	c.validateServer(v)
	c.validateStreams(v)
	c.validateUpstreams(v)
	c.validateSessions(v)
	c.validateIdentity(v)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return v.err()
}

type validator struct{ errs []error }

func (v *validator) bad(name, format string, a ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) hostPort(name, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		v.bad(name, "%q is not host:port", addr)
	}
}

func (c Config) validateServer(v *validator) {
	v.hostPort("addr", c.Addr)
	if c.Metrics {
		v.hostPort("metrics-addr", c.MetricsAddr)
		if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			v.bad("metrics-addr", "must differ from addr: metrics stay off the public port")
		}
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:*@ ") {
			v.bad("allowed-hosts", "%q is not a host name (a leading dot allows subdomains)", h)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			v.bad("trusted-proxies", "%q is not an IP address or CIDR prefix", p)
		}
	}
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		v.bad("tls-cert-file", "must be set with tls-key-file")
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		v.bad("tls-key-file", "must be set with tls-cert-file")
	case c.TLSCertFile != "":
		// Loaded here so that a bad pair stops the start, named.
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			v.bad("tls-cert-file", "with tls-key-file: %v", err)
		}
		if c.H2C {
			v.bad("h2c", "is for cleartext only; with tls-cert-file HTTP/2 is served over TLS")
		}
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{
		{"drain-timeout", c.DrainTimeout}, {"read-header-timeout", c.ReadHeaderTimeout}, {"idle-timeout", c.IdleTimeout},
	} {
		if p.d <= 0 {
			v.bad(p.name, "must be positive, got %s", p.d)
		}
	}
	if c.MaxHeaderBytes < 4<<10 || c.MaxHeaderBytes > 1<<20 {
		v.bad("max-header-bytes", "%d is outside 4096 to 1048576", c.MaxHeaderBytes)
	}
	if c.HTTP2MaxStreams < 1 || c.HTTP2MaxStreams > 10000 {
		v.bad("http2-max-streams", "%d is outside 1 to 10000", c.HTTP2MaxStreams)
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || o == "*" {
			v.bad("allowed-origins", "%q is not an origin such as https://app.example.com", o)
		}
	}
	for _, r := range c.PublicRoutes {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			path, method = method, ""
		}
		if !strings.HasPrefix(path, "/") || strings.Contains(method, "/") {
			v.bad("public-routes", "%q is not METHOD /path or /path", r)
		}
	}
}

func (c Config) validateStreams(v *validator) {
	for _, p := range []struct {
		name string
		d    time.Duration
	}{
		{"heartbeat", c.Heartbeat}, {"retry", c.Retry}, {"header-wait", c.HeaderWait}, {"busy-retry", c.BusyRetry},
	} {
		if p.d <= 0 {
			v.bad(p.name, "must be positive, got %s", p.d)
		}
	}
	if c.Heartbeat > 0 && c.Heartbeat < 100*time.Millisecond {
		v.bad("heartbeat", "%s is too short (at least 100ms)", c.Heartbeat)
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{
		{"write-timeout", c.WriteTimeout}, {"max-lifetime", c.MaxLifetime},
		{"lifetime-jitter", c.LifetimeJitter}, {"reconnect-jitter", c.ReconnectJitter},
	} {
		if p.d < 0 {
			v.bad(p.name, "must not be negative, got %s", p.d)
		}
	}
	switch {
	case c.MaxLifetime == 0 && c.LifetimeJitter > 0:
		v.bad("lifetime-jitter", "needs max-lifetime")
	case c.MaxLifetime > 0 && c.MaxLifetime < time.Second:
		v.bad("max-lifetime", "%s is too short (at least 1s)", c.MaxLifetime)
	case c.MaxLifetime > 0 && c.LifetimeJitter >= c.MaxLifetime:
		v.bad("lifetime-jitter", "%s must be shorter than max-lifetime %s", c.LifetimeJitter, c.MaxLifetime)
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"max-streams-per-user", c.MaxStreamsPerUser}, {"max-streams", c.MaxStreams}, {"max-streams-per-ip", c.MaxStreamsPerIP}} {
		if p.n < 0 {
			v.bad(p.name, "must not be negative, got %d", p.n)
		}
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > 1<<30 {
		v.bad("max-body-bytes", "%d is outside 1 to 1073741824", c.MaxBodyBytes)
	}
	if c.BodyReadTimeout < 0 {
		v.bad("body-read-timeout", "must not be negative, got %s", c.BodyReadTimeout)
	}
	for _, e := range c.StreamShare {
		if _, _, err := ParseShare(e); err != nil {
			v.bad("stream-share", "%v", err)
		}
	}
	if c.QueueBytes < 4<<10 || c.QueueBytes > 1<<30 {
		v.bad("queue-bytes", "%d is outside 4096 to 1073741824", c.QueueBytes)
	}
}

func (c Config) validateUpstreams(v *validator) {
	if c.GRPCMaxMessageBytes < 1<<10 || c.GRPCMaxMessageBytes > 1<<30 {
		v.bad("grpc-max-message-bytes", "%d is outside 1024 to 1073741824", c.GRPCMaxMessageBytes)
	}
	if c.GRPCKeepalive != 0 && c.GRPCKeepalive < MinGRPCKeepalive {
		v.bad("grpc-keepalive", "%s is too short (0, or at least %s: servers refuse more frequent pings)", c.GRPCKeepalive, MinGRPCKeepalive)
	}
	names := map[string]bool{}
	for _, u := range c.Upstreams {
		if err := u.Validate(); err != nil {
			v.errs = append(v.errs, err)
		}
		if names[u.Name] {
			v.bad("upstreams", "%q is named twice", u.Name)
		}
		names[u.Name] = true
	}
}

func (c Config) validateSessions(v *validator) {
	switch c.Auth {
	case AuthNone:
		if c.SessionRevocations != "" {
			v.bad("session-revocations", "needs sessions (auth is none)")
		}
		return
	case AuthSession:
	default:
		v.bad("auth", "%q is not session or none", c.Auth)
		return
	}
	s := c.Sessions
	if name := c.CookieName(); strings.ContainsAny(name, " =;,\t\r\n") {
		v.bad("session-cookie", "%q is not a cookie name", name)
	}
	if s.SessionUserClaim == "" {
		v.bad("session-user-claim", "must be set")
	} else if identity.CheckUserClaim(s.SessionUserClaim) != nil {
		v.bad("session-user-claim", "%q is a registered claim (iss, aud, exp, nbf, iat, jti), not a user", s.SessionUserClaim)
	}
	if identity.CheckClaims(s.SessionClaims) != nil {
		v.bad("session-claims", "%q names an empty claim, one claim twice, or a claim identity tokens reserve (iss, sub, aud, exp, nbf, iat, jti, sid, act)", s.SessionClaims)
	}
	if r := s.SessionRevocations; r != "" && len(c.Upstreams) > 0 && !slices.ContainsFunc(c.Upstreams, func(u upstream.Config) bool { return u.Name == r }) {
		v.bad("session-revocations", "%q is not one of the upstreams", r)
	}
	if s.SessionJWKSRefresh < MinJWKSRefresh {
		v.bad("session-jwks-refresh", "%s is too short (at least %s)", s.SessionJWKSRefresh, MinJWKSRefresh)
	}
	switch s.SessionAlgorithm {
	case "HS256":
		if s.SessionSecret == "" {
			v.bad("session-secret", "is required for HS256 (or -auth none)")
		} else if len(s.SessionSecret) < 32 {
			v.bad("session-secret", "must be at least 32 bytes")
		}
		if len(s.SessionVerificationKeys) > 0 || s.SessionJWKS != "" {
			v.bad("session-algorithm", "HS256 uses session-secret; keys need ES256, RS256 or EdDSA")
		}
	case "ES256", "RS256", "EdDSA":
		if s.SessionSecret != "" {
			v.bad("session-secret", "is for HS256; %s uses public keys", s.SessionAlgorithm)
		}
		if len(s.SessionVerificationKeys) == 0 && s.SessionJWKS == "" {
			v.bad("session-verification-keys", "%s needs kid=public-key.pem pairs or session-jwks", s.SessionAlgorithm)
		}
	default:
		v.bad("session-algorithm", "%q is not HS256, ES256, RS256 or EdDSA", s.SessionAlgorithm)
	}
	for _, kv := range s.SessionVerificationKeys {
		if kid, path, ok := strings.Cut(kv, "="); !ok || kid == "" || path == "" {
			v.bad("session-verification-keys", "%q is not kid=path", kv)
		}
	}
	if j := s.SessionJWKS; strings.Contains(j, "://") {
		if u, err := url.Parse(j); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.bad("session-jwks", "%q is not a file or an http(s) URL", j)
		}
	}
}

func (c Config) validateIdentity(v *validator) {
	id := c.Identity
	if (id.IdentitySigningKeyFile == "") != (id.IdentityKeyID == "") {
		v.bad("identity-key-id", "identity-signing-key-file and identity-key-id go together")
	}
	if id.IdentitySigningKeyFile != "" {
		// Loaded here so that a bad key stops the start, named.
		if _, _, err := IdentityKey(id.IdentitySigningKeyFile); err != nil {
			v.bad("identity-signing-key-file", "%v", err)
		}
	}
	if id.IdentityLifetime < 10*time.Second || id.IdentityLifetime > time.Hour {
		v.bad("identity-lifetime", "%s is outside 10s to 1h", id.IdentityLifetime)
	}
}

// IdentityKey reads an identity signing key and returns it with its
// algorithm: ES256 for ECDSA P-256, EdDSA for Ed25519.
func IdentityKey(path string) (crypto.Signer, string, error) {
	key, err := identity.LoadSigningKey(path)
	if err != nil {
		return nil, "", err
	}
	alg, err := identity.AlgorithmOf(key.Public())
	if err != nil || alg == identity.RS256 {
		return nil, "", fmt.Errorf("identity: %s is not an ECDSA P-256 or Ed25519 key", path)
	}
	return key, alg, nil
}

// ParsePrefix reads an IP address or a CIDR prefix; an address is a prefix
// of its full length.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseShare reads one stream-share entry: the full method and its mode.
func ParseShare(entry string) (method string, mode ssegatev1.Share, err error) {
	method, name, ok := strings.Cut(entry, "=")
	if !ok || len(method) < 3 || method[0] != '/' || !strings.Contains(method[1:], "/") {
		return "", 0, fmt.Errorf("%q is not /package.Service/Method=public|per_user|none", entry)
	}
	switch name {
	case "public":
		return method, ssegatev1.Share_SHARE_PUBLIC, nil
	case "per_user":
		return method, ssegatev1.Share_SHARE_PER_USER, nil
	case "none":
		return method, ssegatev1.Share_SHARE_UNSPECIFIED, nil
	}
	return "", 0, fmt.Errorf("%q: %q is not public, per_user or none", entry, name)
}
