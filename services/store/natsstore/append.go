package natsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ssegate/ssegate/services/store"
)

// errConflict means a revision-checked write found another revision: the
// caller reads again and retries.
var errConflict = errors.New("natsstore: conflicting write")

// errCodeDuplicateInProcess is the JetStream error of a message whose id a
// message being stored (in a cluster) has.
const errCodeDuplicateInProcess = 10158

// Create implements store.Streams.
func (s *Store) Create(ctx context.Context, ns string, st store.Stream) (store.Stream, error) {
	if err := checkNames(ns, st.Name); err != nil {
		return store.Stream{}, err
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	if _, err := s.namespace(octx, ns); err != nil {
		return store.Stream{}, s.fail(ctx, err)
	}
	now := s.cfg.now()
	m := &meta{Owner: st.Owner, Attrs: bytes.Clone(st.Attrs), Created: now, Updated: now, Inc: nuid.Next()}
	key := metaKey(ns, st.Name)
	var rev uint64 // a new key has none; a removed one has its marker's
	for {
		newRev, err := s.commit(octx, key, m, rev, false)
		if !errors.Is(err, errConflict) {
			if err != nil {
				return store.Stream{}, s.fail(ctx, err)
			}
			s.keep(key, m, newRev)
			return m.stream(st.Name), nil
		}
		msg, err := s.kv.GetLastMsgForSubject(octx, s.kvPre+key)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			rev = 0 // a marker that expired meanwhile
		case err != nil:
			return store.Stream{}, s.fail(ctx, err)
		case msg.Header.Get(hdrKVOp) == "":
			return store.Stream{}, store.ErrExists
		default:
			rev = msg.Sequence
		}
	}
}

func checkNames(ns, name string) error {
	if ns == "" || name == "" {
		return fmt.Errorf("natsstore: empty namespace or name (%q, %q)", ns, name)
	}
	return nil
}

// fail maps err, or returns the cause of ctx (the caller's) if it ended.
func (s *Store) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, store.ErrNotFound) {
		return context.Cause(ctx)
	}
	return s.mapErr(err)
}

// getMeta reads a stream's metadata from the bucket's leader, with its
// revision. Reads never go back: a leader that answers with less than this
// store has seen of the stream (a new leader that has not applied all it
// has) is asked again, for a while.
func (s *Store) getMeta(ctx context.Context, ns, name string) (*meta, uint64, error) {
	if s.isClosed() {
		return nil, 0, store.ErrClosed
	}
	if err := checkNames(ns, name); err != nil {
		return nil, 0, err
	}
	key := metaKey(ns, name)
	var msg *jetstream.RawStreamMsg
	for try := 0; ; try++ {
		var err error
		msg, err = s.kv.GetLastMsgForSubject(ctx, s.kvPre+key)
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, 0, err
		}
		var rev uint64
		if msg != nil {
			rev = msg.Sequence
		}
		known, gone := s.newestKnown(key)
		if rev >= known || (gone && msg == nil) || try == 30 {
			if err != nil {
				return nil, 0, store.ErrNotFound
			}
			break
		}
		if err := pause(ctx, try); err != nil {
			return nil, 0, err
		}
	}
	if msg.Header.Get(hdrKVOp) != "" {
		return nil, 0, store.ErrNotFound // removed
	}
	m, err := decodeMeta(msg.Data)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (stream %s/%s)", err, ns, name)
	}
	if s.cfg.laggingLeader {
		m, rev := s.lag(key, m, msg.Sequence)
		return m, rev, nil
	}
	return m, msg.Sequence, nil
}

// lagged is the read before, for WithLaggingLeader.
type lagged struct {
	m    *meta
	rev  uint64
	late bool
}

// lag answers every other read with the one before it.
func (s *Store) lag(key string, m *meta, rev uint64) (*meta, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lagged[key]
	if l == nil {
		s.lagged[key] = &lagged{m: m, rev: rev}
		return m, rev
	}
	prev := *l
	l.m, l.rev, l.late = m, rev, !l.late
	if l.late {
		return prev.m, prev.rev
	}
	return m, rev
}

// commit writes m under key if the key's revision is still rev, and
// returns the new revision, or errConflict. A write whose outcome is
// unknown (no answer in time, a lost connection) is sent again, the same,
// until it gets an answer: the message id makes NATS keep it once, and
// answer a repeat of a write it has kept as a duplicate.
func (s *Store) commit(ctx context.Context, key string, m *meta, rev uint64, wake bool) (uint64, error) {
	value := m.encode()
	if max := s.nc.MaxPayload(); int64(len(value))+1024 > max {
		return 0, fmt.Errorf("natsstore: a batch of %d bytes is more than NATS carries in one message (max_payload %d); raise max_payload on the servers or append less at once",
			len(value), max)
	}
	msg := &nats.Msg{Subject: s.kvPre + key, Data: value, Header: nats.Header{}}
	if wake {
		msg.Header.Set(hdrWake, "1")
	}
	ack, err := s.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgID(nuid.Next()))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// publish publishes msg, sending it again while its outcome is unknown, and
