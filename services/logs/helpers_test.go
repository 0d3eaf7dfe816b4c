package logs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc/rpctest"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// as returns a context that calls as user.
func as(ctx context.Context, user string) context.Context { return rpctest.As(ctx, user) }

// backend is a logs service on a store, served on loopback.
type backend struct {
	dir    string
	db     *store.DB
	svc    *logs.Service
	srv    *grpc.Server
	client logsv1.LogServiceClient
	conn   *grpc.ClientConn
}

// start serves a logs service on a store in dir. stop closes everything;
// it also runs at cleanup, and may be called before to simulate a restart.
func start(t *testing.T, dir string, opts ...logs.Option) *backend {
	t.Helper()
	db, err := store.Open(dir, store.WithNoSync(), store.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := logs.New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpctest.ServerOptions()...)
	logsv1.RegisterLogServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{dir: dir, db: db, svc: svc, srv: srv, client: logsv1.NewLogServiceClient(conn), conn: conn}
	t.Cleanup(b.stop)
	return b
}

func (b *backend) stop() {
	_ = b.svc.Close()
	b.srv.Stop()
	_ = b.conn.Close()
	_ = b.db.Close()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(ctx context.Context, t *testing.T, c logsv1.LogServiceClient, user, name, text string, finish bool) uint64 {
	t.Helper()
	resp, err := c.Append(as(ctx, user), &logsv1.AppendRequest{Name: name, Text: text, Finish: finish})
	if err != nil {
		t.Fatalf("Append(%q, %q): %v", name, text, err)
	}
	return resp.GetOffset()
}

type entry struct {
	offset uint64
	text   string
}

func (e entry) String() string { return fmt.Sprintf("%d:%q", e.offset, e.text) }

// recv receives n entries.
func recv(t *testing.T, s logsv1.LogService_TailLogsClient, n int) []entry {
	t.Helper()
	var out []entry
	for range n {
		m, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv after %v: %v", out, err)
		}
		out = append(out, entry{m.GetOffset(), m.GetText()})
	}
	return out
}

// recvAll receives entries until the stream ends and returns them with the
// end: nil for a clean end.
func recvAll(s logsv1.LogService_TailLogsClient) ([]entry, error) {
	var out []entry
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, entry{m.GetOffset(), m.GetText()})
	}
}

// tailAll tails a log as user to its end.
func tailAll(ctx context.Context, t *testing.T, c logsv1.LogServiceClient, user string, req *logsv1.TailLogsRequest) ([]entry, error) {
	t.Helper()
	s, err := c.TailLogs(as(ctx, user), req)
	if err != nil {
		t.Fatal(err)
	}
	return recvAll(s)
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("error %v, want code %v", err, code)
	}
}
