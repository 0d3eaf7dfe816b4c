package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"
)

// Namespace is the store namespace of the auth service; its stream
// "revocations" holds the revoked sessions, one event each, the event id
// being the revocation's id.
const Namespace = "auth"

const revocationsStream = "revocations"

// Revocations keeps the sessions signed out before they expired in a store
// stream, so that they outlive a restart and several replicas on one store
// share them, and serves them as ssegate.v1.SessionRevocationService,
// which every gateway in front watches.
type Revocations struct {
	ssegatev1.UnimplementedSessionRevocationServiceServer

	st   store.Streams
	log  *slog.Logger
	life *storerpc.Lifetime
}

// NewRevocations keeps the revocations in st, creating their stream if
// needed. Close it before st.
func NewRevocations(ctx context.Context, st store.Streams, logger *slog.Logger) (*Revocations, error) {
	if st == nil || logger == nil {
		return nil, errors.New("auth: revocations need a store and a logger")
	}
	if _, err := st.Create(ctx, Namespace, store.Stream{Name: revocationsStream}); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("auth: create the revocations stream: %w", err)
	}
	return &Revocations{st: st, log: logger, life: storerpc.NewLifetime()}, nil
}

// Close ends the open watches with UNAVAILABLE (gateways reconnect and
// resume) and waits for them.
func (r *Revocations) Close() error {
	r.life.Close()
	return nil
}

// Revoke records that session is revoked until expire, when its tokens
// would have expired anyway.
func (r *Revocations) Revoke(ctx context.Context, session string, expire time.Time) error {
	ctx, done, err := r.life.Enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	data, err := proto.Marshal(&ssegatev1.WatchRevocationsResponse{SessionId: session, ExpireTime: timestamppb.New(expire)})
	if err != nil {
		return err
	}
	_, err = r.st.Append(ctx, Namespace, revocationsStream, store.Batch{Events: [][]byte{data}})
	return err
}

// WatchRevocations implements ssegatev1.SessionRevocationServiceServer.
func (r *Revocations) WatchRevocations(req *ssegatev1.WatchRevocationsRequest, stream ssegatev1.SessionRevocationService_WatchRevocationsServer) error {
	ctx, done, err := r.life.Enter(stream.Context())
	if err != nil {
		return err
	}
	defer done()
	s, err := r.st.Get(ctx, Namespace, revocationsStream)
	if err != nil {
		return storerpc.LogStatus(ctx, r.log, err, "auth: watch revocations")
	}
	after := req.GetAfterId()
	if after > s.Last {
		return status.Errorf(codes.OutOfRange, "after_id %d is past the last revocation (%d)", after, s.Last)
	}
	err = storerpc.Serve(ctx, r.st, Namespace, s, after, true, func(e store.Event) error {
		m := &ssegatev1.WatchRevocationsResponse{}
		if err := proto.Unmarshal(e.Data, m); err != nil {
			return fmt.Errorf("auth: decode revocation %d: %w", e.ID, err)
		}
		m.Id = e.ID
		return stream.Send(m)
	})
	return storerpc.LogStatus(ctx, r.log, err, "auth: watch revocations")
}

// RevocationMethods are the methods of Revocations, for
// identity.WithPublicMethods: gateways watch without a user, and a revoked
// session's id is of no use to anyone.
func RevocationMethods() []string {
	return []string{ssegatev1.SessionRevocationService_WatchRevocations_FullMethodName}
}
