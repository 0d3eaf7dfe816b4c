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
	client, _ := startWithConn(t)
	return client
}

func startWithConn(t *testing.T) (benchv1.BenchServiceClient, *grpc.ClientConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	bs := &backend.Server{MaxDuration: 10 * time.Second}
	benchv1.RegisterBenchServiceServer(srv, bs)
	backend.RegisterCounts(srv, bs)
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return benchv1.NewBenchServiceClient(conn), conn
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

func TestCounts(t *testing.T) {
	t.Parallel()
	client, conn := startWithConn(t)
	counts := func() backend.Counts {
		t.Helper()
		c, err := backend.ReadCounts(t.Context(), conn)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := counts(); c != (backend.Counts{}) {
		t.Fatalf("counts before any stream = %+v", c)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := client.Stream(ctx, &benchv1.StreamRequest{Idle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatal(err)
	}
	if c := counts(); c != (backend.Counts{Started: 1, Open: 1}) {
		t.Fatalf("counts with an idle stream open = %+v, want 1 started, 1 open", c)
	}
	cancel()
	// The server returns from the handler once it sees the cancel.
	deadline := time.Now().Add(5 * time.Second)
	for counts().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("counts 5 s after the cancel = %+v, want 0 open", counts())
		}
		time.Sleep(time.Millisecond)
	}
	if c := counts(); c.Started != 1 {
		t.Errorf("counts after the cancel = %+v, want 1 started", c)
	}
}
