// Package store keeps the durable history of the backends: append-only
// streams of events (a job's events, a log's entries), each event with an id
// that increases by one from 1 within its stream, so that a reader can resume
// after any id it has seen, after a restart too.
//
// A stream lives in a namespace ("jobs", "logs") under a name, and carries a
// little metadata besides its events: an owner, whether it is finished, and
// Attrs, bytes the owning service keeps there (a job's checkpoint, a tailed
// file's position). A Batch writes events, Attrs and the finished flag in one
// atomic step, so a checkpoint never disagrees with the events it describes.
//
// Services depend only on the Streams interface. DB implements it on bbolt,
// an embedded engine in one file, which is what one machine needs. When one
// machine is not enough, implement Streams on a distributed engine and give
// that to the services instead; nothing else changes:
//
//   - PostgreSQL: a table streams(ns, name, owner, attrs, first_id, last_id,
//     finished, created, updated) and a table events(ns, name, id, time, data)
//     with primary key (ns, name, id). Append is one transaction that locks the
//     stream row (SELECT … FOR UPDATE), inserts the events and updates the row;
//     Read is a range query on the key; Changed is LISTEN/NOTIFY on a channel
//     per stream, notified in the appending transaction.
//   - NATS JetStream, which package natsstore implements: one stream per
//     namespace with a subject per stream, event ids kept one apart by
//     expected-last-subject-sequence checks on publish; the metadata in a
//     key-value bucket written with revision checks (the Update function
//     run again on a conflict), each write carrying its batch's events, so
//     that it is the batch's commit; Changed from an ordered consumer on the
//     bucket; MaxEvents as the stream's limit of messages per subject.
//
// Several service replicas can then share the history, and because every
// reader reads from the store and is woken by Changed, a watcher connected to
// one replica sees events appended by another. Package natsstore is the
// JetStream one; a store shared that way also offers Leases, so that each
// piece of work (a running job) has one replica doing it at a time.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors the store returns; implementations wrap or return them as they are.
var (
	// ErrNotFound means the stream does not exist (or was removed).
	ErrNotFound = errors.New("store: stream not found")
	// ErrExists means Create found a stream with that name.
	ErrExists = errors.New("store: stream already exists")
	// ErrFinished means a batch tried to add events to a finished stream.
	ErrFinished = errors.New("store: stream is finished")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrResumePoint means a Last-Event-ID value is not an event id.
	ErrResumePoint = errors.New("store: invalid resume point")
	// ErrUnavailable means the store's engine could not be reached in
	// time (a distributed one: its servers are down or have no quorum).
	// It is transient; a write that fails with it may have been applied or
	// not, and a reader can simply try again.
	ErrUnavailable = errors.New("store: unavailable")
)

// Stream is the metadata of one stream.
type Stream struct {
	// Name identifies the stream within its namespace.
	Name string
	// Owner is the user the stream belongs to; empty for none.
	Owner string
	// Attrs are the owning service's own bytes; the store does not read them.
	Attrs []byte
	// First is the id of the oldest event kept (older ones may have been
	// removed by retention); 0 while the stream has no event.
	First uint64
	// Last is the id of the newest event; 0 while the stream has no event.
	Last uint64
	// Finished is set once no event will follow.
	Finished bool
	// Created is when the stream was created.
	Created time.Time
	// Updated is when the stream last changed.
	Updated time.Time
}

// Event is one stored event.
type Event struct {
	// ID is the event's position: 1 for the first event of a stream.
	ID uint64
	// Time is when the event was appended.
	Time time.Time
	// Data is the event as the service encoded it.
	Data []byte
}

// Batch is one atomic change to a stream.
type Batch struct {
	// Events are appended in order, with ids following the stream's Last.
	Events [][]byte
	// Update, if set, receives the stream's current Attrs (a copy) and
	// returns the new ones. It runs inside the change; an error from it
	// cancels the whole batch and is returned as it is. It may be called more
	// than once, so it must have no side effects.
	Update func(attrs []byte) ([]byte, error)
	// Finish marks the stream finished after the events.
	Finish bool
}

