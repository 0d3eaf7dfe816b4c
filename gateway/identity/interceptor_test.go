package identity_test

import (
	"context"
	"crypto"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	cfg    = identity.Config{Secret: secret, Issuer: "ssegate-test", Lifetime: time.Hour}
)

func clock() time.Time { return t0 }

func issue(t testing.TB, subject string, now time.Time) string {
	t.Helper()
	iss, err := identity.NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Issue(subject, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keys are the two signers a backend trusts in these tests: the gateway
// (every method) and the jobs service acting for users (Append only).
type keys struct {
	gateway, jobs identity.Config
}

func newKeys(t testing.TB) keys {
	t.Helper()
	return keys{
		gateway: identity.Config{Algorithm: identity.ES256, SigningKey: ecKey(t), SigningKeyID: "gw",
			Issuer: "ssegate", Lifetime: identity.DefaultIdentityLifetime},
		jobs: identity.Config{Algorithm: identity.EdDSA, SigningKey: edKey(t), SigningKeyID: "jobs-1",
			Issuer: "jobs", Actor: "jobs", Lifetime: identity.DefaultIdentityLifetime},
	}
}

// verifierFor returns how the backend named aud verifies c's tokens: its
// public key only.
func verifierFor(t testing.TB, c identity.Config, aud string) *identity.Verifier {
	t.Helper()
	return mustVerifier(t, identity.Config{Algorithm: c.Algorithm, Issuer: c.Issuer, Actor: c.Actor, Audience: aud,
		VerificationKeys: map[string]crypto.PublicKey{c.SigningKeyID: c.SigningKey.Public()}})
}

// logsInterceptor is the logs service's: the gateway's tokens for logs,
// and the jobs service's for Append.
func logsInterceptor(t testing.TB, k keys) *identity.Interceptor {
	t.Helper()
	i, err := identity.NewInterceptor(verifierFor(t, k.gateway, "logs"),
		identity.WithCaller(verifierFor(t, k.jobs, "logs"), logsv1.LogService_Append_FullMethodName),
		identity.WithClock(clock),
		identity.WithPublicMethods(authv1.AuthService_Login_FullMethodName, authv1.AuthService_Logout_FullMethodName))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func signGrant(t testing.TB, c identity.Config, g identity.Grant, now time.Time) string {
	t.Helper()
	tok, _, err := mustIssuer(t, c).Sign(g, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fakeStream is the least of a grpc.ServerStream the interceptor touches.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f fakeStream) Context() context.Context { return f.ctx }

func TestInterceptors(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	ada := identity.Grant{Subject: "ada", Audience: "logs", Session: "s1"}
	good := signGrant(t, k.gateway, ada, t0)
	expired := signGrant(t, k.gateway, ada, t0.Add(-time.Hour))
	forJobs := signGrant(t, k.gateway, identity.Grant{Subject: "ada", Audience: "jobs"}, t0)
	otherKey := k.gateway
	otherKey.SigningKey = ecKey(t)
	wrongKey := signGrant(t, otherKey, ada, t0)
	withActor := k.gateway
	withActor.Actor = "jobs"
	gatewayActing := signGrant(t, withActor, ada, t0)
	byJobs := signGrant(t, k.jobs, identity.Grant{Subject: "ada", Audience: "logs"}, t0)
	jobsForAuth := signGrant(t, k.jobs, identity.Grant{Subject: "ada", Audience: "auth"}, t0)
	jobsWithGatewayKey := k.gateway
	jobsWithGatewayKey.Issuer, jobsWithGatewayKey.Actor = "jobs", "jobs"
	jobsForged := signGrant(t, jobsWithGatewayKey, identity.Grant{Subject: "ada", Audience: "logs"}, t0)
	unknown := k.jobs
	unknown.Issuer, unknown.Actor = "auth", "auth"
	byUnknown := signGrant(t, unknown, identity.Grant{Subject: "ada", Audience: "logs"}, t0)
	noneAlg := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "gw", jwt.MapClaims{
		"iss": "ssegate", "sub": "ops", "aud": "logs", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix()})
	session := issue(t, "ada", t0) // the browser's own token

	const (
		tailLogs  = logsv1.LogService_TailLogs_FullMethodName
		appendLog = logsv1.LogService_Append_FullMethodName
	)
	id := func(tok string) metadata.MD { return metadata.Pairs(identity.MetadataIdentity, tok) }
	cases := []struct {
		name    string
		method  string
		md      metadata.MD // nil: no incoming metadata at all
		code    codes.Code
		message string
		subject string // principal the handler sees, "" for none
		actor   string
	}{
		{name: "no metadata", method: tailLogs, code: codes.Unauthenticated, message: "sign in required"},
		{name: "no token", method: tailLogs, md: metadata.Pairs("other", "x"), code: codes.Unauthenticated, message: "sign in required"},
		{name: "subject without token", method: tailLogs, md: metadata.Pairs(identity.MetadataSubject, "ada"), code: codes.Unauthenticated},
		{name: "empty token", method: tailLogs, md: id(""), code: codes.Unauthenticated},
		{name: "garbage token", method: tailLogs, md: id("garbage"), code: codes.Unauthenticated, message: "sign in required"},
		{name: "the browser's session token", method: tailLogs, md: id(session), code: codes.Unauthenticated},
		{name: "session token in the old key", method: tailLogs, md: metadata.Pairs("x-ssegate-token", session), code: codes.Unauthenticated},
		{name: "wrong key", method: tailLogs, md: id(wrongKey), code: codes.Unauthenticated},
		{name: "alg none", method: tailLogs, md: id(noneAlg), code: codes.Unauthenticated},
		{name: "another upstream's token", method: tailLogs, md: id(forJobs), code: codes.Unauthenticated},
		{name: "expired", method: tailLogs, md: id(expired), code: codes.Unauthenticated, message: "session expired"},
		{name: "two tokens", method: tailLogs, md: metadata.Pairs(identity.MetadataIdentity, good, identity.MetadataIdentity, good), code: codes.Unauthenticated},
		{name: "gateway", method: tailLogs, md: id(good), subject: "ada"},
		{name: "gateway on a caller's method", method: appendLog, md: id(good), subject: "ada"},
		{name: "subject comes from the token", method: tailLogs, md: metadata.Pairs(identity.MetadataIdentity, good, identity.MetadataSubject, "ops"), subject: "ada"},
		{name: "gateway key naming an actor", method: tailLogs, md: id(gatewayActing), code: codes.Unauthenticated},
		{name: "caller on its method", method: appendLog, md: id(byJobs), subject: "ada", actor: "jobs"},
		{name: "caller on another method", method: tailLogs, md: id(byJobs), code: codes.PermissionDenied},
		{name: "caller for another audience", method: appendLog, md: id(jobsForAuth), code: codes.Unauthenticated},
		{name: "caller's name with the gateway's key", method: appendLog, md: id(jobsForged), code: codes.Unauthenticated},
		{name: "untrusted issuer", method: appendLog, md: id(byUnknown), code: codes.Unauthenticated},
		{name: "public without token", method: authv1.AuthService_Login_FullMethodName},
		{name: "public with garbage", method: authv1.AuthService_Logout_FullMethodName, md: id("garbage")},
		{name: "public with a caller's token it may not use", method: authv1.AuthService_Logout_FullMethodName, md: id(byJobs)},
		{name: "public with good token", method: authv1.AuthService_Logout_FullMethodName, md: id(good), subject: "ada"},
		{name: "whoami is not public", method: authv1.AuthService_WhoAmI_FullMethodName, code: codes.Unauthenticated},
	}
	ic := logsInterceptor(t, k)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tc.md)
			}
			check := func(kind string, calls int32, seen *identity.Principal, err error) {
				t.Helper()
				if status.Code(err) != tc.code {
					t.Fatalf("%s: error %v, want %v", kind, err, tc.code)
				}
				if tc.message != "" && status.Convert(err).Message() != tc.message {
					t.Fatalf("%s: message %q, want %q", kind, status.Convert(err).Message(), tc.message)
				}
				if want := tc.code == codes.OK; (calls == 1) != want || calls > 1 {
					t.Fatalf("%s: handler called %d times", kind, calls)
				}
				switch {
				case tc.subject == "" && seen != nil:
					t.Fatalf("%s: handler saw %+v, want no principal", kind, *seen)
				case tc.subject != "" && (seen == nil || seen.Subject != tc.subject || seen.Actor != tc.actor):
					t.Fatalf("%s: handler saw %+v, want %q acted for by %q", kind, seen, tc.subject, tc.actor)
				}
			}

			var calls atomic.Int32
			var seen *identity.Principal
			_, err := ic.Unary()(ctx, "req", &grpc.UnaryServerInfo{FullMethod: tc.method}, func(ctx context.Context, _ any) (any, error) {
				calls.Add(1)
				if p, ok := identity.FromContext(ctx); ok {
					seen = &p
				}
				return "resp", nil
			})
			check("unary", calls.Load(), seen, err)

			calls.Store(0)
			seen = nil
			err = ic.Stream()(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: tc.method, IsServerStream: true}, func(_ any, ss grpc.ServerStream) error {
				calls.Add(1)
				if p, ok := identity.FromContext(ss.Context()); ok {
					seen = &p
				}
				return nil
			})
			check("stream", calls.Load(), seen, err)
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	v := verifierFor(t, k.gateway, "logs")
	jobs := verifierFor(t, k.jobs, "logs")
	noActor := k.jobs
	noActor.Actor = ""
	for _, tc := range []struct {
		name string
		v    *identity.Verifier
		opts []identity.InterceptorOption
	}{
		{"nil verifier", nil, nil},
		{"nil clock", v, []identity.InterceptorOption{identity.WithClock(nil)}},
		{"short method name", v, []identity.InterceptorOption{identity.WithPublicMethods("Login")}},
		{"nil caller", v, []identity.InterceptorOption{identity.WithCaller(nil, "/a.B/C")}},
		{"caller method not a full name", v, []identity.InterceptorOption{identity.WithCaller(jobs, "Append")}},
		{"caller twice", v, []identity.InterceptorOption{identity.WithCaller(jobs, "/a.B/C"), identity.WithCaller(jobs, "/a.B/D")}},
		{"caller with the gateway's issuer", v, []identity.InterceptorOption{identity.WithCaller(v, "/a.B/C")}},
		{"caller without an actor", v, []identity.InterceptorOption{identity.WithCaller(verifierFor(t, noActor, "logs"), "/a.B/C")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := identity.NewInterceptor(tc.v, tc.opts...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if i, err := identity.NewInterceptor(v, identity.WithCaller(jobs, "/a.B/C")); err != nil || len(i.ServerOptions()) != 2 {
		t.Errorf("New: %v", err)
	}
}
