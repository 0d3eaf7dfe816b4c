package natsstore

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssegate/ssegate/services/store"
)

// readBatch is how many events Read returns without a limit.
const readBatch = 256

// Get implements store.Streams.
func (s *Store) Get(ctx context.Context, ns, name string) (store.Stream, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	m, _, err := s.getMeta(octx, ns, name)
	if err != nil {
		return store.Stream{}, s.fail(ctx, err)
	}
	return m.stream(name), nil
}

// entry is one stream's metadata as a listing gives it.
type entry struct {
	ns, name string
	rev      uint64
	m        *meta
}

// list returns the metadata of every stream under the key pattern filter
// (a namespace's, or all), as of one moment of the consumer that reads it.
func (s *Store) list(ctx context.Context, filter string) ([]entry, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	kv, err := s.js.KeyValue(ctx, s.cfg.prefix)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var out []entry
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("natsstore: listing ended early")
			}
			if e == nil {
				return out, nil // all current values sent
			}
			parts := strings.Split(e.Key(), ".")
			if len(parts) != 3 {
				continue
			}
			ns, err1 := untoken(parts[1])
			name, err2 := untoken(parts[2])
			m, err := decodeMeta(e.Value())
			if err = errors.Join(err1, err2, err); err != nil {
				s.cfg.logger.Error("natsstore: skip unreadable stream metadata", "key", e.Key(), "err", err)
				continue
			}
			out = append(out, entry{ns: ns, name: name, rev: e.Revision(), m: m})
		}
	}
}

