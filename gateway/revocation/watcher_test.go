package revocation_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/gateway/revocation"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// issuer is a SessionRevocationService whose revocations and breaks a
// test controls.
type issuer struct {
	ssegatev1.UnimplementedSessionRevocationServiceServer

	mu      sync.Mutex
	revoked []string      // session ids; the id of each is its index + 1
	changed chan struct{} // closed at each change, then replaced
	afters  []uint64      // after_id of each call
}

func newIssuer(sessions ...string) *issuer {
	return &issuer{revoked: sessions, changed: make(chan struct{})}
}

// change applies f under the lock and wakes the open calls.
func (s *issuer) change(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
}

var errBreak = status.Error(codes.Unavailable, "issuer restarting")

// breakCalls ends the open calls with UNAVAILABLE.
func (s *issuer) breakCalls() { s.change(func() { s.revoked = append(s.revoked, "") }) }

func (s *issuer) calls() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.afters)
}

func (s *issuer) WatchRevocations(req *ssegatev1.WatchRevocationsRequest, stream ssegatev1.SessionRevocationService_WatchRevocationsServer) error {
	s.mu.Lock()
	s.afters = append(s.afters, req.GetAfterId())
	s.mu.Unlock()
	next := req.GetAfterId()
	for {
		s.mu.Lock()
		list, changed := slices.Clone(s.revoked), s.changed
		s.mu.Unlock()
		if next > uint64(len(list)) {
			return status.Error(codes.OutOfRange, "after_id beyond the last revocation")
		}
		if next == req.GetAfterId() {
			if err := stream.SendHeader(metadata.MD{}); err != nil {
				return err
			}
		}
		for ; next < uint64(len(list)); next++ {
			if list[next] == "" { // a break marker
				s.change(func() { s.revoked = slices.Delete(s.revoked, int(next), int(next)+1) })
				return errBreak
			}
			if err := stream.Send(&ssegatev1.WatchRevocationsResponse{Id: next + 1, SessionId: list[next],
				ExpireTime: timestamppb.New(t0.Add(time.Hour))}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func serve(t *testing.T, s *issuer) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	ssegatev1.RegisterSessionRevocationServiceServer(srv, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///issuer",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
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

// revokedSoon waits, a bounded time that only a hang exceeds, for session
// to be revoked in set.
func revokedSoon(t *testing.T, set *revocation.Set, session string) {
	t.Helper()
	c, stop := set.Watch(session)
	defer stop()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("session %s never revoked", session)
	}
}

// The watcher replays what the issuer has, follows new revocations,
// resumes after the last one when the stream breaks, and starts again from
// the first when the issuer has lost its history; Err says when it is
// not watching.
func TestWatcher(t *testing.T) {
	t.Parallel()
	iss := newIssuer("s1", "s2")
	conn := serve(t, iss)
	set := revocation.NewSet(clockwork.NewFakeClockAt(t0))
	clock := clockwork.NewFakeClockAt(t0)
	w, err := revocation.Watch(set, func() (grpc.ClientConnInterface, error) { return conn, nil }, revocation.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	revokedSoon(t, set, "s2")
	if !set.Revoked("s1") || w.Err() != nil {
		t.Fatalf("after the replay: s1 revoked %v, Err %v", set.Revoked("s1"), w.Err())
	}
	iss.change(func() { iss.revoked = append(iss.revoked, "s3") })
	revokedSoon(t, set, "s3")

	// The issuer restarts: not watching until the watcher is back, which
	// resumes after the third.
	iss.breakCalls()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // waiting to reconnect
		t.Fatal(err)
	}
	if !errors.Is(w.Err(), revocation.ErrNotWatching) {
		t.Fatalf("Err while broken = %v", w.Err())
	}
	iss.change(func() { iss.revoked = append(iss.revoked, "s4") })
	clock.Advance(revocation.DefaultRetryMax)
	revokedSoon(t, set, "s4")

	// The issuer lost its history: after 4 is out of range, so from 0.
	iss.change(func() { iss.revoked = []string{"s9"} })
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // OUT_OF_RANGE, then the wait
		t.Fatal(err)
	}
	clock.Advance(revocation.DefaultRetryMax)
	revokedSoon(t, set, "s9")
	if got, want := iss.calls(), []uint64{0, 3, 0}; !slices.Equal(got, want) {
		t.Fatalf("after_id of the calls %v, want %v", got, want)
	}
	if w.Err() != nil {
		t.Fatalf("Err once back: %v", w.Err())
	}
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	set := revocation.NewSet(clockwork.NewFakeClockAt(t0))
	if _, err := revocation.Watch(nil, func() (grpc.ClientConnInterface, error) { return nil, nil }); err == nil {
		t.Error("nil set accepted")
	}
	if _, err := revocation.Watch(set, nil); err == nil {
		t.Error("nil connection accepted")
	}
	if _, err := revocation.Watch(set, func() (grpc.ClientConnInterface, error) { return nil, nil }, revocation.WithRetry(0, time.Second)); err == nil {
		t.Error("zero retry accepted")
	}
	// An upstream that is not there: not watching, and says why.
	clock := clockwork.NewFakeClockAt(t0)
	w, err := revocation.Watch(set, func() (grpc.ClientConnInterface, error) { return nil, errors.New("no upstream named auth") },
		revocation.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Err(); !errors.Is(err, revocation.ErrNotWatching) || err.Error() != "revocation: not watching the issuer's revocations: no upstream named auth" {
		t.Fatalf("Err = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
