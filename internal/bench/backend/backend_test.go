package backend_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	benchv1 "github.com/ssegate/ssegate/gen/ssegate/bench/v1"
	"github.com/ssegate/ssegate/internal/bench/backend"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) benchv1.BenchServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	benchv1.RegisterBenchServiceServer(srv, &backend.Server{MaxDuration: 10 * time.Second})
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return benchv1.NewBenchServiceClient(conn)
}

func TestStream(t *testing.T) {
	t.Parallel()
	client := start(t)
	const rate, count = 200, 20
	begin := time.Now()
	s, err := client.Stream(t.Context(), &benchv1.StreamRequest{Size: 7, Rate: rate, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if msg.GetSeq() != n || len(msg.GetPayload()) != 7 || msg.GetSentUnixNano() < begin.UnixNano() {
			t.Fatalf("message %d = %v", n, msg)
		}
	}
	if n != count {
		t.Errorf("got %d messages, want %d", n, count)
	}
	// 20 messages at 200/s: the last is due 95 ms after the first.
	if d := time.Since(begin); d < 90*time.Millisecond {
		t.Errorf("paced stream took %v, want at least 95 ms", d)
	}
}

func TestIdleHoldsUntilCancel(t *testing.T) {
	t.Parallel()
	client := start(t)
	ctx, cancel := context.WithCancel(t.Context())
	s, err := client.Stream(ctx, &benchv1.StreamRequest{Idle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatalf("Header: %v", err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv on an idle stream = %v, want Canceled after the cancel", err)
	}
}

func TestRefusesUnbounded(t *testing.T) {
	t.Parallel()
	client := start(t)
	for _, req := range []*benchv1.StreamRequest{
		{Size: 1, Count: 0},
		{Size: backend.MaxSize + 1, Count: 1},
		{Count: backend.MaxCount + 1},
	} {
		s, err := client.Stream(t.Context(), req)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}
}
