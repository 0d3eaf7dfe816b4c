package identity_test

import (
	"crypto"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssegate/ssegate/gateway/identity"
)

// Session tokens carry a fresh session id each, which Verify returns.
func TestIssueSessionID(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	i, v := mustIssuer(t, cfg), mustVerifier(t, cfg)
	seen := map[string]bool{}
	for range 3 {
		p, err := v.Verify(mustIssue(t, i, "demo", t0), t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Session) != 26 || seen[p.Session] || p.Actor != "" {
			t.Fatalf("session %q (seen before: %v), actor %q", p.Session, seen[p.Session], p.Actor)
		}
		seen[p.Session] = true
	}
}

// identityConfig is how a gateway signs its identity tokens: its own ES256
// key, minutes of lifetime.
func identityConfig(t *testing.T) identity.Config {
	t.Helper()
	return identity.Config{Algorithm: identity.ES256, SigningKey: ecKey(t), SigningKeyID: "gw-1",
		Issuer: "ssegate", Lifetime: 5 * time.Minute}
}

// backendConfig is how the upstream named aud verifies them: the public
// key alone, its own name as the audience.
func backendConfig(t *testing.T, signer identity.Config, aud string, claims ...string) identity.Config {
	t.Helper()
	pub := signer.SigningKey.Public()
	return identity.Config{Algorithm: signer.Algorithm, Issuer: signer.Issuer, Audience: aud, Actor: signer.Actor,
		VerificationKeys: map[string]crypto.PublicKey{signer.SigningKeyID: pub}, Claims: claims}
}

