package jwks_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/gateway/identity"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the fixed "now" of every test; nothing here reads the wall clock.
var t0 = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

const testIssuer = "https://login.example.com"

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RSA key generation is slow under the race detector: once per run.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // test setup only
	}
	return k
})

// jwk is key (public or private) as a JWK with kid and the given metadata.
func jwk(t testing.TB, key any, kid string, meta jwkset.JWKMetadataOptions) jwkset.JWKMarshal {
	t.Helper()
	meta.KID = kid
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: meta})
	if err != nil {
		t.Fatalf("JWK of %T: %v", key, err)
	}
	return j.Marshal()
}

// set is a JWK Set document of the public keys given by kid.
func set(t testing.TB, keys map[string]crypto.Signer) []byte {
	t.Helper()
	var s jwkset.JWKSMarshal
	for kid, k := range keys {
		s.Keys = append(s.Keys, jwk(t, k.Public(), kid, jwkset.JWKMetadataOptions{}))
	}
	return marshal(t, s)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// token signs a well-formed session for "ada" with key under kid.
func token(t testing.TB, method jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": testIssuer, "sub": "ada", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, alg string, ks identity.KeySet) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(identity.Config{Algorithm: alg, Issuer: testIssuer, KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwksServer serves whatever answer it was last given and counts requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	body     []byte
	requests atomic.Int32
}

func newJWKSServer(t *testing.T, tls bool, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, body: body}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// refreshes collects what WithOnRefresh reports. Reads for an unknown kid
// report inside Verify, so the channel is buffered.
type refreshes chan error

func newRefreshes() refreshes { return make(refreshes, 64) }

func (r refreshes) hook(err error) { r <- err }

// next waits for the next report: the test's deadline is the bound.
func (r refreshes) next() error { return <-r }

// advance drops the reports so far (reads for unknown kids, made inside
// Verify) and moves clock on by d, which starts a periodic refresh.
func (r refreshes) advance(clock *clockwork.FakeClock, d time.Duration) {
	for {
		select {
		case <-r:
		default:
			clock.Advance(d)
			return
		}
	}
}
