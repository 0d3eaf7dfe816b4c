package natsstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ssegate/ssegate/services/store"
)

// Leases are keys l.<name> in the bucket whose value is the owner, written
// with a per-message TTL: the NATS servers remove the key when the TTL
// passes without a renewal, on their own clock, so the replicas' clocks do
// not matter. Acquire writes only where there is no key (or a removed
// one's marker), Renew and Release only at the revision the owner wrote
// last, so of replicas racing for a lease exactly one gets it.

// Acquire implements store.Leases. The TTL is whole seconds, at least one.
func (s *Store) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (store.Lease, error) {
	if name == "" || owner == "" {
		return nil, errors.New("natsstore: a lease needs a name and an owner")
	}
	ttl = max(ttl.Round(time.Second), time.Second)
	octx, cancel := s.opContext(ctx)
	defer cancel()
	key := s.kvPre + "l." + token(name)
	var rev uint64
	for {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		ack, err := s.publish(octx, leaseMsg(key, owner), jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl),
			jetstream.WithMsgID(nuid.Next()))
		if err == nil {
			return &lease{s: s, key: key, owner: owner, ttl: ttl, rev: ack.Sequence}, nil
		}
		if !errors.Is(err, errConflict) {
			return nil, s.fail(ctx, err)
		}
		msg, err := s.kv.GetLastMsgForSubject(octx, key)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			rev = 0 // lapsed meanwhile
		case err != nil:
			return nil, s.fail(ctx, err)
		case msg.Header.Get(hdrKVOp) != "":
			rev = msg.Sequence // released
		default:
			return nil, fmt.Errorf("%w: %s", store.ErrLeaseHeld, msg.Data)
		}
	}
}

func leaseMsg(key, owner string) *nats.Msg {
	return &nats.Msg{Subject: key, Data: []byte(owner), Header: nats.Header{}}
}

type lease struct {
	s     *Store
	key   string
	owner string
	ttl   time.Duration

	mu  sync.Mutex
	rev uint64 // of the owner's last write
}

// Renew implements store.Lease.
func (l *lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	octx, cancel := l.s.opContext(ctx)
	defer cancel()
	ack, err := l.s.publish(octx, leaseMsg(l.key, l.owner), jetstream.WithExpectLastSequencePerSubject(l.rev), jetstream.WithMsgTTL(l.ttl),
		jetstream.WithMsgID(nuid.Next()))
	if errors.Is(err, errConflict) {
		return store.ErrLeaseLost
	}
	if err != nil {
		return l.s.fail(ctx, err)
	}
	l.rev = ack.Sequence
	return nil
}

// Release implements store.Lease.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	octx, cancel := l.s.opContext(ctx)
	defer cancel()
	msg := nats.NewMsg(l.key)
	msg.Header.Set(hdrKVOp, "PURGE")
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	_, err := l.s.publish(octx, msg, jetstream.WithExpectLastSequencePerSubject(l.rev), jetstream.WithMsgTTL(time.Second),
		jetstream.WithMsgID(nuid.Next()))
	if errors.Is(err, errConflict) {
		return nil // lapsed already
	}
	return l.s.fail(ctx, err)
}
