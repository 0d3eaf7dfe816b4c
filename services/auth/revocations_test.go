package auth_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/services/auth"
	"github.com/ssegate/ssegate/services/store"
)

// revoking is an auth service that revokes sessions on sign-out into a
// store in dir.
type revoking struct {
	db          *store.DB
	revocations *auth.Revocations
	backend     *backend
}

func startRevoking(t *testing.T, dir string) *revoking {
	t.Helper()
	db, err := store.Open(dir, store.WithNoSync(), store.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	r, err := auth.NewRevocations(t.Context(), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(testUsers(), iss, auth.WithClock(clock), auth.WithRevocations(r))
	if err != nil {
		t.Fatal(err)
	}
	rv := &revoking{db: db, revocations: r, backend: startService(t, svc, r)}
	t.Cleanup(func() { rv.stop() })
	return rv
}

func (r *revoking) stop() {
	if r.db == nil {
		return
	}
	_ = r.revocations.Close()
	_ = r.db.Close()
	r.db = nil
}

// watch reads the revocations after after, until want of them arrived.
func (r *revoking) watch(t *testing.T, after uint64, want int) ([]*ssegatev1.WatchRevocationsResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := ssegatev1.NewSessionRevocationServiceClient(r.backend.conn).WatchRevocations(ctx, &ssegatev1.WatchRevocationsRequest{AfterId: after})
	if err != nil {
		return nil, err
	}
	var got []*ssegatev1.WatchRevocationsResponse
	for len(got) < want {
		m, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
	return got, nil
}

func authClient(conn *grpc.ClientConn) authv1.AuthServiceClient {
	return authv1.NewAuthServiceClient(conn)
}

// signIn issues a session token for user, as signing in does.
func signIn(t *testing.T, _ *backend, user string) string {
	t.Helper()
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Issue(user, t0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Signing out revokes the session: the revocation names the session id
// and when its tokens expire, stays after a restart, and is what every
// watcher gets, resuming after any id.
func TestLogoutRevokes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := startRevoking(t, dir)
	client := r.backend.conn
	var sids []string
	for _, user := range []string{"demo", "ops"} {
		tok := signIn(t, r.backend, user)
		p, err := verifier(t).Verify(tok, t0)
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, p.Session)
		var header metadata.MD
		if _, err := authClient(client).Logout(signedIn(t, t.Context(), tok), &authv1.LogoutRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if len(header.Get(identity.MetadataClearSession)) != 1 {
			t.Fatalf("Logout header %v, want the cookie cleared", header)
		}
	}
	// Signing out without a session revokes nothing.
	if _, err := authClient(client).Logout(t.Context(), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	got, err := r.watch(t, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(12*time.Hour + identity.DefaultClockSkew) // the session's end, and the skew verifiers allow
	for i, m := range got {
		if m.GetId() != uint64(i+1) || m.GetSessionId() != sids[i] || !m.GetExpireTime().AsTime().Equal(exp) {
			t.Errorf("revocation %d: %v, want id %d, session %s, expiring %v", i, m, i+1, sids[i], exp)
		}
	}
	if got, err := r.watch(t, 1, 1); err != nil || got[0].GetSessionId() != sids[1] {
		t.Fatalf("after id 1: %v, %v", got, err)
	}
	if _, err := r.watch(t, 3, 1); status.Code(err) != codes.OutOfRange {
		t.Fatalf("after id 3 of 2: %v, want OUT_OF_RANGE", err)
	}

	// A restart on the same store keeps them.
	r.stop()
	again := startRevoking(t, dir)
	if got, err := again.watch(t, 0, 2); err != nil || got[1].GetSessionId() != sids[1] {
		t.Fatalf("after a restart: %v, %v", got, err)
	}
}

// A sign-out whose revocation cannot be recorded fails and keeps the
// cookie, so that the user tries again.
func TestLogoutFailsWithoutRevocation(t *testing.T) {
	t.Parallel()
	r := startRevoking(t, t.TempDir())
	tok := signIn(t, r.backend, "demo")
	_ = r.db.Close() // the store is gone
	var header metadata.MD
	_, err := authClient(r.backend.conn).Logout(signedIn(t, t.Context(), tok), &authv1.LogoutRequest{}, grpc.Header(&header))
	if status.Code(err) != codes.Unavailable || len(header.Get(identity.MetadataClearSession)) != 0 {
		t.Fatalf("Logout with the store closed: %v, header %v; want UNAVAILABLE and the cookie kept", err, header)
	}
}
