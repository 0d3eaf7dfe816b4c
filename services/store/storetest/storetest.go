// Package storetest is the test suite every store.Streams implementation
// passes: bbolt (store.DB) and NATS JetStream (natsstore) run the same
// tests, so that the services behave the same on either.
//
// An implementation gives Run a Config whose New returns a fresh, empty
// history; the suite opens stores on it through the returned Backend. With
// Shared set, the suite also opens two stores on one history at once, as
// two replicas of a service do, and checks that they share it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// Store is what the suite tests: Streams that can be pruned and closed.
type Store interface {
	store.Streams
	// Prune applies the retention to finished streams now and returns how
	// many it removed.
	Prune(ctx context.Context) (int, error)
	// Close closes the store; readers waiting on Changed are woken and get
	// store.ErrClosed. It is idempotent.
	Close() error
}

// Options are what the suite sets on the stores it opens.
type Options struct {
	// Now is the clock that stamps events and drives pruning by age.
	Now func() time.Time
	// Retention is what the store keeps (zero: keep everything).
	Retention store.Retention
}

// Backend opens a store on one history; each call opens another store on
// the same history, as another process (or a restarted one) would. The
// stores it opens are closed when the test ends.
type Backend func(t *testing.T, o Options) Store

// Config describes an implementation to Run.
type Config struct {
	// New returns a Backend on a new, empty history.
	New func(t *testing.T) Backend
	// Shared says that two stores may be open on one history at once.
	Shared bool
}

// Run runs the suite, each test in parallel.
func Run(t *testing.T, c Config) {
	tests := []struct {
		name   string
		shared bool
		run    func(*testing.T, Backend)
	}{
		{"CreateGetList", false, testCreateGetList},
		{"AppendAndRead", false, testAppendAndRead},
		{"BatchIsAtomic", false, testBatchIsAtomic},
		{"ReopenKeepsEverything", false, testReopenKeepsEverything},
		{"RetentionMaxEvents", false, testRetentionMaxEvents},
		{"Prune", false, testPrune},
		{"Changed", false, testChanged},
		{"Follow", false, testFollow},
		{"FollowConcurrentWriter", false, testFollowConcurrentWriter},
		{"ReplicasShareHistory", true, testReplicasShareHistory},
		{"ReplicasWriteConcurrently", true, testReplicasWriteConcurrently},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.shared && !c.Shared {
				// Not a skip: a single-process store has nothing to test here.
				t.Log("the store is not shared between processes")
				return
			}
			t.Parallel()
			tt.run(t, c.New(t))
		})
	}
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func data(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func ids(events []store.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func texts(events []store.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(e.Data)
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testCreateGetList(t *testing.T, open Backend) {
	ctx := testContext(t)
	clk := newClock()
	db := open(t, Options{Now: clk.now})

	if _, err := db.Get(ctx, "jobs", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get before Create: %v, want ErrNotFound", err)
	}
	if l, err := db.List(ctx, "jobs"); err != nil || len(l) != 0 {
		t.Fatalf("List of an empty namespace = %v, %v", l, err)
	}
	s, err := db.Create(ctx, "jobs", store.Stream{Name: "b", Owner: "alice", Attrs: []byte("x"), Last: 99, Finished: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Last != 0 || s.Finished || s.Owner != "alice" || string(s.Attrs) != "x" || !s.Created.Equal(clk.now()) {
		t.Errorf("Create returned %+v", s)
	}
	if g, err := db.Get(ctx, "jobs", "b"); err != nil || g.Owner != "alice" || string(g.Attrs) != "x" || !g.Created.Equal(clk.now()) {
		t.Errorf("Get after Create = %+v, %v", g, err)
	}
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "b"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	// Names are kept as given, whatever a backend's own naming rules.
	for _, name := range []string{"a", "with.dots..and-dashes_", "*>", "ünïcode"} {
		if _, err := db.Create(ctx, "jobs", store.Stream{Name: name}); err != nil {
			t.Fatalf("Create %q: %v", name, err)
		}
	}
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	l, err := db.List(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range l {
		names = append(names, s.Name)
	}
	if want := []string{"*>", "a", "b", "with.dots..and-dashes_", "ünïcode"}; !slices.Equal(names, want) {
		t.Errorf("List(jobs) = %q, want %q", names, want)
	}
	if _, err := db.Create(ctx, "", store.Stream{Name: "x"}); err == nil {
		t.Error("Create with an empty namespace succeeded")
	}
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: ""}); err == nil {
		t.Error("Create with an empty name succeeded")
	}
}

func testAppendAndRead(t *testing.T, open Backend) {
	ctx := testContext(t)
	clk := newClock()
	db := open(t, Options{Now: clk.now})
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("a")}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Append to a missing stream: %v", err)
	}
	if _, _, err := db.Read(ctx, "logs", "x", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Read of a missing stream: %v", err)
	}
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	s, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("a", "b", "c")})
	if err != nil {
		t.Fatal(err)
	}
	if s.First != 1 || s.Last != 3 {
		t.Errorf("after 3 events: first %d last %d", s.First, s.Last)
	}
	clk.advance(time.Second)
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("d\nmulti-line")}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		after uint64
		limit int
		want  []string
	}{
		{0, 0, []string{"a", "b", "c", "d\nmulti-line"}},
		{0, 2, []string{"a", "b"}},
		{1, 1, []string{"b"}},
		{2, 10, []string{"c", "d\nmulti-line"}},
		{3, 10, []string{"d\nmulti-line"}},
		{4, 10, nil},
		{40, 10, nil},
		{^uint64(0), 10, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.after, "/", tt.limit), func(t *testing.T) {
			s, events, err := db.Read(ctx, "logs", "x", tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if s.Last != 4 || !slices.Equal(texts(events), tt.want) {
				t.Errorf("Read(after %d, limit %d) = last %d, %q; want %q", tt.after, tt.limit, s.Last, texts(events), tt.want)
			}
			for i, e := range events {
				if e.ID != tt.after+uint64(i)+1 {
					t.Errorf("event %d has id %d", i, e.ID)
				}
			}
		})
	}
	_, events, _ := db.Read(ctx, "logs", "x", 2, 0)
	if len(events) != 2 || !events[0].Time.Equal(clk.now().Add(-time.Second)) || !events[1].Time.Equal(clk.now()) {
		t.Errorf("events %+v; want the append times", events)
	}
}

