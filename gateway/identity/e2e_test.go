package identity_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
)

// whoAmI answers with whatever principal the interceptor put in the context.
type whoAmI struct {
	authv1.UnimplementedAuthServiceServer
}

func (whoAmI) Login(context.Context, *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	return &authv1.LoginResponse{}, nil
}

func (whoAmI) WhoAmI(ctx context.Context, _ *authv1.WhoAmIRequest) (*authv1.WhoAmIResponse, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &authv1.WhoAmIResponse{Principal: &authv1.Principal{Username: p.Subject, ExpireTime: timestamppb.New(p.Expiry)}}, nil
}

// dial starts a backend behind the interceptors on bufconn and returns a
// client that forwards the caller's identity.
func dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(newInterceptor(t).ServerOptions()...)
	authv1.RegisterAuthServiceServer(srv, whoAmI{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		append(identity.DialOptions(),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

func TestClientInterceptorsForwardIdentity(t *testing.T) {
	t.Parallel()
	conn := dial(t)
	client := authv1.NewAuthServiceClient(conn)
	hc := healthpb.NewHealthClient(conn)
	tok := issue(t, "demo", t0)
	signedIn := identity.NewContext(t.Context(), identity.Principal{Subject: "demo", Token: tok})

	res, err := client.WhoAmI(signedIn, &authv1.WhoAmIRequest{})
	if err != nil {
		t.Fatalf("WhoAmI signed in: %v", err)
	}
	if res.GetPrincipal().GetUsername() != "demo" {
		t.Fatalf("WhoAmI = %v, want demo", res)
	}
	if _, err := client.WhoAmI(t.Context(), &authv1.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("WhoAmI anonymous: %v, want UNAUTHENTICATED", err)
	}
	if _, err := client.Login(t.Context(), &authv1.LoginRequest{}); err != nil {
		t.Fatalf("public Login anonymous: %v", err)
	}

	ctx, cancel := context.WithCancel(signedIn)
	defer cancel()
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Watch signed in: %v", err)
	}
	cancel()

	anon, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Watch anonymous: %v, want UNAUTHENTICATED", err)
	}
}