// Streams is what the services need from a store. Implementations are safe
// for concurrent use.
type Streams interface {
	// Create creates a stream with s's Name, Owner and Attrs; the other
	// fields are set by the store. It returns ErrExists if the name is taken.
	Create(ctx context.Context, ns string, s Stream) (Stream, error)
	// Get returns a stream's metadata, or ErrNotFound.
	Get(ctx context.Context, ns, name string) (Stream, error)
	// List returns the metadata of every stream in a namespace, by name.
	List(ctx context.Context, ns string) ([]Stream, error)
	// Append applies b and returns the stream after it. Events appended to a
	// finished stream fail with ErrFinished; a batch with only an Update is
	// allowed on a finished stream.
	Append(ctx context.Context, ns, name string, b Batch) (Stream, error)
	// Read returns the stream's metadata and at most limit of its events
	// with ids greater than after, in order, as of one consistent moment.
	Read(ctx context.Context, ns, name string, after uint64, limit int) (Stream, []Event, error)
	// Changed returns a channel that is closed at the next change of the
	// stream that a reader cares about (events appended, finished, removed)
	// or when the store closes. Take it before Read so no change is missed.
	Changed(ns, name string) <-chan struct{}
}

// Retention bounds what a store keeps, per namespace. Zero values keep
// everything of that kind. Running (unfinished) streams are never removed;
// their oldest events are, beyond MaxEvents.
type Retention struct {
	// MaxEvents is the most events kept per stream; older ones are removed
	// as new ones arrive. A reader resuming before the oldest kept event
	// continues from the oldest kept event.
	MaxEvents int
	// MaxFinished is the most finished streams kept; the least recently
	// updated are removed first.
	MaxFinished int
	// MaxAge removes finished streams not updated for this long.
	MaxAge time.Duration
}

// DefaultRetention returns the retention of a store opened without
// WithRetention: 100,000 events per stream, 1,000 finished streams per
// namespace, none older than 7 days.
func DefaultRetention() Retention {
	return Retention{MaxEvents: 100_000, MaxFinished: 1_000, MaxAge: 7 * 24 * time.Hour}
}

// followBatch is how many events Follow reads at a time.
const followBatch = 256

// Follow calls send for every event of the stream with an id greater than
// after, in order, each exactly once. With follow set it then waits for new
// events and returns nil once the stream is finished and every event was
// sent; without follow it stops after the event that was the last one when
// it started. It returns ctx's cause when ctx ends, ErrNotFound if the
// stream is removed, and send's error as it is.
//
// Follow reads from the store at the reader's own pace, woken by Changed:
// a slow reader delays nobody and misses nothing, and a fast one reads what
// the writer has just committed.
func Follow(ctx context.Context, st Streams, ns, name string, after uint64, follow bool, send func(Event) error) error {
	var end uint64
	first := true
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		changed := st.Changed(ns, name)
		s, events, err := st.Read(ctx, ns, name, after, followBatch)
		if err != nil {
			return err
		}
		if first {
			end, first = s.Last, false
		}
		for _, e := range events {
			if !follow && e.ID > end {
				return nil
			}
			if err := send(e); err != nil {
				return err
			}
			after = e.ID
		}
		if len(events) > 0 && after < s.Last {
			continue // more stored events to read
		}
		if s.Finished || (!follow && after >= end) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// ResumePoint returns the id a reader resumes after: field, the request
// field the gateway fills from Last-Event-ID, when it is set; otherwise the
// first of lastEventID, the values of the gRPC metadata `last-event-id`,
// parsed as an unsigned decimal. An empty value means the start (0). A value
// that does not parse is an error wrapping ErrResumePoint.
func ResumePoint(field uint64, lastEventID []string) (uint64, error) {
	if field != 0 || len(lastEventID) == 0 {
		return field, nil
	}
	v := strings.TrimSpace(lastEventID[0])
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		if len(v) > 32 {
			v = v[:32] + "…"
		}
		return 0, fmt.Errorf("%w: last-event-id %q is not an event id", ErrResumePoint, v)
	}
	return n, nil
}