func testBatchIsAtomic(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{})
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "j", Attrs: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := db.Append(ctx, "jobs", "j", store.Batch{
		Events: data("lost"),
		Update: func([]byte) ([]byte, error) { return nil, boom },
		Finish: true,
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Append with a failing Update: %v, want boom", err)
	}
	s, _ := db.Get(ctx, "jobs", "j")
	if s.Last != 0 || s.Finished || string(s.Attrs) != "0" {
		t.Fatalf("a failed batch left %+v", s)
	}
	s, err = db.Append(ctx, "jobs", "j", store.Batch{
		Events: data("e1", "e2"),
		Update: func(a []byte) ([]byte, error) { return append(a, '1'), nil },
		Finish: true,
	})
	if err != nil || s.Last != 2 || !s.Finished || string(s.Attrs) != "01" {
		t.Fatalf("Append = %+v, %v", s, err)
	}
	if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("late")}); !errors.Is(err, store.ErrFinished) {
		t.Errorf("event after finish: %v, want ErrFinished", err)
	}
	if _, err := db.Append(ctx, "jobs", "j", store.Batch{Finish: true}); !errors.Is(err, store.ErrFinished) {
		t.Errorf("second finish: %v, want ErrFinished", err)
	}
	s, err = db.Append(ctx, "jobs", "j", store.Batch{Update: func(a []byte) ([]byte, error) { return []byte("attrs only"), nil }})
	if err != nil || string(s.Attrs) != "attrs only" || s.Last != 2 {
		t.Errorf("attrs-only batch on a finished stream = %+v, %v", s, err)
	}
	s, events, err := db.Read(ctx, "jobs", "j", 0, 0)
	if err != nil || !s.Finished || string(s.Attrs) != "attrs only" || !slices.Equal(texts(events), []string{"e1", "e2"}) {
		t.Errorf("Read = %+v %q, %v", s, texts(events), err)
	}
}

