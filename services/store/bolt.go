package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the database file Open keeps in its directory.
const FileName = "ssegate.db"

// Bucket layout: one top-level bucket per namespace, holding a bucket "meta"
// (stream name -> JSON metaRecord) and a bucket "events" that holds one
// bucket per stream (8-byte big-endian id -> 8-byte big-endian unix nano
// time followed by the event's data).
var (
	bucketMeta   = []byte("meta")
	bucketEvents = []byte("events")
)

// metaRecord is a Stream as stored.
type metaRecord struct {
	Owner    string    `json:"owner,omitempty"`
	Attrs    []byte    `json:"attrs,omitempty"`
	First    uint64    `json:"first,omitempty"`
	Last     uint64    `json:"last,omitempty"`
	Finished bool      `json:"finished,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

func (m metaRecord) stream(name string) Stream {
	return Stream{
		Name: name, Owner: m.Owner, Attrs: bytes.Clone(m.Attrs), First: m.First, Last: m.Last,
		Finished: m.Finished, Created: m.Created, Updated: m.Updated,
	}
}

// Option configures Open.
type Option func(*config)

type config struct {
	now           func() time.Time
	logger        *slog.Logger
	retention     Retention
	pruneInterval time.Duration
	noSync        bool
	openTimeout   time.Duration
}

// WithClock sets the clock that stamps events and drives retention by age.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithLogger sets the logger for background work (retention).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithRetention sets what the store keeps (default DefaultRetention()).
func WithRetention(r Retention) Option {
	return func(c *config) { c.retention = r }
}

// WithPruneInterval sets how often finished streams are pruned in the
// background (default one minute); 0 turns the background pruning off, and
// Prune can still be called.
func WithPruneInterval(d time.Duration) Option {
	return func(c *config) { c.pruneInterval = d }
}

// WithNoSync skips the fsync after each write: much faster, but the last
// writes are lost if the machine (not just the process) stops. For tests and
// throwaway demos.
func WithNoSync() Option {
	return func(c *config) { c.noSync = true }
}

// WithOpenTimeout sets how long Open waits for another process to release
// the database file (default one second).
func WithOpenTimeout(d time.Duration) Option {
	return func(c *config) { c.openTimeout = d }
}

// DB is a Streams on bbolt: one file, FileName, in a directory. Only one
// process can open it at a time.
type DB struct {
	db  *bolt.DB
	cfg config

	mu      sync.Mutex
	closed  bool
	waiters Waiters // ns + "\x00" + name

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ Streams = (*DB)(nil)

// Open opens (creating if needed) the store in dir. Close it when done.
func Open(dir string, opts ...Option) (*DB, error) {
	cfg := config{
		now:           time.Now,
		logger:        slog.Default(),
		retention:     DefaultRetention(),
		pruneInterval: time.Minute,
		openTimeout:   time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if dir == "" {
		return nil, errors.New("store: no directory")
	}
	if cfg.now == nil || cfg.logger == nil {
		return nil, errors.New("store: nil clock or logger")
	}
	if r := cfg.retention; r.MaxEvents < 0 || r.MaxFinished < 0 || r.MaxAge < 0 || cfg.pruneInterval < 0 {
		return nil, fmt.Errorf("store: negative retention %+v or prune interval %v", r, cfg.pruneInterval)
	}
	// The history holds job owners' session tokens: keep it private.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{
		Timeout: cfg.openTimeout,
		NoSync:  cfg.noSync,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	d := &DB{db: db, cfg: cfg, stop: stop}
	if cfg.pruneInterval > 0 {
		d.wg.Go(func() { d.pruneLoop(ctx) })
	}
	return d, nil
}

// Close stops background work, wakes every waiting reader and closes the
// file. Readers woken by it get ErrClosed. Close is idempotent.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.waiters.Close()
	d.stop()
	d.wg.Wait()
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func (d *DB) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// view and update run fn in a transaction, turning a closed store into
// ErrClosed.
func (d *DB) view(fn func(*bolt.Tx) error) error {
	if d.isClosed() {
		return ErrClosed
	}
	return mapClosed(d.db.View(fn))
}

func (d *DB) update(fn func(*bolt.Tx) error) error {
	if d.isClosed() {
		return ErrClosed
	}
	return mapClosed(d.db.Update(fn))
}

func mapClosed(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func checkNames(ns, name string) error {
	if ns == "" || name == "" {
		return fmt.Errorf("store: empty namespace or name (%q, %q)", ns, name)
	}
	return nil
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func getMeta(tx *bolt.Tx, ns, name string) (metaRecord, error) {
	var m metaRecord
	nb := tx.Bucket([]byte(ns))
	if nb == nil {
		return m, ErrNotFound
	}
	raw := nb.Bucket(bucketMeta).Get([]byte(name))
	if raw == nil {
		return m, ErrNotFound
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("store: stream %s/%s: %w", ns, name, err)
	}
	return m, nil
}

func putMeta(tx *bolt.Tx, ns, name string, m metaRecord) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return tx.Bucket([]byte(ns)).Bucket(bucketMeta).Put([]byte(name), raw)
}

// Create implements Streams.
func (d *DB) Create(_ context.Context, ns string, s Stream) (Stream, error) {
	if err := checkNames(ns, s.Name); err != nil {
		return Stream{}, err
	}
	now := d.cfg.now()
	m := metaRecord{Owner: s.Owner, Attrs: bytes.Clone(s.Attrs), Created: now, Updated: now}
	err := d.update(func(tx *bolt.Tx) error {
		nb, err := tx.CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		if _, err := nb.CreateBucketIfNotExists(bucketEvents); err != nil {
			return err
		}
		meta, err := nb.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if meta.Get([]byte(s.Name)) != nil {
			return ErrExists
		}
		return putMeta(tx, ns, s.Name, m)
	})
	if err != nil {
		return Stream{}, err
	}
	return m.stream(s.Name), nil
}

// Get implements Streams.
func (d *DB) Get(_ context.Context, ns, name string) (Stream, error) {
	var s Stream
	err := d.view(func(tx *bolt.Tx) error {
		m, err := getMeta(tx, ns, name)
		s = m.stream(name)
		return err
	})
	return s, err
}

// List implements Streams.
func (d *DB) List(_ context.Context, ns string) ([]Stream, error) {
	var out []Stream
	err := d.view(func(tx *bolt.Tx) error {
		nb := tx.Bucket([]byte(ns))
		if nb == nil {
			return nil
		}
		return nb.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			var m metaRecord
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("store: stream %s/%s: %w", ns, k, err)
			}
			out = append(out, m.stream(string(k)))
			return nil
		})
	})
	return out, err
}

// Append implements Streams.
func (d *DB) Append(_ context.Context, ns, name string, b Batch) (Stream, error) {
	var s Stream
	err := d.update(func(tx *bolt.Tx) error {
		m, err := getMeta(tx, ns, name)
		if err != nil {
			return err
		}
		if m.Finished && (len(b.Events) > 0 || b.Finish) {
			return ErrFinished
		}
		now := d.cfg.now()
		if b.Update != nil {
			attrs, err := b.Update(bytes.Clone(m.Attrs))
			if err != nil {
				return err
			}
			m.Attrs = attrs
		}
		if len(b.Events) > 0 {
			if err := d.putEvents(tx, ns, name, &m, now, b.Events); err != nil {
				return err
			}
		}
		m.Finished = m.Finished || b.Finish
		m.Updated = now
		s = m.stream(name)
		return putMeta(tx, ns, name, m)
	})
	if err != nil {
		return Stream{}, err
	}
	if len(b.Events) > 0 || b.Finish {
		d.notify(ns, name)
	}
	return s, nil
}

// putEvents appends events after m.Last and removes the oldest beyond
// MaxEvents, updating m.
func (d *DB) putEvents(tx *bolt.Tx, ns, name string, m *metaRecord, now time.Time, events [][]byte) error {
	eb, err := tx.Bucket([]byte(ns)).Bucket(bucketEvents).CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return err
	}
	stamp := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	for _, data := range events {
		m.Last++
		v := append(append(make([]byte, 0, len(stamp)+len(data)), stamp...), data...)
		if err := eb.Put(idKey(m.Last), v); err != nil {
			return err
		}
	}
	if m.First == 0 {
		m.First = m.Last - uint64(len(events)) + 1
	}
	if limit := uint64(d.cfg.retention.MaxEvents); limit > 0 && m.Last-m.First+1 > limit {
		keep := m.Last - limit + 1
		// Always from the first key: a cursor's Next after its Delete skips
		// the key that followed the deleted one.
		c := eb.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < keep; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		m.First = keep
	}
	return nil
}

// Read implements Streams.
func (d *DB) Read(_ context.Context, ns, name string, after uint64, limit int) (Stream, []Event, error) {
	var (
		s      Stream
		events []Event
	)
	if limit <= 0 {
		limit = followBatch
	}
	err := d.view(func(tx *bolt.Tx) error {
		m, err := getMeta(tx, ns, name)
		if err != nil {
			return err
		}
		s = m.stream(name)
		if after >= m.Last || after == ^uint64(0) {
			return nil
		}
		eb := tx.Bucket([]byte(ns)).Bucket(bucketEvents).Bucket([]byte(name))
		if eb == nil {
			return nil
		}
		c := eb.Cursor()
		for k, v := c.Seek(idKey(after + 1)); k != nil && len(events) < limit; k, v = c.Next() {
			if len(k) != 8 || len(v) < 8 {
				return fmt.Errorf("store: stream %s/%s: corrupt event", ns, name)
			}
			events = append(events, Event{
				ID:   binary.BigEndian.Uint64(k),
				Time: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
				Data: bytes.Clone(v[8:]),
			})
		}
		return nil
	})
	return s, events, err
}

// Changed implements Streams.
func (d *DB) Changed(ns, name string) <-chan struct{} {
	return d.waiters.Wait(ns + "\x00" + name)
}

func (d *DB) notify(ns, name string) { d.waiters.Notify(ns + "\x00" + name) }

// Prune applies the retention to finished streams of every namespace now and
// returns how many streams it removed. The store also prunes in the
// background (WithPruneInterval).
func (d *DB) Prune(_ context.Context) (int, error) {
	r := d.cfg.retention
	if r.MaxFinished == 0 && r.MaxAge == 0 {
		return 0, nil
	}
	type victim struct{ ns, name string }
	var removed []victim
	now := d.cfg.now()
	err := d.update(func(tx *bolt.Tx) error {
		removed = removed[:0]
		return tx.ForEach(func(ns []byte, nb *bolt.Bucket) error {
			type done struct {
				name    string
				updated time.Time
			}
			var finished []done
			err := nb.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
				var m metaRecord
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("store: stream %s/%s: %w", ns, k, err)
				}
				if m.Finished {
					finished = append(finished, done{string(k), m.Updated})
				}
				return nil
			})
			if err != nil {
				return err
			}
			// Newest first; whatever is past MaxFinished or too old goes.
			slices.SortFunc(finished, func(a, b done) int { return b.updated.Compare(a.updated) })
			for i, f := range finished {
				tooMany := r.MaxFinished > 0 && i >= r.MaxFinished
				tooOld := r.MaxAge > 0 && now.Sub(f.updated) > r.MaxAge
				if !tooMany && !tooOld {
					continue
				}
				if err := nb.Bucket(bucketMeta).Delete([]byte(f.name)); err != nil {
					return err
				}
				if err := nb.Bucket(bucketEvents).DeleteBucket([]byte(f.name)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
				removed = append(removed, victim{string(ns), f.name})
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	for _, v := range removed {
		d.notify(v.ns, v.name)
	}
	return len(removed), nil
}

func (d *DB) pruneLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.pruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := d.Prune(ctx); err != nil {
				d.cfg.logger.Error("store: prune", "err", err)
			} else if n > 0 {
				d.cfg.logger.Info("store: pruned finished streams", "count", n)
			}
		}
	}
}
