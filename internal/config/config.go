// Package config loads the settings shared by ssegate's binaries from, in
// rising precedence, built-in defaults, a JSON config file, SSEGATE_*
// environment variables and command-line flags, and validates them. A bad
// setting stops the start with an error that names it.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
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
	WriteTimeout time.Duration `json:"write_timeout" name:"write-timeout" help:"deadline of each write to a stream client"`
	// MaxStreamsPerUser caps one user's concurrent streams (0: no cap).
	MaxStreamsPerUser int `json:"max_streams_per_user" name:"max-streams-per-user" help:"concurrent streams per user (0: no cap)"`

	// AllowedOrigins are the cross origins allowed to call with cookies.
	AllowedOrigins []string `json:"allowed_origins" name:"allowed-origins" help:"comma-separated origins allowed cross-origin with cookies"`
	// SessionSecret signs HS256 session tokens; empty makes a random one,
	// which holds only while the process runs.
	SessionSecret string        `json:"session_secret" name:"session-secret" help:"HS256 secret for session tokens (default: random per start)"`
	SessionTTL    time.Duration `json:"session_ttl" name:"session-ttl" help:"session lifetime"`
	// UsersFile lists users with bcrypt hashes (empty: the demo users).
	UsersFile string `json:"users_file" name:"users-file" help:"users file (default: demo/demo and ops/ops)"`

	// Backend addresses used by the gateway binary.
	AuthAddr string `json:"auth_addr" name:"auth-addr" help:"auth service gRPC address"`
	JobsAddr string `json:"jobs_addr" name:"jobs-addr" help:"jobs service gRPC address"`
	LogsAddr string `json:"logs_addr" name:"logs-addr" help:"logs service gRPC address"`

	// JobPace is the minimum time a job spends on one chunk, so demo jobs
	// run long enough to watch (0: as fast as the CPU allows).
	JobPace time.Duration `json:"job_pace" name:"job-pace" help:"minimum time per job chunk"`

	LogLevel string `json:"log_level" name:"log-level" help:"debug, info, warn or error"`
}

// Default returns the built-in defaults, which run the demo on loopback.
func Default() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		GRPCAddr:          "127.0.0.1:0",
		DataDir:           ".data",
		Heartbeat:         15 * time.Second,
		Retry:             3 * time.Second,
		HeaderWait:        300 * time.Millisecond,
		WriteTimeout:      10 * time.Second,
		MaxStreamsPerUser: 16,
		SessionTTL:        12 * time.Hour,
		JobPace:           20 * time.Millisecond,
		LogLevel:          "info",
	}
}

// Load builds the configuration for a binary called name from args
// (without the program name) and the environment lookup getenv.
func Load(name string, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	file := fs.String("config", getenv("SSEGATE_CONFIG"), "JSON config file (env SSEGATE_CONFIG)")
	set := map[string]string{}
	fields := fieldsOf(&cfg)
	for _, f := range fields {
		fs.Func(f.name, f.help+" (env "+f.env+")", func(s string) error {
			set[f.name] = s
			return nil
		})
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
			if err := json.Unmarshal(v, &s); err != nil {
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

// Validate checks every setting and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	for name, addr := range map[string]string{"addr": c.Addr, "grpc-addr": c.GRPCAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(name, "%q is not host:port", addr)
		}
	}
	for name, addr := range map[string]string{"auth-addr": c.AuthAddr, "jobs-addr": c.JobsAddr, "logs-addr": c.LogsAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(name, "%q is not host:port", addr)
		}
	}
	positive := map[string]time.Duration{"heartbeat": c.Heartbeat, "retry": c.Retry, "header-wait": c.HeaderWait, "session-ttl": c.SessionTTL}
	for name, d := range positive {
		if d <= 0 {
			bad(name, "must be positive, got %s", d)
		}
	}
	if c.Heartbeat > 0 && c.Heartbeat < 100*time.Millisecond {
		bad("heartbeat", "%s is too short (at least 100ms)", c.Heartbeat)
	}
	if c.WriteTimeout < 0 {
		bad("write-timeout", "must not be negative")
	}
	if c.JobPace < 0 {
		bad("job-pace", "must not be negative")
	}
	if c.MaxStreamsPerUser < 0 {
		bad("max-streams-per-user", "must not be negative")
	}
	if c.DataDir == "" {
		bad("data-dir", "must be set")
	}
	if c.SessionSecret != "" && len(c.SessionSecret) < 32 {
		bad("session-secret", "must be at least 32 bytes")
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || o == "*" {
			bad("allowed-origins", "%q is not an origin such as https://app.example.com", o)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
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