func testReopenKeepsEverything(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{})
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "j", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("1", "2"), Finish: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.Get(ctx, "jobs", "j"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("3")}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}

	db = open(t, Options{})
	s, events, err := db.Read(ctx, "jobs", "j", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Owner != "bob" || !s.Finished || !slices.Equal(texts(events), []string{"1", "2"}) {
		t.Errorf("after reopen: %+v %q", s, texts(events))
	}
}

func testRetentionMaxEvents(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{Retention: store.Retention{MaxEvents: 3}})
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data(fmt.Sprint(i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	s, events, err := db.Read(ctx, "logs", "x", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.First != 3 || s.Last != 5 || !slices.Equal(ids(events), []uint64{3, 4, 5}) {
		t.Errorf("kept first %d last %d ids %v; want 3..5", s.First, s.Last, ids(events))
	}
	// A reader resuming before the oldest kept event continues from it.
	if _, events, err := db.Read(ctx, "logs", "x", 1, 0); err != nil || !slices.Equal(ids(events), []uint64{3, 4, 5}) {
		t.Errorf("Read after 1 = %v, %v; want 3..5", ids(events), err)
	}
	// A batch larger than the bound keeps its newest events.
	s, err = db.Append(ctx, "logs", "x", store.Batch{Events: data("6", "7", "8", "9")})
	if err != nil || s.First != 7 || s.Last != 9 {
		t.Errorf("after a large batch: %+v, %v", s, err)
	}
	// Once more, so that the large batch is the older one.
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("10")}); err != nil {
		t.Fatal(err)
	}
	if s, events, err := db.Read(ctx, "logs", "x", 0, 0); err != nil || s.First != 8 || !slices.Equal(texts(events), []string{"8", "9", "10"}) {
		t.Errorf("after one more: first %d %q, %v; want 8..10", s.First, texts(events), err)
	}
}

func testPrune(t *testing.T, open Backend) {
	ctx := testContext(t)
	clk := newClock()
	db := open(t, Options{Now: clk.now, Retention: store.Retention{MaxFinished: 2, MaxAge: time.Hour}})
	mk := func(name string, finish bool) {
		t.Helper()
		if _, err := db.Create(ctx, "jobs", store.Stream{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Append(ctx, "jobs", name, store.Batch{Events: data("e"), Finish: finish}); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Minute)
	}
	mk("old-running", false)
	mk("f1", true)
	mk("f2", true)
	mk("f3", true)
	mk("f4", true)
	gone := db.Changed("jobs", "f1")
	n, err := db.Prune(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 removed", n, err)
	}
	<-gone // removing a stream wakes its readers (the test's deadline bounds the wait)
	if _, _, err := db.Read(ctx, "jobs", "f1", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read of a pruned stream: %v", err)
	}
	names := func() []string {
		l, err := db.List(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range l {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"f3", "f4", "old-running"}) {
		t.Errorf("after count pruning: %v", got)
	}
	clk.advance(2 * time.Hour)
	if n, err := db.Prune(ctx); err != nil || n != 2 {
		t.Errorf("age pruning removed %d, %v; want 2", n, err)
	}
	if got := names(); !slices.Equal(got, []string{"old-running"}) {
		t.Errorf("after age pruning: %v (a running stream is never removed)", got)
	}
	// A pruned name can be used again, for a stream that starts afresh.
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "f1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "jobs", "f1", store.Batch{Events: data("new")}); err != nil {
		t.Fatal(err)
	}
	if s, events, err := db.Read(ctx, "jobs", "f1", 0, 0); err != nil || s.Finished || !slices.Equal(texts(events), []string{"new"}) || events[0].ID != 1 {
		t.Errorf("a new stream under a pruned name = %+v %v, %v", s, events, err)
	}
}

// waitClosed waits for ch, bounded by the test's deadline.
func waitClosed(ctx context.Context, t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: not woken", what)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func testChanged(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{})
	for _, name := range []string{"x", "y"} {
		if _, err := db.Create(ctx, "logs", store.Stream{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	// A store may wake readers after Append returns, but in the order of
	// the changes: once a later change has woken its readers, an earlier
	// one that would have woken others has done so.
	ch := db.Changed("logs", "x")
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Update: func([]byte) ([]byte, error) { return []byte("a"), nil }}); err != nil {
		t.Fatal(err)
	}
	marker := db.Changed("logs", "y")
	if _, err := db.Append(ctx, "logs", "y", store.Batch{Events: data("a")}); err != nil {
		t.Fatal(err)
	}
	waitClosed(ctx, t, marker, "an event appended to y")
	if closed(ch) {
		t.Fatal("an attrs-only change woke readers")
	}
	other := db.Changed("logs", "y")
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("a")}); err != nil {
		t.Fatal(err)
	}
	waitClosed(ctx, t, ch, "an event appended to x")
	marker = db.Changed("logs", "x")
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Finish: true}); err != nil {
		t.Fatal(err)
	}
	waitClosed(ctx, t, marker, "x finished")
	if closed(other) {
		t.Fatal("another stream's readers were woken")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(ctx, t, other, "Close") // Close wakes everybody
	waitClosed(ctx, t, db.Changed("logs", "x"), "Changed after Close")
}

