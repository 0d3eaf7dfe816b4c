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
// leader; the events of its last batch come with it, older ones from the
// events stream (or memory), so a reader at the end costs one read.
func (s *Store) Read(ctx context.Context, ns, name string, after uint64, limit int) (store.Stream, []store.Event, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	m, _, err := s.getMeta(octx, ns, name)
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
		if events, err = s.readStream(octx, ns, name, m, from, min(to, first-1)); err != nil {
			return store.Stream{}, nil, s.fail(ctx, err)
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
