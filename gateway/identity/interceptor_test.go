package identity_test

import (
	"context"
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

func newInterceptor(t testing.TB) *identity.Interceptor {
	t.Helper()
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	i, err := identity.NewInterceptor(v, identity.WithClock(clock),
		identity.WithPublicMethods(authv1.AuthService_Login_FullMethodName, authv1.AuthService_Logout_FullMethodName))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// fakeStream is the least of a grpc.ServerStream the interceptor touches.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f fakeStream) Context() context.Context { return f.ctx }

func TestInterceptors(t *testing.T) {
	t.Parallel()
	good := issue(t, "demo", t0)
	expired := issue(t, "demo", t0.Add(-2*time.Hour))
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "ssegate-test", "sub": "ops", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	})
	wrongKey, err := forged.SignedString([]byte("not the secret, but 32 bytes long"))
	if err != nil {
		t.Fatal(err)
	}
	const private = "/ssegate.jobs.v1.JobService/WatchJob"

	cases := []struct {
		name    string
		method  string
		md      metadata.MD // nil: no incoming metadata at all
		code    codes.Code
		message string
		subject string // principal the handler sees, "" for none
	}{
		{name: "no metadata", method: private, code: codes.Unauthenticated, message: "sign in required"},
		{name: "no token", method: private, md: metadata.Pairs("other", "x"), code: codes.Unauthenticated, message: "sign in required"},
		{name: "subject without token", method: private, md: metadata.Pairs(identity.MetadataSubject, "demo"), code: codes.Unauthenticated},
		{name: "empty token", method: private, md: metadata.Pairs(identity.MetadataToken, ""), code: codes.Unauthenticated},
		{name: "garbage token", method: private, md: metadata.Pairs(identity.MetadataToken, "garbage"), code: codes.Unauthenticated, message: "sign in required"},
		{name: "wrong key", method: private, md: metadata.Pairs(identity.MetadataToken, wrongKey), code: codes.Unauthenticated},
		{name: "expired", method: private, md: metadata.Pairs(identity.MetadataToken, expired), code: codes.Unauthenticated, message: "session expired"},
		{name: "two tokens", method: private, md: metadata.Pairs(identity.MetadataToken, good, identity.MetadataToken, good), code: codes.Unauthenticated},
		{name: "good", method: private, md: metadata.Pairs(identity.MetadataToken, good), subject: "demo"},
		{name: "subject comes from the token", method: private, md: metadata.Pairs(identity.MetadataToken, good, identity.MetadataSubject, "ops"), subject: "demo"},
		{name: "public without token", method: authv1.AuthService_Login_FullMethodName},
		{name: "public with garbage", method: authv1.AuthService_Logout_FullMethodName, md: metadata.Pairs(identity.MetadataToken, "garbage")},
		{name: "public with good token", method: authv1.AuthService_Logout_FullMethodName, md: metadata.Pairs(identity.MetadataToken, good), subject: "demo"},
		{name: "whoami is not public", method: authv1.AuthService_WhoAmI_FullMethodName, code: codes.Unauthenticated},
	}
	ic := newInterceptor(t)
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
				case tc.subject != "" && (seen == nil || seen.Subject != tc.subject):
					t.Fatalf("%s: handler saw %v, want %q", kind, seen, tc.subject)
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
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.NewInterceptor(nil); err == nil {
		t.Error("nil verifier accepted")
	}
	if _, err := identity.NewInterceptor(v, identity.WithClock(nil)); err == nil {
		t.Error("nil clock accepted")
	}
	if _, err := identity.NewInterceptor(v, identity.WithPublicMethods("Login")); err == nil {
		t.Error("short method name accepted")
	}
	if i, err := identity.NewInterceptor(v); err != nil || len(i.ServerOptions()) != 2 {
		t.Errorf("New: %v", err)
	}
}

func TestOutgoing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if got := identity.Outgoing(ctx); got != ctx {
		t.Error("Outgoing changed a context without a principal")
	}
	p := identity.Principal{Subject: "demo", Token: "tok"}
	ctx = metadata.AppendToOutgoingContext(ctx, "trace", "t1", identity.MetadataToken, "stale", identity.MetadataSubject, "ops")
	out := identity.Outgoing(identity.NewContext(ctx, p))
	md, _ := metadata.FromOutgoingContext(out)
	want := map[string]string{identity.MetadataToken: "tok", identity.MetadataSubject: "demo", "trace": "t1"}
	for k, v := range want {
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%s]", k, got, v)
		}
	}
	// The caller's context is untouched.
	orig, _ := metadata.FromOutgoingContext(ctx)
	if got := orig.Get(identity.MetadataToken); len(got) != 1 || got[0] != "stale" {
		t.Errorf("caller's metadata changed: %q", got)
	}
}