// returns errConflict for a failed expected-sequence check.
func (s *Store) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	for try := 0; ; try++ {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		tctx, cancel := context.WithTimeout(ctx, min(s.cfg.timeout, 2*time.Second))
		ack, err := s.js.PublishMsg(tctx, msg, opts...)
		cancel()
		if err == nil {
			return ack, nil
		}
		var api *jetstream.APIError
		switch {
		case errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
			return nil, errConflict
		case errors.As(err, &api) && api.ErrorCode == errCodeDuplicateInProcess:
			// The same message, from this store's earlier try or another
			// writer publishing the same event, is being stored: its answer
			// comes to the next try.
		case errors.As(err, &api) && api.Code != 503, errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject):
			return nil, err
		case ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed):
			return nil, err
		case errors.Is(err, nats.ErrReconnectBufExceeded):
			// Not sent: disconnected. Try again while ctx lasts.
		}
		// No answer: the leader may be changing, or the connection moving
		// to another server.
		wait := time.NewTimer(time.Duration(min(try+1, 10)) * 50 * time.Millisecond)
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, err
		case <-wait.C:
		}
	}
}

// Append implements store.Streams.
func (s *Store) Append(ctx context.Context, ns, name string, b store.Batch) (store.Stream, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	for try := 0; ; try++ {
		st, err := s.append(octx, ns, name, b)
		if !errors.Is(err, errConflict) {
			if err != nil {
				return store.Stream{}, s.fail(ctx, err)
			}
			return st, nil
		}
		// Another write came first: read again and redo the batch. Writers
		// that keep meeting back off, at random, so that one gets through.
		if try >= 2 {
			select {
			case <-octx.Done():
				return store.Stream{}, s.fail(ctx, octx.Err())
			case <-time.After(rand.N(time.Duration(min(try, 20)) * time.Millisecond)):
			}
		}
	}
}

func (s *Store) append(ctx context.Context, ns, name string, b store.Batch) (store.Stream, error) {
	m, rev, err := s.getMeta(ctx, ns, name)
	if err != nil {
		return store.Stream{}, err
	}
	if m.Finished && (len(b.Events) > 0 || b.Finish) {
		return store.Stream{}, store.ErrFinished
	}
	next := *m
	if b.Update != nil {
		attrs, err := b.Update(bytes.Clone(m.Attrs))
		if err != nil {
			return store.Stream{}, err
		}
		next.Attrs = attrs
	}
	now := s.cfg.now()
	if len(b.Events) > 0 {
		// The previous batch's events must be in the events stream before
		// its place in the metadata goes to this one's.
		tail, err := s.publishPending(ctx, ns, name, m)
		if err != nil {
			return store.Stream{}, err
		}
		next.Tail, next.At, next.pending = tail, now, make([][]byte, len(b.Events))
		for i, e := range b.Events {
			next.pending[i] = bytes.Clone(e) // kept: the caller may reuse its own
		}
		next.Last = m.Last + uint64(len(b.Events))
		if next.First == 0 {
			next.First = m.Last + 1
		}
		if max := uint64(s.cfg.retention.MaxEvents); max > 0 && next.Last-next.First+1 > max {
			next.First = next.Last - max + 1
		}
	}
	next.Finished = m.Finished || b.Finish
	next.Updated = now
	key := metaKey(ns, name)
	newRev, err := s.commit(ctx, key, &next, rev, len(b.Events) > 0 || b.Finish)
	if err != nil {
		return store.Stream{}, err
	}
	s.keep(key, &next, newRev)
	if len(b.Events) > 0 && !s.cfg.noPublish {
		// Committed: the batch is in. Publishing its events now is for
		// readers' sake; if it fails, the next batch does it.
		if _, err := s.publishPending(ctx, ns, name, &next); err != nil && !errors.Is(err, errConflict) {
			s.cfg.logger.Debug("natsstore: publish committed events", "ns", ns, "stream", name, "err", err)
		}
	}
	return next.stream(name), nil
}

// tail is the newest event of a subject that the store knows of.
type tail struct {
	inc     string
	id, seq uint64
}

