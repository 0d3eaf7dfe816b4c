// Package config loads the settings shared by ssegate's binaries from, in
// rising precedence, built-in defaults, a JSON config file, SSEGATE_*
// environment variables and command-line flags, and validates them. A bad
// setting stops the start with an error that names it.
package config

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting. The `name` tag is the flag name; the
// environment variable is SSEGATE_ and the name upper-cased with '-' as '_'.
type Config struct {
	// Addr is the HTTP listen address of the gateway.
	Addr string `json:"addr" name:"addr" help:"HTTP listen address"`
	// GRPCAddr is the listen address of a backend binary's gRPC server.
	GRPCAddr string `json:"grpc_addr" name:"grpc-addr" help:"gRPC listen address of a backend binary"`
	// DataDir holds the durable event history.
	DataDir string `json:"data_dir" name:"data-dir" help:"directory for durable history"`
	// LogDir is a directory whose files the logs service tails (empty: none).
	LogDir string `json:"log_dir" name:"log-dir" help:"directory whose files are tailed as logs"`

	Heartbeat    time.Duration `json:"heartbeat" name:"heartbeat" help:"idle time before a heartbeat comment"`
	Retry        time.Duration `json:"retry" name:"retry" help:"default reconnection delay sent to clients"`
	HeaderWait   time.Duration `json:"header_wait" name:"header-wait" help:"bounded wait for backend headers before committing 200"`
	WriteTimeout time.Duration `json:"write_timeout" name:"write-timeout" help:"deadline of each write to a stream client; slower clients are evicted"`
	// MaxStreamsPerUser caps one user's concurrent streams (0: no cap).
	MaxStreamsPerUser int `json:"max_streams_per_user" name:"max-streams-per-user" help:"concurrent streams per user (0: no cap)"`
	// MaxStreams caps the gateway's concurrent streams; over it, 503.
	MaxStreams int `json:"max_streams" name:"max-streams" help:"concurrent streams of the whole gateway, over it 503 (0: no cap)"`
	// MaxStreamsPerIP caps one client address's concurrent streams; over it, 429.
	MaxStreamsPerIP int `json:"max_streams_per_ip" name:"max-streams-per-ip" help:"concurrent streams per client IP, over it 429 (0: no cap)"`
	// BusyRetry is the retry an SSE client refused by a cap gets, plus a
	// random part of as much again.
	BusyRetry time.Duration `json:"busy_retry" name:"busy-retry" help:"retry sent to SSE clients refused by a stream cap (plus up to as much again)"`
	// QueueBytes bounds the bytes read ahead of a slow client per stream.
	QueueBytes int `json:"queue_bytes" name:"queue-bytes" help:"bytes of messages read ahead of a slow stream client"`
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

	// AllowedOrigins are the cross origins allowed to call with cookies.
	AllowedOrigins []string `json:"allowed_origins" name:"allowed-origins" help:"comma-separated origins allowed cross-origin with cookies"`
	// SessionSecret signs HS256 session tokens; empty makes a random one,
	// which holds only while the process runs.
	SessionSecret string        `json:"session_secret" name:"session-secret" help:"HS256 secret for session tokens (default: random per start)"`
	SessionTTL    time.Duration `json:"session_ttl" name:"session-ttl" help:"session lifetime"`
	// SessionAlgorithm is HS256 (the shared secret) or ES256/RS256 with a
	// key set, for production: only the auth service holds the signing
	// key, and keys rotate by kid.
	SessionAlgorithm string `json:"session_algorithm" name:"session-algorithm" help:"HS256, ES256 or RS256"`
	// SessionSigningKeyFile is the PEM private key the auth service signs
	// ES256/RS256 tokens with; SessionSigningKeyID is its kid.
	SessionSigningKeyFile string `json:"session_signing_key_file" name:"session-signing-key-file" help:"PEM private key that signs ES256/RS256 sessions (auth service)"`
	SessionSigningKeyID   string `json:"session_signing_key_id" name:"session-signing-key-id" help:"kid of the signing key"`
	// SessionVerificationKeys are kid=path pairs of PEM public keys every
	// verifier accepts: the current key and those being rotated out.
	SessionVerificationKeys []string `json:"session_verification_keys" name:"session-verification-keys" help:"comma-separated kid=public-key.pem pairs accepted for ES256/RS256"`
	// UsersFile lists users with bcrypt hashes (empty: the demo users).
	UsersFile string `json:"users_file" name:"users-file" help:"users file (default: demo/demo and ops/ops)"`

	// Backend addresses used by the gateway binary: one or more host:port
	// per service, balanced round-robin over the healthy ones.
	AuthAddrs []string `json:"auth_addr" name:"auth-addr" help:"auth service gRPC addresses, comma-separated"`
	JobsAddrs []string `json:"jobs_addr" name:"jobs-addr" help:"jobs service gRPC addresses, comma-separated"`
	LogsAddrs []string `json:"logs_addr" name:"logs-addr" help:"logs service gRPC addresses, comma-separated"`
	// GRPCMaxMessageBytes bounds a gRPC message either way, on clients and
	// servers alike.
	GRPCMaxMessageBytes int `json:"grpc_max_message_bytes" name:"grpc-max-message-bytes" help:"largest gRPC message sent or received, in bytes"`
	// GRPCKeepalive is how often an idle gRPC connection is pinged.
	GRPCKeepalive time.Duration `json:"grpc_keepalive" name:"grpc-keepalive" help:"ping interval of idle gRPC connections (at least 10s)"`

	// JobPace is the minimum time a job spends on one chunk, so demo jobs
	// run long enough to watch (0: as fast as the CPU allows).
	JobPace time.Duration `json:"job_pace" name:"job-pace" help:"minimum time per job chunk"`

	// Metrics serves Prometheus metrics at /metrics.
	Metrics  bool   `json:"metrics" name:"metrics" help:"serve Prometheus metrics at /metrics"`
	LogLevel string `json:"log_level" name:"log-level" help:"debug, info, warn or error"`
}