func TestSignGrant(t *testing.T) {
	t.Parallel()
	gw := identityConfig(t)
	signer := mustIssuer(t, gw)
	jobs := mustVerifier(t, backendConfig(t, gw, "jobs", "roles", "tenant"))
	session := t0.Add(time.Hour)
	grant := identity.Grant{Subject: "ada", Audience: "jobs", Session: "s1", NotAfter: session,
		Claims: map[string]any{"roles": []any{"admin"}, "tenant": "acme", "other": 1}}

	tok, exp, err := signer.Sign(grant, t0.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(5 * time.Minute); !exp.Equal(want) {
		t.Errorf("expiry %v, want %v", exp, want)
	}
	p, err := jobs.Verify(tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Principal{Subject: "ada", Expiry: p.Expiry, SessionExpiry: p.SessionExpiry, Token: tok, Session: "s1",
		Claims: map[string]any{"roles": []any{"admin"}, "tenant": "acme"}}
	if !reflect.DeepEqual(p, want) || !p.Expiry.Equal(exp) || !p.SessionExpiry.Equal(session) {
		t.Fatalf("principal %+v, want %+v", p, want)
	}

	// The audience is the upstream's: another one refuses the token.
	logs := mustVerifier(t, backendConfig(t, gw, "logs"))
	if _, err := logs.Verify(tok, t0); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("other audience: %v, want ErrTokenInvalid", err)
	}
	// Minutes, not the session's hours.
	if _, err := jobs.Verify(tok, exp.Add(time.Minute)); !errors.Is(err, identity.ErrTokenExpired) {
		t.Errorf("after its expiry: %v, want ErrTokenExpired", err)
	}
	// Another key cannot sign for the gateway.
	other := gw
	other.SigningKey = ecKey(t)
	forged, _, err := mustIssuer(t, other).Sign(grant, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Verify(forged, t0); !errors.Is(err, identity.ErrTokenInvalid) {
		t.Errorf("another key: %v, want ErrTokenInvalid", err)
	}

	// Never past the session's end.
	short := grant
	short.NotAfter = t0.Add(90 * time.Second)
	if _, exp, err := signer.Sign(short, t0); err != nil || !exp.Equal(short.NotAfter) {
		t.Errorf("capped by the session: %v, %v; want %v", exp, err, short.NotAfter)
	}
}

func TestSignGrantErrors(t *testing.T) {
	t.Parallel()
	signer := mustIssuer(t, identityConfig(t))
	ok := identity.Grant{Subject: "ada", Audience: "jobs"}
	for _, tc := range []struct {
		name string
		edit func(*identity.Grant)
		want error
	}{
		{"no subject", func(g *identity.Grant) { g.Subject = "" }, identity.ErrBadSubject},
		{"bad session id", func(g *identity.Grant) { g.Session = "a\nb" }, identity.ErrBadGrant},
		{"session already over", func(g *identity.Grant) { g.NotAfter = t0 }, identity.ErrTokenExpired},
		{"claim sub", func(g *identity.Grant) { g.Claims = map[string]any{"sub": "ops"} }, identity.ErrBadGrant},
		{"claim aud", func(g *identity.Grant) { g.Claims = map[string]any{"aud": "logs"} }, identity.ErrBadGrant},
		{"claim act", func(g *identity.Grant) { g.Claims = map[string]any{"act": map[string]any{"sub": "x"}} }, identity.ErrBadGrant},
		{"claim sid", func(g *identity.Grant) { g.Claims = map[string]any{"sid": "x"} }, identity.ErrBadGrant},
		{"claim session_exp", func(g *identity.Grant) { g.Claims = map[string]any{"session_exp": 1} }, identity.ErrBadGrant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := ok
			tc.edit(&g)
			if _, _, err := signer.Sign(g, t0); !errors.Is(err, tc.want) {
				t.Fatalf("Sign: %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := signer.Sign(ok, t0); err != nil {
		t.Fatalf("the good grant: %v", err)
	}
}

// A service acting for users names itself in "act"; its verifier requires
// exactly that actor, and verifiers without one take act as it comes.
func TestActorClaim(t *testing.T) {
	t.Parallel()
	jobsKey := identityConfig(t)
	jobsKey.Issuer, jobsKey.Actor = "jobs", "jobs"
	tok, _, err := mustIssuer(t, jobsKey).Sign(identity.Grant{Subject: "ada", Audience: "logs"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	logs := mustVerifier(t, backendConfig(t, jobsKey, "logs"))
	p, err := logs.Verify(tok, t0)
	if err != nil || p.Subject != "ada" || p.Actor != "jobs" {
		t.Fatalf("Verify = %+v, %v; want ada acted for by jobs", p, err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if act := parsed.Claims.(jwt.MapClaims)["act"]; !reflect.DeepEqual(act, map[string]any{"sub": "jobs"}) {
		t.Fatalf("act = %#v", act)
	}

	key := jobsKey.SigningKey
	c := func(act any) jwt.MapClaims {
		m := jwt.MapClaims{"iss": "jobs", "sub": "ada", "aud": "logs", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix()}
		if act != nil {
			m["act"] = act
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		act   any
		ok    bool
		plain bool // a verifier without Actor accepts it
	}{
		{"no act", nil, false, true},
		{"other actor", map[string]any{"sub": "auth"}, false, true},
		{"act not an object", "jobs", false, false},
		{"act without sub", map[string]any{"client_id": "jobs"}, false, false},
		{"act sub not a string", map[string]any{"sub": 7}, false, false},
		{"jobs", map[string]any{"sub": "jobs"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := sign(t, jwt.SigningMethodES256, key, jobsKey.SigningKeyID, c(tc.act))
			if _, err := logs.Verify(tok, t0); (err == nil) != tc.ok {
				t.Errorf("with actor jobs: %v, want ok %v", err, tc.ok)
			}
			plainCfg := backendConfig(t, jobsKey, "logs")
			plainCfg.Actor = ""
			if _, err := mustVerifier(t, plainCfg).Verify(tok, t0); (err == nil) != tc.plain {
				t.Errorf("without an actor: %v, want ok %v", err, tc.plain)
			}
		})
	}
}

// A sid that is not a printable string is a malformed token.
func TestSessionClaimMalformed(t *testing.T) {
	t.Parallel()
	v := mustVerifier(t, hsConfig())
	for _, sid := range []any{7, "", "a\x00b", []any{"s"}} {
		c := claims(t0)
		c["sid"] = sid
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", c), t0); !errors.Is(err, identity.ErrTokenInvalid) {
			t.Errorf("sid %#v: %v, want ErrTokenInvalid", sid, err)
		}
	}
}
