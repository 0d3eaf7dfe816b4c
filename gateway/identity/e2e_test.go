package identity_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ssegate/ssegate/gateway/identity"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// logsBackend answers Append with whoever the interceptor says calls, and
// lets TailLogs through to its (empty) end.
type logsBackend struct {
	logsv1.UnimplementedLogServiceServer
}

func (logsBackend) Append(ctx context.Context, _ *logsv1.AppendRequest) (*logsv1.AppendResponse, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return nil, status.Error(codes.AlreadyExists, p.Subject+" by "+p.Actor)
}

func (logsBackend) TailLogs(*logsv1.TailLogsRequest, logsv1.LogService_TailLogsServer) error {
	return nil
}

// dial starts the logs backend behind its interceptor on bufconn and
// returns a client connection with opts.
func dial(t *testing.T, k keys, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(logsInterceptor(t, k).ServerOptions()...)
	logsv1.RegisterLogServiceServer(srv, logsBackend{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		append(opts,
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

// The jobs service calls the logs service as the job's owner: its
// connection's interceptors sign a token for the principal in each call's
// context, naming jobs as the actor, and the logs service lets jobs call
// Append only. No session token is involved.
func TestServiceCallsOnBehalfOfAUser(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	jobs := newMinter(t, k.jobs, clock)
	conn := dial(t, k, jobs.DialOptions("logs")...)
	client := logsv1.NewLogServiceClient(conn)
	asAda := identity.NewContext(t.Context(), identity.Principal{Subject: "ada"})

	_, err := client.Append(asAda, &logsv1.AppendRequest{})
	if status.Code(err) != codes.AlreadyExists || status.Convert(err).Message() != "ada by jobs" {
		t.Fatalf("Append as ada: %v, want the backend to see ada by jobs", err)
	}
	if _, err := client.Append(t.Context(), &logsv1.AppendRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Append without a principal: %v, want UNAUTHENTICATED", err)
	}
	stream, err := client.TailLogs(asAda, &logsv1.TailLogsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("TailLogs by jobs: %v, want PERMISSION_DENIED", err)
	}

	// The gateway's tokens may call any method, streams included.
	gw := newMinter(t, k.gateway, clock)
	conn = dial(t, k, gw.DialOptions("logs")...)
	stream, err = logsv1.NewLogServiceClient(conn).TailLogs(asAda, &logsv1.TailLogsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil || status.Code(err) != codes.OK && err.Error() != "EOF" {
		t.Fatalf("TailLogs through the gateway: %v, want its end", err)
	}
}