// MinGRPCKeepalive is the shortest ping interval: backends refuse pings
// more often than this (and grpc-go never pings more often anyway).
const MinGRPCKeepalive = 10 * time.Second

// Default returns the built-in defaults, which run the demo on loopback.
func Default() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		GRPCAddr:            "127.0.0.1:0",
		DataDir:             ".data",
		Heartbeat:           15 * time.Second,
		Retry:               3 * time.Second,
		HeaderWait:          300 * time.Millisecond,
		WriteTimeout:        10 * time.Second,
		MaxStreamsPerUser:   16,
		ReconnectJitter:     5 * time.Second,
		BusyRetry:           10 * time.Second,
		QueueBytes:          1 << 20,
		DrainTimeout:        10 * time.Second,
		ReadHeaderTimeout:   10 * time.Second,
		IdleTimeout:         120 * time.Second,
		MaxHeaderBytes:      64 << 10,
		HTTP2MaxStreams:     250,
		SessionTTL:          12 * time.Hour,
		SessionAlgorithm:    "HS256",
		GRPCMaxMessageBytes: 4 << 20,
		GRPCKeepalive:       30 * time.Second,
		JobPace:             20 * time.Millisecond,
		Metrics:             true,
		LogLevel:            "info",
	}
}

// TLS reports whether the gateway serves HTTPS itself.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// Load builds the configuration for a binary called name from args
// (without the program name) and the environment lookup getenv.
func Load(name string, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	file := fs.String("config", getenv("SSEGATE_CONFIG"), "JSON config file (env SSEGATE_CONFIG)")
	set := map[string]string{}
	fields := fieldsOf(&cfg)
	for _, f := range fields {
		record := func(s string) error {
			set[f.name] = s
			return nil
		}
		if f.v.Kind() == reflect.Bool {
			fs.BoolFunc(f.name, f.help+" (env "+f.env+")", record)
			continue
		}
		fs.Func(f.name, f.help+" (env "+f.env+")", record)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", *file, err)
		}
		for key, v := range raw {
			f, ok := fieldByJSON(fields, key)
			if !ok {
				return Config{}, fmt.Errorf("config file %s: unknown setting %q", *file, key)
			}
			var s string
			var list []string
			switch {
			case json.Unmarshal(v, &s) == nil:
			case json.Unmarshal(v, &list) == nil:
				s = strings.Join(list, ",")
			default:
				s = string(v) // numbers and booleans as written
			}
			if err := f.set(s); err != nil {
				return Config{}, fmt.Errorf("config file %s: %s: %w", *file, key, err)
			}
		}
	}
	for _, f := range fields {
		if v := getenv(f.env); v != "" {
			if err := f.set(v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", f.env, err)
			}
		}
	}
	for _, f := range fields {
		if v, ok := set[f.name]; ok {
			if err := f.set(v); err != nil {
				return Config{}, fmt.Errorf("-%s: %w", f.name, err)
			}
		}
	}
	return cfg, cfg.Validate()
}

