package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/services/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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

func open(t *testing.T, dir string, opts ...store.Option) *store.DB {
	t.Helper()
	db, err := store.Open(dir, append([]store.Option{store.WithNoSync(), store.WithPruneInterval(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

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

func TestCreateGetList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	db := open(t, t.TempDir(), store.WithClock(clk.now))

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
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "b"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	l, err := db.List(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if names := []string{l[0].Name, l[1].Name}; len(l) != 2 || !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("List(jobs) = %+v, want a and b", l)
	}
	if _, err := db.Create(ctx, "", store.Stream{Name: "x"}); err == nil {
		t.Error("Create with an empty namespace succeeded")
	}
}

func TestAppendAndRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	db := open(t, t.TempDir(), store.WithClock(clk.now))
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("a")}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Append to a missing stream: %v", err)
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
		{2, 10, []string{"c", "d\nmulti-line"}},
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
	if !events[0].Time.Equal(clk.now().Add(-time.Second)) || !events[1].Time.Equal(clk.now()) {
		t.Errorf("event times %v, %v; want the append times", events[0].Time, events[1].Time)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, t.TempDir())
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
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "j", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("1", "2"), Finish: true}); err != nil {
		t.Fatal(err)
	}
	// A second process cannot open the file while the first has it.
	if db2, err := store.Open(dir, store.WithOpenTimeout(50*time.Millisecond)); err == nil {
		_ = db2.Close()
		t.Error("a second Open of the same directory succeeded")
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

	db = open(t, dir)
	s, events, err := db.Read(ctx, "jobs", "j", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Owner != "bob" || !s.Finished || !slices.Equal(texts(events), []string{"1", "2"}) {
		t.Errorf("after reopen: %+v %q", s, texts(events))
	}
}

func TestRetentionMaxEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, t.TempDir(), store.WithRetention(store.Retention{MaxEvents: 3}))
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
	// A batch larger than the bound keeps its newest events.
	s, err = db.Append(ctx, "logs", "x", store.Batch{Events: data("6", "7", "8", "9")})
	if err != nil || s.First != 7 || s.Last != 9 {
		t.Errorf("after a large batch: %+v, %v", s, err)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	db := open(t, t.TempDir(), store.WithClock(clk.now), store.WithRetention(store.Retention{MaxFinished: 2, MaxAge: time.Hour}))
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
	select {
	case <-gone:
	default:
		t.Error("removing a stream did not wake its readers")
	}
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
}

func TestChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(t.TempDir(), store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	ch := db.Changed("logs", "x")
	other := db.Changed("logs", "y")
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Update: func([]byte) ([]byte, error) { return nil, nil }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("an attrs-only change woke readers")
	default:
	}
	if _, err := db.Append(ctx, "logs", "x", store.Batch{Events: data("a")}); err != nil {
		t.Fatal(err)
	}
	<-ch
	select {
	case <-other:
		t.Fatal("another stream's readers were woken")
	default:
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	<-other // Close wakes everybody
	<-db.Changed("logs", "x")
}

func TestFollow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, t.TempDir())
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

// Many followers of a stream that a writer appends to concurrently each get
// every event exactly once, in order, and all end at the finish.
func TestFollowConcurrentWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, t.TempDir())
	if _, err := db.Create(ctx, "jobs", store.Stream{Name: "j"}); err != nil {
		t.Fatal(err)
	}
	const events, followers = 600, 10
	var wg sync.WaitGroup
	got := make([][]uint64, followers)
	for i := range followers {
		wg.Go(func() {
			err := store.Follow(ctx, db, "jobs", "j", 0, true, func(e store.Event) error {
				got[i] = append(got[i], e.ID)
				if i == 0 && e.ID%100 == 0 {
					time.Sleep(time.Millisecond) // a slow reader
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for i := 0; i < events; i += 3 {
		if _, err := db.Append(ctx, "jobs", "j", store.Batch{Events: data("a", "b", "c"), Finish: i+3 >= events}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, g := range got {
		if len(g) != events || g[0] != 1 || g[len(g)-1] != events {
			t.Fatalf("follower %d got %d events", i, len(g))
		}
		for j := 1; j < len(g); j++ {
			if g[j] != g[j-1]+1 {
				t.Fatalf("follower %d: id %d after %d", i, g[j], g[j-1])
			}
		}
	}
}

func TestResumePoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field   uint64
		md      []string
		want    uint64
		wantErr bool
	}{
		{0, nil, 0, false},
		{7, nil, 7, false},
		{7, []string{"9"}, 7, false},
		{0, []string{"9"}, 9, false},
		{0, []string{" 12 ", "3"}, 12, false},
		{0, []string{""}, 0, false},
		{0, []string{"18446744073709551615"}, ^uint64(0), false},
		{0, []string{"18446744073709551616"}, 0, true},
		{0, []string{"-1"}, 0, true},
		{0, []string{"abc"}, 0, true},
		{0, []string{"1.5"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.field, tt.md), func(t *testing.T) {
			t.Parallel()
			got, err := store.ResumePoint(tt.field, tt.md)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ResumePoint(%d, %q) = %d, %v", tt.field, tt.md, got, err)
			}
			if err != nil && !errors.Is(err, store.ErrResumePoint) {
				t.Errorf("error %v does not wrap ErrResumePoint", err)
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := map[string][]store.Option{
		"negative retention": {store.WithRetention(store.Retention{MaxEvents: -1})},
		"nil clock":          {store.WithClock(nil)},
		"negative interval":  {store.WithPruneInterval(-time.Second)},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if db, err := store.Open(t.TempDir(), opts...); err == nil {
				_ = db.Close()
				t.Error("Open succeeded")
			}
		})
	}
	if _, err := store.Open(""); err == nil {
		t.Error("Open without a directory succeeded")
	}
}
