package jwks_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/identity/jwks"
)

const refresh = 5 * time.Minute

func mustSet(t *testing.T, source, alg string, opts ...jwks.Option) *jwks.Set {
	t.Helper()
	s, err := jwks.New(context.Background(), source, alg, opts...)
	if err != nil {
		t.Fatalf("jwks.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// verifies fails unless v's verdict on tok is want.
func verifies(t *testing.T, v *identity.Verifier, what, tok string, want bool) {
	t.Helper()
	_, err := v.Verify(tok, t0)
	switch {
	case want && err != nil:
		t.Fatalf("%s: Verify: %v", what, err)
	case !want && !errors.Is(err, identity.ErrTokenInvalid):
		t.Fatalf("%s: Verify error = %v, want ErrTokenInvalid", what, err)
	}
}

// TestFile: a JWKS file is read again every refresh interval; keys added
// verify and keys removed stop verifying; a file gone bad keeps the last
// good keys.
func TestFile(t *testing.T) {
	t.Parallel()
	k1, k2 := edKey(t), edKey(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(set(t, map[string]crypto.Signer{"k1": k1}))
	clock := clockwork.NewFakeClockAt(t0)
	r := newRefreshes()
	v := verifier(t, identity.EdDSA, mustSet(t, path, identity.EdDSA,
		jwks.WithClock(clock), jwks.WithRefresh(refresh), jwks.WithOnRefresh(r.hook)))
	old, current := token(t, jwt.SigningMethodEdDSA, k1, "k1"), token(t, jwt.SigningMethodEdDSA, k2, "k2")
	verifies(t, v, "k1 at the start", old, true)

	write(set(t, map[string]crypto.Signer{"k2": k2}))
	r.advance(clock, refresh)
	if err := r.next(); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	verifies(t, v, "k2 after the refresh", current, true)
	verifies(t, v, "k1 removed", old, false)

	write([]byte("{not json"))
	r.advance(clock, refresh)
	if err := r.next(); err == nil {
		t.Fatal("refresh of a corrupt file succeeded")
	}
	verifies(t, v, "k2 after a failed refresh", current, true)
}

// TestURL: a JWKS URL, over HTTP and HTTPS. A token with a new kid
// verifies at once (the set is read again for it); a key removed stops
// verifying after the next refresh; a server answering 500, garbage, an
// empty set or too much keeps the last good keys.
func TestURL(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k1, k2 := ecKey(t), ecKey(t)
			srv := newJWKSServer(t, tls, set(t, map[string]crypto.Signer{"k1": k1}))
			clock := clockwork.NewFakeClockAt(t0)
			r := newRefreshes()
			opts := []jwks.Option{jwks.WithClock(clock), jwks.WithRefresh(refresh), jwks.WithOnRefresh(r.hook)}
			if tls {
				opts = append(opts, jwks.WithHTTPClient(srv.Client()))
			}
			v := verifier(t, identity.ES256, mustSet(t, srv.URL+"/.well-known/jwks.json", identity.ES256, opts...))
			old, current := token(t, jwt.SigningMethodES256, k1, "k1"), token(t, jwt.SigningMethodES256, k2, "k2")
			verifies(t, v, "k1 at the start", old, true)

			// The provider rotates: k2 signs, k1 is still published.
			srv.serve(http.StatusOK, set(t, map[string]crypto.Signer{"k1": k1, "k2": k2}))
			verifies(t, v, "new kid k2", current, true)
			if err := r.next(); err != nil {
				t.Fatalf("read for the unknown kid: %v", err)
			}
			verifies(t, v, "k1 during the rotation", old, true)
			if n := srv.requests.Load(); n != 2 {
				t.Fatalf("%d requests, want 2 (start, unknown kid)", n)
			}

			// k1 is withdrawn; the next periodic refresh drops it.
			srv.serve(http.StatusOK, set(t, map[string]crypto.Signer{"k2": k2}))
			r.advance(clock, refresh)
			if err := r.next(); err != nil {
				t.Fatalf("periodic refresh: %v", err)
			}
			verifies(t, v, "k1 after its removal", old, false)
			verifies(t, v, "k2 after k1's removal", current, true)

			huge := append([]byte(`{"keys":[],"pad":"`), strings.Repeat("x", jwks.MaxSize)...)
			for _, bad := range []struct {
				name   string
				status int
				body   []byte
				want   error
			}{
				{"500", http.StatusInternalServerError, set(t, map[string]crypto.Signer{"k1": k1}), nil},
				{"garbage", http.StatusOK, []byte("<html>maintenance</html>"), nil},
				{"empty set", http.StatusOK, []byte(`{"keys":[]}`), jwks.ErrNoKeys},
				{"only keys of another type", http.StatusOK, set(t, map[string]crypto.Signer{"k2": edKey(t)}), jwks.ErrNoKeys},
				{"over 1 MiB", http.StatusOK, append(huge, `"}`...), jwks.ErrTooLarge},
			} {
				srv.serve(bad.status, bad.body)
				r.advance(clock, refresh)
				err := r.next()
				if err == nil || (bad.want != nil && !errors.Is(err, bad.want)) {
					t.Fatalf("%s: refresh error = %v, want %v", bad.name, err, bad.want)
				}
				verifies(t, v, "k2 after "+bad.name, current, true)
			}
		})
	}
}

// TestUnknownKIDLimit: tokens naming kids the set lacks make it read the
// set again at most once per jwks.UnknownKIDInterval.
func TestUnknownKIDLimit(t *testing.T) {
	t.Parallel()
	k1 := ecKey(t)
	srv := newJWKSServer(t, false, set(t, map[string]crypto.Signer{"k1": k1}))
	clock := clockwork.NewFakeClockAt(t0)
	s := mustSet(t, srv.URL, identity.ES256, jwks.WithClock(clock))
	want := int32(1)
	for _, step := range []struct {
		advance time.Duration
		kid     string
		fetch   bool
	}{
		{0, "k1", false},
		{0, "x", true},
		{0, "y", false},
		{0, "x", false},
		{jwks.UnknownKIDInterval - time.Second, "z", false},
		{time.Second, "z", true},
		{0, "k1", false},
		{0, "w", false},
	} {
		clock.Advance(step.advance)
		_, err := s.Key(step.kid)
		if (step.kid == "k1") != (err == nil) {
			t.Fatalf("Key(%s) error = %v", step.kid, err)
		}
		if err != nil && !errors.Is(err, jwks.ErrUnknownKID) {
			t.Fatalf("Key(%s) error = %v, want ErrUnknownKID", step.kid, err)
		}
		if step.fetch {
			want++
		}
		if n := srv.requests.Load(); n != want {
			t.Fatalf("after Key(%s) at +%s: %d requests, want %d", step.kid, clock.Since(t0), n, want)
		}
	}
}

// TestCloseStopsRead: Close ends a read under way and the refreshes; the
// keys stay, and unknown kids no longer cause reads.
func TestCloseStopsRead(t *testing.T) {
	t.Parallel()
	k1 := ecKey(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	body := set(t, map[string]crypto.Signer{"k1": k1})
	var requests atomic.Int32
	// The first request (New's) is answered, later ones hang until their
	// client gives up.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			_, _ = w.Write(body)
			return
		}
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	s, err := jwks.New(context.Background(), srv.URL, identity.ES256)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Key("new")
		done <- err
	}()
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, jwks.ErrUnknownKID) {
		t.Fatalf("Key during Close: %v, want ErrUnknownKID", err)
	}
	if _, err := s.Key("k1"); err != nil {
		t.Fatalf("Key(k1) after Close: %v", err)
	}
	if _, err := s.Key("other"); !errors.Is(err, jwks.ErrUnknownKID) {
		t.Fatalf("Key(other) after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	k1 := ecKey(t)
	good := set(t, map[string]crypto.Signer{"k1": k1})
	down := newJWKSServer(t, false, nil)
	downURL := down.URL
	down.Close()
	failing := newJWKSServer(t, false, nil)
	failing.serve(http.StatusServiceUnavailable, good)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, source, alg string
		opts              []jwks.Option
	}{
		{"server down", downURL, identity.ES256, nil},
		{"server failing", failing.URL, identity.ES256, nil},
		{"missing file", filepath.Join(t.TempDir(), "none.json"), identity.ES256, nil},
		{"no key of the algorithm", path, identity.RS256, nil},
		{"HS256", path, identity.HS256, nil},
		{"unknown algorithm", path, "ES512", nil},
		{"ftp URL", "ftp://example.com/jwks.json", identity.ES256, nil},
		{"empty source", "", identity.ES256, nil},
		{"zero refresh", path, identity.ES256, []jwks.Option{jwks.WithRefresh(0)}},
		{"nil clock", path, identity.ES256, []jwks.Option{jwks.WithClock(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if s, err := jwks.New(context.Background(), tc.source, tc.alg, tc.opts...); err == nil {
				_ = s.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// TestParse: only keys that can verify the algorithm are kept.
func TestParse(t *testing.T) {
	t.Parallel()
	ec, ec2, rk, ed := ecKey(t), ecKey(t), rsaKey(), edKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	none := jwkset.JWKMetadataOptions{}
	priv, err := jwkset.NewJWKFromKey(ec, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "priv"}, Marshal: jwkset.JWKMarshalOptions{Private: true}})
	if err != nil {
		t.Fatal(err)
	}
	private := priv.Marshal()
	if private.D == "" {
		t.Fatal("test JWK has no private part")
	}
	doc := func(keys ...jwkset.JWKMarshal) []byte { return marshal(t, jwkset.JWKSMarshal{Keys: keys}) }
	cases := []struct {
		name string
		data []byte
		alg  string
		want []string // kids kept; nil: an error
	}{
		{"one of each type for ES256", doc(jwk(t, &ec.PublicKey, "ec", none), jwk(t, &rk.PublicKey, "rsa", none), jwk(t, ed.Public(), "ed", none)), identity.ES256, []string{"ec"}},
		{"one of each type for RS256", doc(jwk(t, &ec.PublicKey, "ec", none), jwk(t, &rk.PublicKey, "rsa", none), jwk(t, ed.Public(), "ed", none)), identity.RS256, []string{"rsa"}},
		{"one of each type for EdDSA", doc(jwk(t, &ec.PublicKey, "ec", none), jwk(t, &rk.PublicKey, "rsa", none), jwk(t, ed.Public(), "ed", none)), identity.EdDSA, []string{"ed"}},
		{"use enc", doc(jwk(t, &ec.PublicKey, "enc", jwkset.JWKMetadataOptions{USE: jwkset.UseEnc}), jwk(t, &ec2.PublicKey, "sig", jwkset.JWKMetadataOptions{USE: jwkset.UseSig})), identity.ES256, []string{"sig"}},
		{"alg of another", doc(jwk(t, &rk.PublicKey, "ps", jwkset.JWKMetadataOptions{ALG: jwkset.AlgPS256}), jwk(t, &rk.PublicKey, "rs", jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256})), identity.RS256, []string{"rs"}},
		{"key_ops without verify", doc(jwk(t, &ec.PublicKey, "sign", jwkset.JWKMetadataOptions{KEYOPS: []jwkset.KEYOPS{jwkset.KeyOpsSign}}), jwk(t, &ec2.PublicKey, "verify", jwkset.JWKMetadataOptions{KEYOPS: []jwkset.KEYOPS{jwkset.KeyOpsVerify}})), identity.ES256, []string{"verify"}},
		{"no kid", doc(jwk(t, &ec.PublicKey, "", none), jwk(t, &ec2.PublicKey, "k", none)), identity.ES256, []string{"k"}},
		{"P-384 for ES256", doc(jwk(t, &p384.PublicKey, "p384", none), jwk(t, &ec.PublicKey, "p256", none)), identity.ES256, []string{"p256"}},
		{"RSA 1024", doc(jwk(t, &rsa1024.PublicKey, "short", none), jwk(t, &rk.PublicKey, "long", none)), identity.RS256, []string{"long"}},
		{"two keys under one kid", doc(jwk(t, &ec.PublicKey, "k", none), jwk(t, &ec2.PublicKey, "k", none), jwk(t, &ec2.PublicKey, "other", none)), identity.ES256, []string{"other"}},
		{"one key twice", doc(jwk(t, &ec.PublicKey, "k", none), jwk(t, &ec.PublicKey, "k", none)), identity.ES256, []string{"k"}},
		{"private JWK", doc(private), identity.ES256, []string{"priv"}},
		{"symmetric key", []byte(`{"keys":[{"kty":"oct","kid":"s","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}`), identity.ES256, nil},
		{"malformed key", []byte(`{"keys":[{"kty":"EC","kid":"bad","crv":"P-256","x":"AA","y":"AA"}]}`), identity.ES256, nil},
		{"empty set", []byte(`{"keys":[]}`), identity.ES256, nil},
		{"no keys member", []byte(`{}`), identity.ES256, nil},
		{"not JSON", []byte("keys"), identity.ES256, nil},
		{"keys not a list", []byte(`{"keys":{}}`), identity.ES256, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, _, err := jwks.Parse(tc.data, tc.alg)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", keys)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.want) {
				t.Fatalf("kept %d keys, want %v", len(keys), tc.want)
			}
			for _, kid := range tc.want {
				pub, ok := keys[kid]
				if !ok {
					t.Fatalf("kid %q not kept", kid)
				}
				if err := identity.CheckKey(tc.alg, pub); err != nil {
					t.Fatalf("kid %q: %v", kid, err)
				}
				if _, private := pub.(crypto.Signer); private {
					t.Fatalf("kid %q kept private key material", kid)
				}
			}
		})
	}
}

// FuzzParse: whatever the document, Parse does not panic and keeps only
// keys with a kid that can verify the algorithm.
func FuzzParse(f *testing.F) {
	ec, ed := ecKey(f), edKey(f)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"bad","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`))
	f.Add(set(f, map[string]crypto.Signer{"ec": ec, "ed": ed}))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, alg := range []string{identity.ES256, identity.RS256, identity.EdDSA} {
			keys, _, err := jwks.Parse(data, alg)
			if err != nil {
				continue
			}
			for kid, pub := range keys {
				if kid == "" {
					t.Fatal("key without a kid kept")
				}
				if err := identity.CheckKey(alg, pub); err != nil {
					t.Fatalf("kid %q kept for %s: %v", kid, alg, err)
				}
			}
		}
	})
}
