// Package jwks keeps the public keys an identity provider publishes as a
// JSON Web Key Set, in a file or at an http(s) URL, for an
// identity.Verifier (as its Config.KeySet): read at the start, read again
// every refresh interval and, at most once a minute, when a token names a
// kid the set does not hold (the provider has rotated its keys). A read
// that fails keeps the last good keys and is logged.
//
// Only keys that can verify the one configured algorithm are kept: of its
// type (identity.CheckKey), with a kid, and with no "use", "alg" or
// "key_ops" that says otherwise. JWK parsing and validation are
// github.com/MicahParks/jwkset's.
package jwks

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/jonboulle/clockwork"

	"github.com/ssegate/ssegate/gateway/identity"
)

// Limits and defaults.
const (
	// DefaultRefresh is how often the set is read again unless WithRefresh
	// says otherwise.
	DefaultRefresh = 10 * time.Minute
	// DefaultTimeout bounds one read of the set.
	DefaultTimeout = 10 * time.Second
	// UnknownKIDInterval is the least time between two reads made because
	// a token named a kid the set does not hold.
	UnknownKIDInterval = time.Minute
	// MaxSize bounds the set's document in bytes.
	MaxSize = 1 << 20
)

// Errors of Key and of a read.
var (
	ErrUnknownKID = errors.New("jwks: no key with this kid")
	ErrNoKeys     = errors.New("jwks: no usable key in the set")
	ErrTooLarge   = errors.New("jwks: set over 1 MiB")
)

// Option configures a Set.
type Option func(*options)

type options struct {
	refresh   time.Duration
	timeout   time.Duration
	client    *http.Client
	clock     clockwork.Clock
	log       *slog.Logger
	onRefresh func(error)
}

// WithRefresh sets how often the set is read again (default
// DefaultRefresh).
func WithRefresh(d time.Duration) Option { return func(o *options) { o.refresh = d } }

// WithTimeout bounds each read (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithHTTPClient sets the client for a URL, for its TLS roots or proxy. The
// default client refuses redirects from https to http.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithClock injects the clock of the refresh interval and of the
// unknown-kid limit (default the real one).
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger of failed reads (warnings) and of reads and
// skipped keys (debug); default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithOnRefresh calls f after every read after the first, periodic or for
// an unknown kid, with nil or the reason it failed, for metrics and tests.
// f runs while the set holds its read lock: it must not call Key.
func WithOnRefresh(f func(error)) Option { return func(o *options) { o.onRefresh = f } }

// Set is a JWK Set kept fresh; it implements identity.KeySet. Close stops
// its refreshes.
type Set struct {
	alg       string
	source    string // for logs: a file name or a redacted URL
	read      func(context.Context) ([]byte, error)
	keys      atomic.Pointer[map[string]crypto.PublicKey]
	timeout   time.Duration
	clock     clockwork.Clock
	log       *slog.Logger
	onRefresh func(error)
	client    *http.Client
	ownClient bool

	mu          sync.Mutex // one read at a time
	lastUnknown time.Time  // of the last read for an unknown kid; guarded by mu

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	ticker clockwork.Ticker
	done   chan struct{}
	closed sync.Once
}

// New reads the set at source, a file path or an http(s) URL, within ctx,
// keeping the keys of alg (ES256, RS256 or EdDSA), and refreshes it until
// Close. A first read that fails, or that finds no usable key, is an
// error.
func New(ctx context.Context, source, alg string, opts ...Option) (*Set, error) {
	o := options{refresh: DefaultRefresh, timeout: DefaultTimeout, clock: clockwork.NewRealClock()}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case alg != identity.ES256 && alg != identity.RS256 && alg != identity.EdDSA:
		return nil, fmt.Errorf("jwks: algorithm %q has no public keys (want ES256, RS256 or EdDSA)", alg)
	case o.refresh <= 0 || o.timeout <= 0:
		return nil, errors.New("jwks: refresh and timeout must be positive")
	case o.clock == nil:
		return nil, errors.New("jwks: nil clock")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	s := &Set{alg: alg, timeout: o.timeout, clock: o.clock, log: o.log, onRefresh: o.onRefresh, done: make(chan struct{})}
	if err := s.setSource(source, o.client); err != nil {
		return nil, err
	}
	readCtx, cancel := context.WithTimeout(ctx, o.timeout)
	keys, err := s.fetch(readCtx)
	cancel()
	if err != nil {
		s.closeIdle()
		return nil, fmt.Errorf("jwks: %s: %w", s.source, err)
	}
	s.keys.Store(&keys)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ticker = s.clock.NewTicker(o.refresh)
	go s.run()
	return s, nil
}