func testFollow(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{})
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("1", "2", "3")}); err != nil {
		t.Fatal(err)
	}

	t.Run("without follow stops at the last event", func(t *testing.T) {
		var got []uint64
		err := store.Follow(ctx, db, "logs", "x", 1, false, func(e store.Event) error {
			got = append(got, e.ID)
			return nil
		})
		if err != nil || !slices.Equal(got, []uint64{2, 3}) {
			t.Errorf("Follow = %v, %v", got, err)
		}
	})

	t.Run("send error", func(t *testing.T) {
		boom := errors.New("boom")
		err := store.Follow(ctx, db, "logs", "x", 0, false, func(store.Event) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("Follow = %v, want boom", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		cause := errors.New("shutting down")
		cctx, cancel := context.WithCancelCause(ctx)
		err := store.Follow(cctx, db, "logs", "x", 0, true, func(e store.Event) error {
			if e.ID == 3 {
				cancel(cause)
			}
			return nil
		})
		if !errors.Is(err, cause) {
			t.Errorf("Follow = %v, want the cancel cause", err)
		}
	})

	t.Run("missing stream", func(t *testing.T) {
		err := store.Follow(ctx, db, "logs", "nope", 0, true, func(store.Event) error { return nil })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Follow = %v, want ErrNotFound", err)
		}
	})
}

// follow runs store.Follow from 0 in a goroutine and returns the ids it
// sent, once it has returned.
func follow(ctx context.Context, t *testing.T, st store.Streams, ns, name string, slow bool) func() []uint64 {
	var got []uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := store.Follow(ctx, st, ns, name, 0, true, func(e store.Event) error {
			got = append(got, e.ID)
			if slow && e.ID%100 == 0 {
				time.Sleep(time.Millisecond) // a slow reader
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}()
	return func() []uint64 {
		<-done
		return got
	}
}

// checkAll checks that got is 1..n.
func checkAll(t *testing.T, who string, got []uint64, n int) {
	t.Helper()
	if len(got) != n || got[0] != 1 || got[len(got)-1] != uint64(n) {
		t.Fatalf("%s got %d events, want %d", who, len(got), n)
	}
	for j := 1; j < len(got); j++ {
		if got[j] != got[j-1]+1 {
			t.Fatalf("%s: id %d after %d", who, got[j], got[j-1])
		}
	}
}

// Many followers of a stream that a writer appends to concurrently each get
// every event exactly once, in order, and all end at the finish.
func testFollowConcurrentWriter(t *testing.T, open Backend) {
	ctx := testContext(t)
	db := open(t, Options{})
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "j"}); err != nil {
		t.Fatal(err)
	}
	const events, followers = 600, 10
	got := make([]func() []uint64, followers)
	for i := range followers {
		got[i] = follow(ctx, t, db, "jobs", "j", i == 0)
	}
	for i := 0; i < events; i += 3 {
		if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("a", "b", "c"), Finish: i+3 >= events}); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range got {
		checkAll(t, fmt.Sprintf("follower %d", i), g(), events)
	}
}