// List implements store.Streams.
func (s *Store) List(ctx context.Context, ns string) ([]store.Stream, error) {
	if ns == "" {
		return nil, nil
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	entries, err := s.list(octx, "s."+token(ns)+".*")
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := make([]store.Stream, len(entries))
	for i, e := range entries {
		out[i] = e.m.stream(e.name)
	}
	slices.SortFunc(out, func(a, b store.Stream) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Read implements store.Streams. The metadata is read from the bucket's
// leader, or is one this store has that no change seen since has replaced
// (see readMeta); the events of its last batch come with it, older ones
// from the events stream (or memory), so a reader at the end costs at most
// one read, shared with the other readers of the stream.
func (s *Store) Read(ctx context.Context, ns, name string, after uint64, limit int) (store.Stream, []store.Event, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	m, err := s.readMeta(octx, ns, name)
	if err != nil {
		return store.Stream{}, nil, s.fail(ctx, err)
	}
	st := m.stream(name)
	if after >= m.Last {
		return st, nil, nil
	}
	if limit <= 0 {
		limit = readBatch
	}
	from := max(after+1, m.First)
	to := min(m.Last, from+uint64(limit)-1)
	first := m.firstPending()
	var events []store.Event
	if from < first {
		through := min(to, first-1)
		for try := 0; ; try++ {
			if events, err = s.readStream(octx, ns, name, m, from, through); err != nil {
				return store.Stream{}, nil, s.fail(ctx, err)
			}
			if len(events) > 0 && events[len(events)-1].ID == through {
				break
			}
			// Published before m was committed, so there; but the events
			// stream's leader may not have applied it yet (it changed, or
			// lags): read again. Retention only ever takes the oldest.
			if try == 50 {
				return store.Stream{}, nil, fmt.Errorf("%w: events %d to %d of %s/%s cannot be read", store.ErrUnavailable, from, through, ns, name)
			}
			if err := pause(octx, try); err != nil {
				return store.Stream{}, nil, s.fail(ctx, err)
			}
		}
	}
	for id := max(from, first); id <= to; id++ {
		events = append(events, store.Event{ID: id, Time: m.At, Data: bytes.Clone(m.pending[id-first])})
	}
	return st, events, nil
}

// readStream reads events from to through the events stream, which has
// them all (they were published before m's batch was committed) unless
// retention removed them.
func (s *Store) readStream(ctx context.Context, ns, name string, m *meta, from, through uint64) ([]store.Event, error) {
	es, err := s.namespace(ctx, ns)
	if err != nil {
		return nil, err
	}
	subj := s.subject(ns, name)
	seq, ok := uint64(0), false
	if from > 1 {
		if e, hit := s.cache.get(subj, m.Inc, from-1); hit {
			seq, ok = e.seq+1, true
		}
	}
	if !ok {
		if seq, err = s.seek(ctx, es, subj, m, from); err != nil {
			return nil, err
		}
	}
	var events []store.Event
	for id := from; id <= through; {
		if e, hit := s.cache.get(subj, m.Inc, id); hit {
			events = append(events, store.Event{ID: id, Time: e.time, Data: bytes.Clone(e.data)})
			seq, id = e.seq+1, id+1
			continue
		}
		msg, err := es.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		seq = msg.Sequence + 1
		eid, at, err := eventOf(msg)
		if err != nil {
			return nil, err
		}
		if msg.Header.Get(hdrInc) != m.Inc || eid < id {
			continue // an earlier stream of that name
		}
		if eid > through {
			break
		}
		s.cache.put(subj, m.Inc, eid, msg.Sequence, at, msg.Data)
		events = append(events, store.Event{ID: eid, Time: at, Data: bytes.Clone(msg.Data)})
		id = eid + 1
	}
	return events, nil
}

// seek returns the events stream sequence to read event id from: the
// subject's events are in id order, so a binary search over sequences up
// to the tail (which holds an event at or after id) finds the first one at
// or after id.
func (s *Store) seek(ctx context.Context, es jetstream.Stream, subj string, m *meta, id uint64) (uint64, error) {
	lo, hi := uint64(1), max(m.Tail, 1)
	for lo < hi {
		mid := lo + (hi-lo)/2
		msg, err := es.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid
			continue
		}
		if err != nil {
			return 0, err
		}
		eid, _, err := eventOf(msg)
		if err != nil {
			return 0, err
		}
		if msg.Header.Get(hdrInc) == m.Inc && eid >= id {
			hi = mid
		} else {
			lo = msg.Sequence + 1 // and every sequence before it
		}
	}
	return lo, nil
}

func eventOf(msg *jetstream.RawStreamMsg) (uint64, time.Time, error) {
	id, err1 := strconv.ParseUint(msg.Header.Get(hdrID), 10, 64)
	ns, err2 := strconv.ParseInt(msg.Header.Get(hdrTime), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, time.Time{}, fmt.Errorf("natsstore: corrupt event at %d on %s: %w", msg.Sequence, msg.Subject, err)
	}
	return id, time.Unix(0, ns), nil
}

// cache keeps events read or written, least recently used out first, up
// to a number of bytes: the readers of one stream in one process then
// fetch each event from NATS once.
type cache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *cached, most recent first
	items map[string]*list.Element
}

type cached struct {
	key  string
	seq  uint64
	time time.Time
	data []byte
}

func newCache(maxBytes int) *cache {
	return &cache{max: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

func cacheKey(subj, inc string, id uint64) string {
	return subj + "\x00" + inc + "\x00" + strconv.FormatUint(id, 10)
}

func (c *cache) get(subj, inc string, id uint64) (*cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[cacheKey(subj, inc, id)]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cached), true
}

func (c *cache) put(subj, inc string, id, seq uint64, at time.Time, data []byte) {
	cost := len(data) + 128
	if cost > c.max/8 {
		return // nothing that would push out much else
	}
	key := cacheKey(subj, inc, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&cached{key: key, seq: seq, time: at, data: bytes.Clone(data)})
	c.size += cost
	for c.size > c.max {
		el := c.order.Back()
		v := el.Value.(*cached)
		c.order.Remove(el)
		delete(c.items, v.key)
		c.size -= len(v.data) + 128
	}
}

// known is what a store knows of a stream's metadata: the newest it has
// read or written, and the newest revision its change watch has delivered
// (and when).
type known struct {
	m    *meta // nil: none kept
	rev  uint64
	seen uint64
	at   time.Time
	gone bool // the newest seen was a removal
}

// flight is a read of a stream's metadata that readers share.
type flight struct {
	done chan struct{}
	m    *meta
	rev  uint64
	err  error
}

// Bounds of what a store keeps of metadata: how many streams, and the
// largest kept.
const (
	maxKnown     = 1 << 16
	maxKnownSize = 256 << 10
)

// knownLocked returns key's entry, making room for one when there are too
// many: it forgets streams that nobody waits for and that have not changed
// for a minute (a delivered revision must not be forgotten while a read
// may still return an older one).
func (s *Store) knownLocked(key string) *known {
	if k := s.metas[key]; k != nil {
		return k
	}
	if len(s.metas) >= maxKnown {
		old := time.Now().Add(-time.Minute)
		for key, k := range s.metas {
			if !s.waiters.Waited(key) && k.at.Before(old) {
				delete(s.metas, key)
			}
		}
	}
	k := &known{}
	s.metas[key] = k
	return k
}

// seen records that the change watch delivered revision rev of key. It is
// called before the change wakes anybody.
func (s *Store) seen(key string, rev uint64, removed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.knownLocked(key)
	if rev > k.seen {
		k.seen, k.gone = rev, removed
	}
	k.at = time.Now()
}

// newestKnown is the newest revision of key this store has read, written
// or seen delivered, and whether that was the stream's removal (whose
// marker lapses: the key is then not found at all).
func (s *Store) newestKnown(key string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.metas[key]; k != nil {
		if k.seen >= k.rev {
			return k.seen, k.gone
		}
		return k.rev, false
	}
	return 0, false
}

// keep records m, read or written at rev. m is not changed afterwards.
func (s *Store) keep(key string, m *meta, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.knownLocked(key)
	if rev > k.rev {
		k.m, k.rev = nil, rev
		if m.size() <= maxKnownSize {
			k.m = m
		}
	}
}

// readMeta returns a stream's metadata for a reader. The reader took its
// Changed before, so any change after that reaches it; what it must not get
// is a state older than a change already delivered (it would wait for a
// wake that has come and gone). So it gets metadata at least as new as the
// newest revision the change watch delivered: the kept one, or a read from
// the bucket's leader, which many readers woken by one change share. A
// leader can answer with a revision older than one a follower delivered
// (it has not applied it yet): then the read is made again.
func (s *Store) readMeta(ctx context.Context, ns, name string) (*meta, error) {
	if err := checkNames(ns, name); err != nil {
		return nil, err
	}
	key := metaKey(ns, name)
	for try := 0; ; try++ {
		s.mu.Lock()
		var seen uint64
		if k := s.metas[key]; k != nil {
			if m := k.m; m != nil && k.rev >= k.seen {
				s.mu.Unlock()
				return m, nil
			}
			seen = k.seen
		}
		f := s.flights[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			s.flights[key] = f
			s.mu.Unlock()
			// Not the caller's context: others wait for this read too.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout)
			f.m, f.rev, f.err = s.getMeta(fctx, ns, name)
			cancel()
			s.mu.Lock()
			delete(s.flights, key)
			s.mu.Unlock()
			if f.err == nil {
				s.keep(key, f.m, f.rev)
			}
			close(f.done)
		} else {
			s.mu.Unlock()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A removed stream has no revision to compare: its marker was seen.
		if f.err != nil || f.rev >= seen {
			return f.m, f.err
		}
		if err := pause(ctx, try); err != nil {
			return nil, err
		}
	}
}

// pause waits a little longer at each try, for a server to catch up.
func pause(ctx context.Context, try int) error {
	t := time.NewTimer(time.Duration(min(try+1, 20)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
