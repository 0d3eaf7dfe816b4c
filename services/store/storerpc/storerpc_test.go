package storerpc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code codes.Code
	}{
		{nil, codes.OK},
		{status.Error(codes.NotFound, "x"), codes.NotFound},
		{storerpc.ErrShutdown, codes.Unavailable},
		{fmt.Errorf("read: %w", store.ErrClosed), codes.Unavailable},
		{fmt.Errorf("%w: nats: timeout", store.ErrUnavailable), codes.Unavailable},
		{store.ErrNotFound, codes.NotFound},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("disk on fire at /var/lib/x"), codes.Internal},
	}
	for _, tt := range tests {
		got := storerpc.Status(tt.err)
		if status.Code(got) != tt.code {
			t.Errorf("Status(%v) = %v, want %v", tt.err, got, tt.code)
		}
		if tt.code == codes.Internal && status.Convert(got).Message() != "internal error" {
			t.Errorf("Status(%v) leaks %q", tt.err, status.Convert(got).Message())
		}
	}
}

// LogStatus logs exactly the errors whose detail the caller does not get.
func TestLogStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err    error
		code   codes.Code
		logged string
	}{
		{errors.New("disk on fire"), codes.Internal, `level=ERROR msg="jobs: get job" job=j1 err="disk on fire"` + "\n"},
		{store.ErrNotFound, codes.NotFound, ""},
		{status.Error(codes.InvalidArgument, "bad"), codes.InvalidArgument, ""},
		{nil, codes.OK, ""},
	} {
		var buf strings.Builder
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		got := storerpc.LogStatus(context.Background(), logger, tt.err, "jobs: get job", "job", "j1")
		if status.Code(got) != tt.code {
			t.Errorf("LogStatus(%v) = %v, want %v", tt.err, got, tt.code)
		}
		if buf.String() != tt.logged {
			t.Errorf("LogStatus(%v) logged %q, want %q", tt.err, buf.String(), tt.logged)
		}
	}
}

func TestResumePoint(t *testing.T) {
	t.Parallel()
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("last-event-id", "41"))
	if got, err := storerpc.ResumePoint(ctx, 0); got != 41 || err != nil {
		t.Errorf("ResumePoint from metadata = %d, %v", got, err)
	}
	if got, err := storerpc.ResumePoint(ctx, 7); got != 7 || err != nil {
		t.Errorf("ResumePoint with the field set = %d, %v", got, err)
	}
	bad := metadata.NewIncomingContext(context.Background(), metadata.Pairs("last-event-id", "4x"))
	if _, err := storerpc.ResumePoint(bad, 0); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed Last-Event-ID: %v", err)
	}
}

func TestLifetime(t *testing.T) {
	t.Parallel()
	l := storerpc.NewLifetime()
	ctx, done, err := l.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	if !l.Go(func(ctx context.Context) { <-ctx.Done(); close(ran) }) {
		t.Fatal("Go refused before Close")
	}
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), storerpc.ErrShutdown) {
		t.Errorf("cause %v, want ErrShutdown", context.Cause(ctx))
	}
	<-ran
	select {
	case <-closed:
		t.Fatal("Close returned before the call was done")
	case <-time.After(10 * time.Millisecond):
	}
	done()
	<-closed
	if _, _, err := l.Enter(context.Background()); status.Code(err) != codes.Unavailable {
		t.Errorf("Enter after Close: %v", err)
	}
	if l.Go(func(context.Context) {}) {
		t.Error("Go ran after Close")
	}
	l.Close()
}

// A reader resuming before the oldest event retention kept is told so in
// the headers, with the oldest id, and then gets the events from there;
// one resuming within the history, or at the start, is not.
func TestServeSaysWhenHistoryWasTrimmed(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.TempDir(), store.WithRetention(store.Retention{MaxEvents: 3}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	if _, err := st.Create(ctx, "ns", store.Stream{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := st.Append(ctx, "ns", "s", store.Batch{Events: [][]byte{[]byte(fmt.Sprint(i))}, Finish: i == 9}); err != nil {
			t.Fatal(err)
		}
	}
	handler := func(_ any, ss grpc.ServerStream) error {
		var req wrapperspb.UInt64Value
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		s, err := st.Get(ss.Context(), "ns", "s")
		if err != nil {
			return err
		}
		return storerpc.Serve(ss.Context(), st, "ns", s, req.GetValue(), false, func(e store.Event) error {
			return ss.SendMsg(wrapperspb.UInt64(e.ID))
		})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{ServiceName: "test.Events", HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "Read", Handler: handler, ServerStreams: true}}}, struct{}{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	for _, tt := range []struct {
		after     uint64
		reset     string
		firstSent uint64
	}{
		{after: 2, reset: "8", firstSent: 8},
		{after: 7, reset: "", firstSent: 8},
		{after: 8, reset: "", firstSent: 9},
		{after: 0, reset: "", firstSent: 8},
	} {
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.Events/Read")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendMsg(wrapperspb.UInt64(tt.after)); err != nil {
			t.Fatal(err)
		}
		_ = s.CloseSend()
		md, err := s.Header()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(md.Get(resume.MetadataReset), ","); got != tt.reset {
			t.Errorf("after %d: reset %q, want %q", tt.after, got, tt.reset)
		}
		var first wrapperspb.UInt64Value
		if err := s.RecvMsg(&first); err != nil || first.GetValue() != tt.firstSent {
			t.Errorf("after %d: first event %d (%v), want %d", tt.after, first.GetValue(), err, tt.firstSent)
		}
		for s.RecvMsg(&first) == nil {
		}
	}
}

// CatchUp gives a stream read a moment too early (as a replica whose store
// lags behind the replica that sent the reader's last event) the moment to
// reach the resume point, and returns at once when there is nothing to
// wait for.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := store.Open(t.TempDir(), store.WithNoSync(), store.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	early, err := db.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := storerpc.CatchUp(ctx, db, "logs", early, 1); err != nil || s.Last != 1 {
		t.Fatalf("CatchUp within the stream = %+v, %v", s, err)
	}
	appended := make(chan error, 1)
	go func() {
		_, err := db.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("2")}})
		appended <- err
	}()
	s, err := storerpc.CatchUp(ctx, db, "logs", early, 2)
	if err != nil || s.Last != 2 {
		t.Fatalf("CatchUp to 2 = %+v, %v; want the stream with event 2", s, err)
	}
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	// Past the end for good: the stream as it is, after the wait.
	if s, err := storerpc.CatchUp(ctx, db, "logs", s, 9); err != nil || s.Last != 2 {
		t.Fatalf("CatchUp past the end = %+v, %v", s, err)
	}
}