// A follower on one store gets what is appended through another, as a
// watcher connected to one replica gets what another replica appends; a
// stream created by one is found, listed and finished by the other.
func testReplicasShareHistory(t *testing.T, open Backend) {
	ctx := testContext(t)
	a, b := open(t, Options{}), open(t, Options{})
	if _, err := a.Create(ctx, "jobs", store.Stream{Name: "j", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Get(ctx, "jobs", "j"); err != nil || s.Owner != "alice" {
		t.Fatalf("the other store's Get = %+v, %v", s, err)
	}
	if _, err := b.Create(ctx, "jobs", store.Stream{Name: "j"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("the other store's Create of the same name: %v, want ErrExists", err)
	}
	const events = 300
	onB := follow(ctx, t, b, "jobs", "j", false)
	onA := follow(ctx, t, a, "jobs", "j", false)
	for i := 0; i < events; i += 2 {
		w := a
		if i%4 == 2 {
			w = b // each store appends half
		}
		if _, err := w.Append(ctx, "jobs", "j", store.Batch{Events: data("x", "y")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Append(ctx, "jobs", "j", store.Batch{Finish: true}); err != nil {
		t.Fatal(err)
	}
	checkAll(t, "the follower on b", onB(), events)
	checkAll(t, "the follower on a", onA(), events)
	if l, err := b.List(ctx, "jobs"); err != nil || len(l) != 1 || l[0].Last != events || !l[0].Finished {
		t.Errorf("the other store's List = %+v, %v", l, err)
	}
}

// Stores on one history that append to one stream at once, events and
// attrs-only updates mixed, apply every batch exactly once and atomically:
// the ids have no gap and no repeat, and the attrs, a count that each event
// batch and each update raises, always agree with the events.
func testReplicasWriteConcurrently(t *testing.T, open Backend) {
	ctx := testContext(t)
	const writers, batches = 4, 25
	stores := []Store{open(t, Options{}), open(t, Options{})}
	if _, err := stores[0].Create(ctx, "logs", store.Stream{Name: "x", Attrs: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	count := func(a []byte) int {
		var n int
		_, _ = fmt.Sscan(string(a), &n)
		return n
	}
	var updates atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		st := stores[w%len(stores)]
		wg.Go(func() {
			for i := range batches {
				b := store.Batch{Update: func(a []byte) ([]byte, error) { return fmt.Append(nil, count(a)+1), nil }}
				if i%3 != 2 {
					b.Events = data(fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i))
				} else {
					updates.Add(1)
				}
				if _, err := st.Append(ctx, "logs", "x", b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s, events, err := stores[1].Read(ctx, "logs", "x", 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	eventBatches := writers*batches - int(updates.Load())
	if int(s.Last) != 2*eventBatches || len(events) != 2*eventBatches {
		t.Fatalf("last %d, %d events; want %d", s.Last, len(events), 2*eventBatches)
	}
	seen := map[string]bool{}
	for i, e := range events {
		if e.ID != uint64(i)+1 || seen[string(e.Data)] {
			t.Fatalf("event %d: id %d %q (repeated: %v)", i, e.ID, e.Data, seen[string(e.Data)])
		}
		seen[string(e.Data)] = true
		// The two events of a batch are adjacent: a batch is one step.
		if i%2 == 1 && string(e.Data[:len(e.Data)-1]) != string(events[i-1].Data[:len(e.Data)-1]) {
			t.Fatalf("events %q and %q of one batch are apart", events[i-1].Data, e.Data)
		}
	}
	if n := count(s.Attrs); n != writers*batches {
		t.Errorf("attrs count %d, want %d: an update was lost or applied twice", n, writers*batches)
	}
}
