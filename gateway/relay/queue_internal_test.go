package relay

import (
	"context"
	"errors"
	"testing"
	"time"
)

func event(size int) Item { return Item{Event: &Encoded{Wire: make([]byte, size)}} }

// A queue admits items within its bounds in count and bytes, always one
// into an empty queue, an end (Err) whatever its bytes, nothing once
// closed; it hands them out in order, and after a close an ErrEvicted end.
func TestQueueBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		n, b   int
		offer  []Item
		close  bool
		admits []bool
		takes  int // items taken before the queue is empty
	}{
		{name: "count", n: 2, b: 1 << 20, offer: []Item{event(1), event(1), event(1)}, admits: []bool{true, true, false}, takes: 2},
		{name: "bytes", n: 10, b: 100, offer: []Item{event(60), event(40), event(1)}, admits: []bool{true, true, false}, takes: 2},
		{name: "large into empty", n: 10, b: 100, offer: []Item{event(500), event(1)}, admits: []bool{true, false}, takes: 1},
		{name: "end past bytes", n: 10, b: 100, offer: []Item{event(100), {Err: errors.New("done")}}, admits: []bool{true, true}, takes: 2},
		{name: "end past count", n: 1, b: 100, offer: []Item{event(1), {Err: errors.New("done")}}, admits: []bool{true, false}, takes: 1},
		{name: "closed", n: 10, b: 100, close: true, offer: []Item{event(1)}, admits: []bool{false}, takes: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := NewQueue(tc.n, tc.b)
			if tc.close {
				q.Close()
			}
			var want []Item
			for i, it := range tc.offer {
				if got := q.Offer(it); got != tc.admits[i] {
					t.Errorf("offer %d: %v, want %v", i, got, tc.admits[i])
				}
				if tc.admits[i] {
					want = append(want, it)
				}
			}
			if q.Len() != tc.takes {
				t.Errorf("Len = %d, want %d", q.Len(), tc.takes)
			}
			for i := range tc.takes {
				got, ok := q.take()
				if !ok || got.Event != want[i].Event || got.Err != want[i].Err {
					t.Fatalf("take %d = %+v, %v; want %+v", i, got, ok, want[i])
				}
			}
			got, ok := q.take()
			switch {
			case tc.close && (!ok || !errors.Is(got.Err, ErrEvicted)):
				t.Errorf("closed and empty: take = %+v, %v; want ErrEvicted", got, ok)
			case !tc.close && ok:
				t.Errorf("empty: take = %+v, want none", got)
			}
		})
	}
}

// Put waits for room and gets in once the writer takes; it gives up when
// its context ends or the queue closes.
func TestQueuePutWaits(t *testing.T) {
	t.Parallel()
	q := NewQueue(1, 1<<20)
	if !q.Put(t.Context(), event(1)) {
		t.Fatal("Put into an empty queue failed")
	}
	put := make(chan bool)
	go func() { put <- q.Put(t.Context(), event(2)) }()
	select {
	case <-put:
		t.Fatal("Put into a full queue returned before anything was taken")
	case <-time.After(20 * time.Millisecond):
	}
	if _, ok := q.take(); !ok {
		t.Fatal("take found nothing")
	}
	if !<-put {
		t.Fatal("Put failed after room was made")
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { put <- q.Put(ctx, event(3)) }()
	cancel()
	if <-put {
		t.Error("Put into a full queue succeeded after its context ended")
	}
	go func() { put <- q.Put(t.Context(), event(4)) }()
	q.Close()
	if <-put {
		t.Error("Put succeeded after the queue closed")
	}
}

// A drained queue gives back what a burst made it hold, so an idle stream
// holds no item storage.
func TestQueueReleasesBurstMemory(t *testing.T) {
	t.Parallel()
	q := NewQueue(256, 1<<20)
	for range 200 {
		q.Offer(event(1))
	}
	for q.Len() > 0 {
		q.take()
	}
	if c := cap(q.items); c > keptItems {
		t.Errorf("drained queue keeps room for %d items, want at most %d", c, keptItems)
	}
	// Items that wrap around are still taken in order.
	q = NewQueue(4, 1<<20)
	next := 0
	for i := range 50 {
		q.Offer(Item{Event: &Encoded{ID: string(rune('a' + i%26))}})
		if i%3 == 2 {
			for q.Len() > 1 {
				it, _ := q.take()
				if want := string(rune('a' + next%26)); it.Event.ID != want {
					t.Fatalf("took %q, want %q", it.Event.ID, want)
				}
				next++
			}
		}
	}
}