func (s *Set) setSource(source string, client *http.Client) error {
	if source == "" {
		return errors.New("jwks: no source")
	}
	if !strings.Contains(source, "://") {
		s.source = source
		s.read = func(context.Context) ([]byte, error) {
			f, err := os.Open(source)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return readLimited(f)
		}
		return nil
	}
	u, err := url.Parse(source)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("jwks: source is neither a file nor an http(s) URL")
	}
	s.source = u.Redacted()
	if client == nil {
		client = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
					return errors.New("redirect from https to " + req.URL.Scheme)
				}
				return nil
			},
		}
		s.ownClient = true
	}
	s.client = client
	s.read = func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP status %s", resp.Status)
		}
		return readLimited(resp.Body)
	}
	return nil
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	return data, nil
}

// Key returns the key named kid. For a kid the set does not hold it reads
// the set again first, unless it did so for an unknown kid less than
// UnknownKIDInterval ago; it waits for a read under way.
func (s *Set) Key(kid string) (crypto.PublicKey, error) {
	if k, ok := (*s.keys.Load())[kid]; ok {
		return k, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The read this call waited for may have brought the key.
	if k, ok := (*s.keys.Load())[kid]; ok {
		return k, nil
	}
	now := s.clock.Now()
	if s.ctx.Err() != nil || (!s.lastUnknown.IsZero() && now.Sub(s.lastUnknown) < UnknownKIDInterval) {
		return nil, ErrUnknownKID
	}
	s.lastUnknown = now
	s.refreshLocked("unknown kid")
	if k, ok := (*s.keys.Load())[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKID
}

// Close stops the refreshes and waits for them; the keys stay as they
// were.
func (s *Set) Close() error {
	s.closed.Do(func() {
		s.cancel()
		<-s.done
		s.closeIdle()
	})
	return nil
}

func (s *Set) closeIdle() {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
}

func (s *Set) run() {
	defer close(s.done)
	defer s.ticker.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.ticker.Chan():
			s.mu.Lock()
			s.refreshLocked("interval")
			s.mu.Unlock()
		}
	}
}

// refreshLocked reads the set again and keeps the new keys, or the last
// good ones when the read fails. s.mu is held.
func (s *Set) refreshLocked(why string) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	keys, err := s.fetch(ctx)
	cancel()
	if err != nil {
		s.log.Warn("jwks: refresh failed, keeping the last good keys", "jwks", s.source, "why", why,
			"keys", len(*s.keys.Load()), "err", err)
	} else {
		s.keys.Store(&keys)
		s.log.Debug("jwks: refreshed", "jwks", s.source, "why", why, "keys", len(keys))
	}
	if s.onRefresh != nil {
		s.onRefresh(err)
	}
}

// fetch reads and parses the set.
func (s *Set) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	data, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := Parse(data, s.alg)
	if len(skipped) > 0 {
		s.log.Debug("jwks: keys skipped", "jwks", s.source, "skipped", skipped)
	}
	return keys, err
}

// Parse reads a JWK Set document and returns its keys for alg by kid,
// with a note on each key it skipped. A key of another type or algorithm,
// without a kid, not for signatures, or malformed is skipped; two
// different keys under one kid are both dropped. No usable key at all is
// ErrNoKeys.
func Parse(data []byte, alg string) (map[string]crypto.PublicKey, []string, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("jwks: not a JWK Set: %w", err)
	}
	keys := make(map[string]crypto.PublicKey, len(set.Keys))
	twice := map[string]bool{}
	var skipped []string
	skip := func(i int, kid, why string) {
		skipped = append(skipped, fmt.Sprintf("key %d (kid %.64q): %s", i, kid, why))
	}
	for i, m := range set.Keys {
		kid := m.KID
		switch {
		case kid == "":
			skip(i, kid, "no kid")
			continue
		case m.USE != "" && m.USE != jwkset.UseSig:
			skip(i, kid, "use is not sig")
			continue
		case m.ALG != "" && string(m.ALG) != alg:
			skip(i, kid, "alg is not "+alg)
			continue
		case len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify):
			skip(i, kid, "key_ops lacks verify")
			continue
		}
		// Public keys only: a private or symmetric part is not read.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			skip(i, kid, err.Error())
			continue
		}
		pub := jwk.Key()
		if err := identity.CheckKey(alg, pub); err != nil {
			skip(i, kid, err.Error())
			continue
		}
		if twice[kid] {
			continue
		}
		if other, ok := keys[kid]; ok {
			if eq, ok := other.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(pub) {
				continue
			}
			delete(keys, kid)
			twice[kid] = true
			skip(i, kid, "another key has the same kid")
			continue
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("%w for %s (%d keys read)", ErrNoKeys, alg, len(set.Keys))
	}
	return keys, skipped, nil
}
