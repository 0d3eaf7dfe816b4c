package identity_test

import (
	"context"
	"crypto"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
)

// fakeNow is a clock a test moves by hand.
type fakeNow struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeNow) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeNow) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMinter(t testing.TB, c identity.Config, now func() time.Time) *identity.Minter {
	t.Helper()
	m, err := identity.NewMinter(mustIssuer(t, c), now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// One token per session and upstream, reused for the first half of its
// life; the upstream verifies it with the gateway's public key.
func TestMinterToken(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	clk := &fakeNow{now: t0}
	m := newMinter(t, k.gateway, clk.Now)
	session := issue(t, "ada", t0)
	p := identity.Principal{Subject: "ada", Token: session, Session: "s1", Expiry: t0.Add(time.Hour),
		Claims: map[string]any{"tenant": "acme"}}

	first, err := m.Token(p, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	jobs := mustVerifier(t, identity.Config{Algorithm: identity.ES256, Issuer: "ssegate", Audience: "jobs",
		VerificationKeys: verifierKeys(k.gateway), Claims: []string{"tenant"}})
	got, err := jobs.Verify(first, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "ada" || got.Session != "s1" || got.Claims["tenant"] != "acme" || !got.Expiry.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("token says %+v", got)
	}
	if strings.Contains(first, session) {
		t.Fatal("the identity token holds the session token")
	}

	clk.Advance(2*time.Minute + 29*time.Second)
	if again, _ := m.Token(p, "jobs"); again != first {
		t.Error("signed again before half its life")
	}
	logs, _ := m.Token(p, "logs")
	if logs == first {
		t.Error("one token for two audiences")
	}
	other := p
	other.Token, other.Session = issue(t, "ada", t0.Add(time.Second)), "s2"
	if tok, _ := m.Token(other, "jobs"); tok == first {
		t.Error("one token for two sessions")
	}
	clk.Advance(time.Second)
	renewed, _ := m.Token(p, "jobs")
	if renewed == first {
		t.Error("not renewed after half its life")
	}
	if _, err := jobs.Verify(renewed, clk.Now().Add(4*time.Minute)); err != nil {
		t.Errorf("renewed token: %v", err)
	}

	// A session that ends soon gets a token that ends with it.
	ending := p
	ending.Token, ending.Expiry = issue(t, "ada", t0.Add(2*time.Second)), clk.Now().Add(40*time.Second)
	tok, err := m.Token(ending, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := jobs.Verify(tok, clk.Now()); err != nil || !got.Expiry.Equal(ending.Expiry.Truncate(time.Second)) {
		t.Errorf("ending session: %+v, %v; want expiry %v", got, err, ending.Expiry)
	}

	if _, err := m.Token(p, ""); err == nil {
		t.Error("token without an audience")
	}
}

func TestNewMinterErrors(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	if _, err := identity.NewMinter(nil, clock); err == nil {
		t.Error("nil issuer accepted")
	}
	if _, err := identity.NewMinter(mustIssuer(t, k.gateway), nil); err == nil {
		t.Error("nil clock accepted")
	}
	long := k.gateway
	long.Lifetime = 12 * time.Hour
	if _, err := identity.NewMinter(mustIssuer(t, long), clock); err == nil {
		t.Error("identity tokens of 12 hours accepted")
	}
}

// Outgoing replaces identity metadata already in the context, and keeps
// the rest; the caller's context is left as it was.
func TestMinterOutgoing(t *testing.T) {
	t.Parallel()
	m := newMinter(t, newKeys(t).gateway, clock)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "trace", "t1",
		identity.MetadataIdentity, "stale", identity.MetadataSubject, "ops")
	out, err := m.Outgoing(ctx, identity.Principal{Subject: "ada"}, "logs")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(out)
	want, _ := m.Token(identity.Principal{Subject: "ada"}, "logs")
	for k, v := range map[string]string{identity.MetadataIdentity: want, identity.MetadataSubject: "ada", "trace": "t1"} {
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%s]", k, got, v)
		}
	}
	orig, _ := metadata.FromOutgoingContext(ctx)
	if got := orig.Get(identity.MetadataIdentity); len(got) != 1 || got[0] != "stale" {
		t.Errorf("caller's metadata changed: %q", got)
	}
}

func verifierKeys(c identity.Config) map[string]crypto.PublicKey {
	return map[string]crypto.PublicKey{c.SigningKeyID: c.SigningKey.Public()}
}
