package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/natsstore"
	"github.com/ssegate/ssegate/services/store/natsstore/natstest"
	"github.com/ssegate/ssegate/services/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var prefixes atomic.Int64

// backend returns the suite's backend on the servers at url: each history
// is its own prefix, so the suite's tests share the servers.
func backend(url string, replicas int) func(t *testing.T) storetest.Backend {
	return func(t *testing.T) storetest.Backend {
		prefix := fmt.Sprintf("t%d", prefixes.Add(1))
		return func(t *testing.T, o storetest.Options) storetest.Store {
			t.Helper()
			return open(t, url, o, natsstore.WithPrefix(prefix), natsstore.WithReplicas(replicas))
		}
	}
}

func open(t *testing.T, url string, o storetest.Options, opts ...natsstore.Option) *natsstore.Store {
	t.Helper()
	opts = append([]natsstore.Option{natsstore.WithRetention(o.Retention), natsstore.WithPruneInterval(0)}, opts...)
	if o.Now != nil {
		opts = append(opts, natsstore.WithClock(o.Now))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := natsstore.Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// The suite against one server, streams kept once.
func TestSuiteOneServer(t *testing.T) {
	srv := natstest.Start(t)
	storetest.Run(t, storetest.Config{New: backend(srv.URL, 1), Shared: true})
}

// The suite against a cluster of three, every stream kept by all three.
func TestSuiteThreeServers(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	storetest.Run(t, storetest.Config{New: backend(c.URL(), 3), Shared: true})
}

func texts(events []store.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%d:%s", e.ID, e.Data))
	}
	return out
}

// A batch is in once committed: when its writer dies before publishing
// its events, readers elsewhere get them all the same, and the next batch,
// from any store, publishes them first, once and in order.
func TestCommittedEventsOutliveTheirWriter(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := t.Context()
	prefix := natsstore.WithPrefix("outlive")
	dying := open(t, srv.URL, storetest.Options{}, prefix, natsstore.WithReplicas(1), natsstore.WithoutPublishing())
	if _, err := dying.Create(ctx, "jobs", store.Stream{Name: "j"}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []store.Batch{{Events: [][]byte{[]byte("a"), []byte("b")}}, {Events: [][]byte{[]byte("c")}}} {
		if _, err := dying.Append(ctx, "jobs", "j", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := dying.Close(); err != nil {
		t.Fatal(err)
	}
	// Memory would hide what the events stream lacks: none here.
	other := open(t, srv.URL, storetest.Options{}, prefix, natsstore.WithReplicas(1), natsstore.WithCacheBytes(0))
	want := []string{"1:a", "2:b", "3:c"}
	if _, events, err := other.Read(ctx, "jobs", "j", 0, 0); err != nil || !slices.Equal(texts(events), want) {
		t.Fatalf("another store reads %q, %v; want %q", texts(events), err, want)
	}
	if _, err := other.Append(ctx, "jobs", "j", store.Batch{Events: [][]byte{[]byte("d")}, Finish: true}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "4:d")
	for after := range uint64(4) {
		// Each read from after starts in the events stream, which must have
		// every event once: "c" is no longer pending.
		_, events, err := other.Read(ctx, "jobs", "j", after, 0)
		if err != nil || !slices.Equal(texts(events), want[after:]) {
			t.Errorf("Read after %d = %q, %v; want %q", after, texts(events), err, want[after:])
		}
	}
}

// Of two owners, one gets a lease; the other gets it once the first
// releases it, or stops renewing it until it lapses, and the first can then
// renew it no more.
func TestLeases(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := t.Context()
	a := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("leases"), natsstore.WithReplicas(1))
	b := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("leases"), natsstore.WithReplicas(1))

	la, err := a.Acquire(ctx, "jobs/1", "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "jobs/1", "b", time.Second); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("Acquire of a held lease: %v, want ErrLeaseHeld", err)
	}
	if _, err := b.Acquire(ctx, "jobs/2", "b", time.Second); err != nil {
		t.Fatalf("Acquire of another lease: %v", err)
	}
	if err := la.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, "jobs/1", "b", time.Second)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if err := la.Renew(ctx); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("Renew of a released lease: %v, want ErrLeaseLost", err)
	}
	// b stops renewing: the servers drop the lease after its TTL.
	var lc store.Lease
	for lc == nil {
		switch l, err := a.Acquire(ctx, "jobs/1", "a", time.Second); {
		case err == nil:
			lc = l
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Fatal(err)
		case ctx.Err() != nil:
			t.Fatal("the lease never lapsed")
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := lb.Renew(ctx); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("Renew of a lapsed lease taken by another: %v, want ErrLeaseLost", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lease: %v", err)
	}
	if err := lc.Renew(ctx); err != nil {
		t.Fatalf("the new owner's Renew: %v (a lost lease's Release took it)", err)
	}
}

// While its server is down a store fails fast with ErrUnavailable, and
// Check says so; once the server is back (on its data) the store serves
// again by itself, with everything it had.
func TestServerDownAndBack(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := t.Context()
	st := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("down"), natsstore.WithReplicas(1),
		natsstore.WithTimeout(500*time.Millisecond))
	if _, err := st.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("kept")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	srv.Kill()
	if _, err := st.Get(ctx, "logs", "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get while the server is down: %v, want ErrUnavailable", err)
	}
	if _, err := st.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("lost?")}}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Append while the server is down: %v, want ErrUnavailable", err)
	}
	if err := st.Check(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Check while the server is down: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	for st.Check(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("the store never came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, events, err := st.Read(ctx, "logs", "x", 0, 0)
	if err != nil || len(events) == 0 || string(events[0].Data) != "kept" {
		t.Fatalf("after the restart: %q, %v", texts(events), err)
	}
}

// BenchmarkJetStream measures the store on one server and on a cluster of
// three with R3, each with sync_interval always: see storetest's
// benchmarks.
func BenchmarkJetStream(b *testing.B) {
	for _, n := range []int{1, 3} {
		c := natstest.StartCluster(b, n)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := natsstore.Open(ctx, c.URL(), natsstore.WithPrefix("bench"), natsstore.WithReplicas(n), natsstore.WithPruneInterval(0))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dservers/append", n), func(b *testing.B) { storetest.BenchAppend(b, st) })
		b.Run(fmt.Sprintf("%dservers/fanout100", n), func(b *testing.B) { storetest.BenchFanOut(b, st, 100) })
		b.Run(fmt.Sprintf("%dservers/latency", n), func(b *testing.B) { storetest.BenchLatency(b, st) })
		_ = st.Close()
	}
}

// A reader woken by a change gets at least that change, even from a
// leader that answers with an older revision than a follower delivered
// (the stream's leader applies a write after the quorum has it, and the
// change watch may read from a follower that applied it first): otherwise
// it would wait for a wake that has come and gone, here at the finish.
func TestReadersGetWhatWokeThem(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	writer := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("lag"), natsstore.WithReplicas(1))
	reader := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("lag"), natsstore.WithReplicas(1), natsstore.WithLaggingLeader())
	if _, err := writer.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 100)
	followed := make(chan error, 1)
	go func() {
		followed <- store.Follow(ctx, reader, "logs", "x", 0, true, func(e store.Event) error {
			got <- e.ID
			return nil
		})
	}()
	const n = 20
	for i := range n {
		if _, err := writer.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("e")}, Finish: i == n-1}); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got:
			if id != uint64(i+1) {
				t.Fatalf("event %d has id %d", i+1, id)
			}
		case err := <-followed:
			t.Fatalf("Follow ended before event %d: %v (woken for it, it read an older state and waited on)", i+1, err)
		}
	}
	if err := <-followed; err != nil {
		t.Fatalf("Follow: %v (woken for the finish, it read an older state and waited on)", err)
	}
}