// publishPending makes sure that m's events up to m.Last are in the events
// stream, publishing the pending ones that are not, each with an expected
// last subject sequence so that writers doing the same at once publish each
// once, in order. It returns the sequence of event m.Last (0 if none), or
// errConflict when the stream is already past m (m is stale).
func (s *Store) publishPending(ctx context.Context, ns, name string, m *meta) (uint64, error) {
	if m.Last == 0 {
		return 0, nil
	}
	subj := s.subject(ns, name)
	t, err := s.lastEvent(ctx, ns, subj, m.Inc, false)
	if err != nil {
		return 0, err
	}
	first := m.firstPending()
	fresh := false
	for t.id < m.Last {
		if t.id+1 < first {
			if !fresh {
				// What this store last saw; others may have published since.
				if t, err = s.lastEvent(ctx, ns, subj, m.Inc, true); err != nil {
					return 0, err
				}
				fresh = true
				continue
			}
			return 0, fmt.Errorf("natsstore: stream %s/%s: events %d to %d are missing from the events stream", ns, name, t.id+1, first-1)
		}
		id := t.id + 1
		msg := &nats.Msg{Subject: subj, Data: m.pending[id-first], Header: nats.Header{}}
		msg.Header.Set(hdrID, strconv.FormatUint(id, 10))
		msg.Header.Set(hdrInc, m.Inc)
		msg.Header.Set(hdrTime, strconv.FormatInt(m.At.UnixNano(), 10))
		ack, err := s.publish(ctx, msg, jetstream.WithExpectStream(s.streamName(ns)),
			jetstream.WithExpectLastSequencePerSubject(t.seq), jetstream.WithMsgID(m.Inc+"/"+msg.Header.Get(hdrID)))
		if errors.Is(err, errConflict) {
			// Another writer published it (or more): look again.
			if t, err = s.lastEvent(ctx, ns, subj, m.Inc, true); err != nil {
				return 0, err
			}
			fresh = true
			continue
		}
		if err != nil {
			return 0, err
		}
		t = tail{inc: m.Inc, id: id, seq: ack.Sequence}
		s.setTail(subj, t)
		s.cache.put(subj, m.Inc, id, ack.Sequence, m.At, msg.Data)
	}
	if t.id > m.Last {
		return 0, errConflict
	}
	return t.seq, nil
}

// lastEvent returns the newest event on subj: from memory unless fresh is
// set, else from the events stream. An event of an earlier incarnation of
// the name counts as id 0 at its sequence (the next publish expects it).
func (s *Store) lastEvent(ctx context.Context, ns, subj, inc string, fresh bool) (tail, error) {
	if !fresh {
		s.mu.Lock()
		t, ok := s.tails[subj]
		s.mu.Unlock()
		if ok && t.inc == inc {
			return t, nil
		}
	}
	es, err := s.namespace(ctx, ns)
	if err != nil {
		return tail{}, err
	}
	msg, err := es.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return tail{inc: inc}, nil
	}
	if err != nil {
		return tail{}, err
	}
	t := tail{inc: inc, seq: msg.Sequence}
	if msg.Header.Get(hdrInc) == inc {
		if t.id, err = strconv.ParseUint(msg.Header.Get(hdrID), 10, 64); err != nil {
			return tail{}, fmt.Errorf("natsstore: event at %d on %s has no id", msg.Sequence, subj)
		}
	}
	s.setTail(subj, t)
	return t, nil
}

func (s *Store) setTail(subj string, t tail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tails[subj]; ok && old.inc == t.inc && old.id > t.id {
		return
	}
	if len(s.tails) >= 10_000 {
		clear(s.tails) // a bound; the next write of each looks it up again
	}
	s.tails[subj] = t
}

func (s *Store) streamName(ns string) string { return s.cfg.prefix + "-" + token(ns) }

func (s *Store) subject(ns, name string) string {
	return s.cfg.prefix + "." + token(ns) + "." + token(name)
}

// namespace returns the events stream of ns, creating (or updating) it the
// first time this store uses ns.
func (s *Store) namespace(ctx context.Context, ns string) (jetstream.Stream, error) {
	s.mu.Lock()
	es, ok := s.nsStream[ns]
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, store.ErrClosed
	}
	if ok {
		return es, nil
	}
	perSubject := int64(s.cfg.retention.MaxEvents)
	if perSubject == 0 {
		perSubject = -1
	}
	es, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              s.streamName(ns),
		Description:       "ssegate: the events of namespace " + ns,
		Subjects:          []string{s.cfg.prefix + "." + token(ns) + ".*"},
		MaxMsgsPerSubject: perSubject,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxConsumers:      -1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
		Storage:           jetstream.FileStorage,
		Replicas:          s.cfg.replicas,
	})
	if err != nil {
		return nil, s.openError(err)
	}
	s.mu.Lock()
	s.nsStream[ns] = es
	s.mu.Unlock()
	return es, nil
}
