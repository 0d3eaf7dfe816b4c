package apptest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Event is an event an EventSource dispatched to a listener.
type Event struct{ ID, Name, Data string }

// EventSource reads a stream as a browser's EventSource does: it sends
// Last-Event-ID on every reconnect, waits the latest retry before each,
// reconnects after a network error or the end of a response, and stops for
// good on any status but 200 (204 included) or another Content-Type. Set
// the exported fields, then call Run.
type EventSource struct {
	// Clients are where it connects, each in turn (one: the same origin
	// every time; several: gateways behind a load balancer, as the next
	// connection may reach another one).
	Clients []*Client
	// Path is the stream's path and query.
	Path string
	// Listen names the events it has listeners for; others (such as the
	// gateway's reconnect) reach none and are not kept.
	Listen []string
	// Retry is the wait before a reconnect until a stream sets one.
	Retry time.Duration

	count   atomic.Int64          // events received
	stopped atomic.Pointer[error] // why it stopped for good
	header  atomic.Pointer[http.Header]

	mu       sync.Mutex
	events   []Event
	connects int
	lastID   string
}

// Run reads until ctx ends or the stream stops for good.
func (e *EventSource) Run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		c := e.Clients[i%len(e.Clients)]
		h := http.Header{}
		e.mu.Lock()
		if e.lastID != "" {
			h.Set("Last-Event-ID", e.lastID)
		}
		e.mu.Unlock()
		s, err := c.Stream(ctx, e.Path, h)
		if err == nil {
			e.mu.Lock()
			e.connects++
			e.mu.Unlock()
			hdr := s.Res.Header.Clone()
			e.header.Store(&hdr)
			if s.Res.StatusCode != http.StatusOK || s.Res.Header.Get("Content-Type") != "text/event-stream" {
				err := fmt.Errorf("HTTP %s (%s) from %s", s.Res.Status, s.Res.Header.Get("Content-Type"), c.Base)
				e.stopped.Store(&err)
				s.Close()
				return
			}
			e.read(s)
			s.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.Retry):
		}
	}
}

// read takes events until the response ends.
func (e *EventSource) read(s *Stream) {
	for {
		b, err := s.Next()
		if err != nil {
			return
		}
		if b.Comment {
			continue
		}
		e.mu.Lock()
		if ms, err := strconv.Atoi(b.Retry); err == nil {
			e.Retry = time.Duration(ms) * time.Millisecond
		}
		if b.Has("id") {
			e.lastID = b.ID
		}
		name := b.Event
		if name == "" {
			name = "message"
		}
		if b.Has("data") && slices.Contains(e.Listen, name) {
			e.events = append(e.events, Event{ID: b.ID, Name: name, Data: b.Data})
			e.count.Add(1)
		}
		e.mu.Unlock()
	}
}

// Count is how many events it has received so far.
func (e *EventSource) Count() int { return int(e.count.Load()) }

// Stopped is why it stopped for good, or nil.
func (e *EventSource) Stopped() error {
	if p := e.stopped.Load(); p != nil {
		return *p
	}
	return nil
}

// Header is the latest response's header (nil before any).
func (e *EventSource) Header() http.Header {
	if p := e.header.Load(); p != nil {
		return *p
	}
	return nil
}

// Events are the events it received, in order.
func (e *EventSource) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// Connects is how many responses it got.
func (e *EventSource) Connects() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.connects
}

// WaitAll waits until every EventSource has received n events; it fails
// as soon as one has stopped for good, or after d.
func WaitAll(ctx context.Context, es []*EventSource, n int, d time.Duration) error {
	return wait(ctx, es, n, true, d)
}

// WaitSettled waits until every EventSource has received n events or has
// stopped for good; it fails after d.
func WaitSettled(ctx context.Context, es []*EventSource, n int, d time.Duration) error {
	return wait(ctx, es, n, false, d)
}

func wait(ctx context.Context, es []*EventSource, n int, failOnStop bool, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		behind := 0
		for i, e := range es {
			if err := e.Stopped(); err != nil {
				if failOnStop {
					return fmt.Errorf("client %d stopped for good: %w", i, err)
				}
				continue
			}
			if e.Count() < n {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d clients still without event %d: %w", behind, len(es), n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