// Readers of a store whose change watch is lost still get every change,
// late: the store looks at the streams they wait on itself.
func TestReadersOutliveALostWatch(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	writer := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("nowatch"), natsstore.WithReplicas(1))
	reader := open(t, srv.URL, storetest.Options{}, natsstore.WithPrefix("nowatch"), natsstore.WithReplicas(1), natsstore.WithoutChangeWatch())
	if _, err := writer.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	followed := make(chan error, 1)
	go func() {
		followed <- store.Follow(ctx, reader, "logs", "x", 0, true, func(e store.Event) error {
			got = append(got, e.ID)
			return nil
		})
	}()
	for i := range 3 {
		if _, err := writer.Append(ctx, "logs", "x", store.Batch{Events: [][]byte{[]byte("e")}, Finish: i == 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-followed; err != nil || !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("Follow = %v, %v; want 1..3 and the end", got, err)
	}
}

// A store opened while its cluster has no quorum (a service started with
// the cluster, or during an election) waits for it, up to the caller's
// deadline, instead of failing at once.
func TestOpenWaitsForJetStream(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	c.Servers[1].Kill()
	c.Servers[2].Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	type result struct {
		st  *natsstore.Store
		err error
	}
	opened := make(chan result, 1)
	go func() {
		st, err := openR3(ctx, c.URL(), "wait")
		opened <- result{st, err}
	}()
	select {
	case r := <-opened:
		t.Fatalf("Open without a quorum returned at once: %v", r.err)
	case <-time.After(2 * time.Second): // several attempts, each 500 ms
	}
	c.Servers[1].Restart()
	c.Servers[2].Restart()
	r := <-opened
	if r.err != nil {
		t.Fatalf("Open once the quorum was back: %v", r.err)
	}
	defer r.st.Close()
	if _, err := r.st.Create(ctx, "logs", store.Stream{Name: "x"}); err != nil {
		t.Fatal(err)
	}
}

// Open gives up when the caller's deadline passes, saying why: no quorum
// (ErrUnavailable), or more replicas than the servers can hold, which it
// waits out too (peers may be on their way).
func TestOpenFailsAtTheDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		servers int // of which all but one are killed
		want    func(error) bool
	}{
		{"no quorum", 3, func(err error) bool { return errors.Is(err, store.ErrUnavailable) }},
		{"3 replicas on one server", 1, func(err error) bool { return strings.Contains(err.Error(), "3 replicas") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := natstest.StartCluster(t, tc.servers)
			for _, srv := range c.Servers[1:] {
				srv.Kill()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			st, err := openR3(ctx, c.URL(), "late")
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !tc.want(err) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

// openR3 opens a store with three replicas that tries every 500 ms.
func openR3(ctx context.Context, url, prefix string) (*natsstore.Store, error) {
	return natsstore.Open(ctx, url, natsstore.WithPrefix(prefix), natsstore.WithReplicas(3),
		natsstore.WithPruneInterval(0), natsstore.WithTimeout(500*time.Millisecond))
}
