package auth_test

import (
	"context"
	"crypto"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/services/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0        = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	tokenCfg  = identity.Config{Secret: []byte("0123456789abcdef0123456789abcdef"), Issuer: "ssegate-test"}
	testUsers = sync.OnceValue(func() auth.Users {
		u := auth.Users{}
		for name, pw := range map[string]string{"demo": "demo", "ops": "ops", "long": string(make72())} {
			h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			if err != nil {
				panic(err) // test setup only
			}
			u[name] = h
		}
		return u
	})
)

// make72 is a password exactly as long as bcrypt reads.
func make72() []byte {
	b := make([]byte, 72)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func clock() time.Time { return t0 }

// verifier verifies session tokens, as the gateway does.
func verifier(t testing.TB) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// gatewayKey is the key of the gateway's identity tokens, which the auth
// service verifies with its public key for the audience "auth".
var gatewayKey = sync.OnceValue(func() crypto.Signer {
	k, err := identity.NewSigningKey()
	if err != nil {
		panic(err) // test setup only
	}
	return k
})

// gatewayMinter signs identity tokens as the gateway does.
func gatewayMinter(t testing.TB) *identity.Minter {
	t.Helper()
	iss, err := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: gatewayKey(), SigningKeyID: "gw",
		Issuer: identity.GatewayIssuer, Lifetime: identity.DefaultIdentityLifetime})
	if err != nil {
		t.Fatal(err)
	}
	m, err := identity.NewMinter(iss, clock)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// backendVerifier verifies identity tokens as the auth service does: the
// gateway's public key, for the audience "auth".
func backendVerifier(t testing.TB) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(identity.Config{Algorithm: identity.ES256, Issuer: identity.GatewayIssuer,
		Audience: "auth", VerificationKeys: map[string]crypto.PublicKey{"gw": gatewayKey().Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signedIn returns ctx calling as the session token tok, through the
// gateway: with the identity token the gateway makes of it.
func signedIn(t testing.TB, ctx context.Context, tok string) context.Context {
	t.Helper()
	p, err := verifier(t).Verify(tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	md, err := gatewayMinter(t).Metadata(p, "auth")
	if err != nil {
		t.Fatal(err)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

func newService(t testing.TB, users auth.Users) *auth.Service {
	t.Helper()
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.New(users, iss, auth.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// backend is an AuthService behind the identity interceptors on bufconn,
// recording the metadata of every call that reaches it.
type backend struct {
	conn *grpc.ClientConn
	mu   sync.Mutex
	seen []metadata.MD
}

func (b *backend) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = append(b.seen, md.Copy())
}

func (b *backend) calls() []metadata.MD {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]metadata.MD(nil), b.seen...)
}

func startBackend(t *testing.T, users auth.Users) *backend {
	t.Helper()
	return startService(t, newService(t, users))
}

// startService serves svc behind the identity interceptor on bufconn,
// and revocations when not nil.
func startService(t *testing.T, svc *auth.Service, revocations ...*auth.Revocations) *backend {
	t.Helper()
	ic, err := identity.NewInterceptor(backendVerifier(t), identity.WithClock(clock),
		identity.WithPublicMethods(append(auth.PublicMethods(), auth.RevocationMethods()...)...))
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	recorder := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.record(ctx)
		return h(ctx, req)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(recorder, ic.Unary()), grpc.ChainStreamInterceptor(ic.Stream()))
	authv1.RegisterAuthServiceServer(srv, svc)
	for _, r := range revocations {
		ssegatev1.RegisterSessionRevocationServiceServer(srv, r)
	}
	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	b.conn, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.conn.Close()
		srv.Stop()
		<-done
	})
	return b
}