// Validate checks every setting and names each bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	hostPort := func(name, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(name, "%q is not host:port", addr)
		}
	}
	hostPort("addr", c.Addr)
	hostPort("grpc-addr", c.GRPCAddr)
	for _, b := range []struct {
		name  string
		addrs []string
	}{{"auth-addr", c.AuthAddrs}, {"jobs-addr", c.JobsAddrs}, {"logs-addr", c.LogsAddrs}} {
		for _, addr := range b.addrs {
			hostPort(b.name, addr)
		}
	}

	positive := []struct {
		name string
		d    time.Duration
	}{
		{"heartbeat", c.Heartbeat}, {"retry", c.Retry}, {"header-wait", c.HeaderWait},
		{"session-ttl", c.SessionTTL}, {"drain-timeout", c.DrainTimeout}, {"busy-retry", c.BusyRetry},
		{"read-header-timeout", c.ReadHeaderTimeout}, {"idle-timeout", c.IdleTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.name, "must be positive, got %s", p.d)
		}
	}
	if c.Heartbeat > 0 && c.Heartbeat < 100*time.Millisecond {
		bad("heartbeat", "%s is too short (at least 100ms)", c.Heartbeat)
	}
	notNegative := []struct {
		name string
		d    time.Duration
	}{
		{"write-timeout", c.WriteTimeout}, {"job-pace", c.JobPace}, {"max-lifetime", c.MaxLifetime},
		{"lifetime-jitter", c.LifetimeJitter}, {"reconnect-jitter", c.ReconnectJitter},
	}
	for _, p := range notNegative {
		if p.d < 0 {
			bad(p.name, "must not be negative, got %s", p.d)
		}
	}
	switch {
	case c.MaxLifetime == 0 && c.LifetimeJitter > 0:
		bad("lifetime-jitter", "needs max-lifetime")
	case c.MaxLifetime > 0 && c.MaxLifetime < time.Second:
		bad("max-lifetime", "%s is too short (at least 1s)", c.MaxLifetime)
	case c.MaxLifetime > 0 && c.LifetimeJitter >= c.MaxLifetime:
		bad("lifetime-jitter", "%s must be shorter than max-lifetime %s", c.LifetimeJitter, c.MaxLifetime)
	}
	caps := []struct {
		name string
		n    int
	}{{"max-streams-per-user", c.MaxStreamsPerUser}, {"max-streams", c.MaxStreams}, {"max-streams-per-ip", c.MaxStreamsPerIP}}
	for _, p := range caps {
		if p.n < 0 {
			bad(p.name, "must not be negative, got %d", p.n)
		}
	}
	if c.QueueBytes < 4<<10 || c.QueueBytes > 1<<30 {
		bad("queue-bytes", "%d is outside 4096 to 1073741824", c.QueueBytes)
	}
	if c.MaxHeaderBytes < 4<<10 || c.MaxHeaderBytes > 1<<20 {
		bad("max-header-bytes", "%d is outside 4096 to 1048576", c.MaxHeaderBytes)
	}
	if c.HTTP2MaxStreams < 1 || c.HTTP2MaxStreams > 10000 {
		bad("http2-max-streams", "%d is outside 1 to 10000", c.HTTP2MaxStreams)
	}
	if c.GRPCMaxMessageBytes < 1<<10 || c.GRPCMaxMessageBytes > 1<<30 {
		bad("grpc-max-message-bytes", "%d is outside 1024 to 1073741824", c.GRPCMaxMessageBytes)
	}
	if c.GRPCKeepalive < MinGRPCKeepalive {
		bad("grpc-keepalive", "%s is too short (at least %s, or backends refuse the pings)", c.GRPCKeepalive, MinGRPCKeepalive)
	}

	if c.DataDir == "" {
		bad("data-dir", "must be set")
	}
	if c.SessionSecret != "" && len(c.SessionSecret) < 32 {
		bad("session-secret", "must be at least 32 bytes")
	}
	switch c.SessionAlgorithm {
	case "HS256":
		if c.SessionSigningKeyFile != "" || len(c.SessionVerificationKeys) > 0 {
			bad("session-algorithm", "HS256 uses session-secret; key files need ES256 or RS256")
		}
	case "ES256", "RS256":
		if c.SessionSecret != "" {
			bad("session-secret", "is for HS256; %s uses key files", c.SessionAlgorithm)
		}
		if len(c.SessionVerificationKeys) == 0 && c.SessionSigningKeyFile == "" {
			bad("session-verification-keys", "%s needs at least one kid=public-key.pem pair or a signing key", c.SessionAlgorithm)
		}
		if (c.SessionSigningKeyFile == "") != (c.SessionSigningKeyID == "") {
			bad("session-signing-key-id", "session-signing-key-file and session-signing-key-id go together")
		}
	default:
		bad("session-algorithm", "%q is not HS256, ES256 or RS256", c.SessionAlgorithm)
	}
	for _, kv := range c.SessionVerificationKeys {
		if kid, path, ok := strings.Cut(kv, "="); !ok || kid == "" || path == "" {
			bad("session-verification-keys", "%q is not kid=path", kv)
		}
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || o == "*" {
			bad("allowed-origins", "%q is not an origin such as https://app.example.com", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad("trusted-proxies", "%q is not an IP address or CIDR prefix", p)
		}
	}
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		bad("tls-cert-file", "must be set with tls-key-file")
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		bad("tls-key-file", "must be set with tls-cert-file")
	case c.TLSCertFile != "":
		// Loaded here so that a bad pair stops the start, named.
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			bad("tls-cert-file", "with tls-key-file: %v", err)
		}
		if c.H2C {
			bad("h2c", "is for cleartext only; with tls-cert-file HTTP/2 is served over TLS")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
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

type field struct {
	name, env, json, help string
	v                     reflect.Value
}

func fieldsOf(c *Config) []field {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	out := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("name")
		out = append(out, field{
			name: name,
			env:  "SSEGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
			json: sf.Tag.Get("json"),
			help: sf.Tag.Get("help"),
			v:    v.Field(i),
		})
	}
	return out
}

func fieldByJSON(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.json == key {
			return f, true
		}
	}
	return field{}, false
}

// set parses s into the field by its Go type.
func (f field) set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 15s", s)
		}
		f.v.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.v.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.v.SetInt(int64(n))
	case []string:
		var list []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported setting type %s", f.v.Type())
	}
	return nil
}
