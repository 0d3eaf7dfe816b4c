package relay

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"
)

// Queue carries items to one stream's writer, bounded both in items and
// in bytes; an item always gets into an empty queue, however large. It
// holds memory only for what it holds, so the queue of an idle stream
// costs a few words: a shared upstream keeps one for each of thousands of
// browsers. One goroutine writes the stream; any number may add.
type Queue struct {
	max, maxBytes int

	mu     sync.Mutex
	items  []Item // items[head:] are queued
	head   int
	bytes  int  // of the queued items
	closed bool // the writer ends once it has taken what is queued

	ready chan struct{} // 1-buffered: items came, or the queue closed
	space chan struct{} // 1-buffered: items left
}

// keptItems bounds the capacity a drained queue keeps for reuse: a burst
// grows it, and an idle stream gives the memory back.
const keptItems = 8

// NewQueue returns a queue of at most n items and, beyond its first item,
// at most bytes bytes (zero or less: the defaults).
func NewQueue(n, bytes int) *Queue {
	if n <= 0 {
		n = DefaultQueue
	}
	if bytes <= 0 {
		bytes = DefaultQueueBytes
	}
	return &Queue{max: n, maxBytes: bytes, ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// sizeInQueue is what it counts against a queue's byte bound.
func (it Item) sizeInQueue() int {
	if it.Event != nil {
		return len(it.Event.Wire)
	}
	return it.size
}

// Offer adds it unless the queue is full (or closed), and never waits:
// the sender of a shared upstream, which must not wait for any one
// browser. An item that ends the stream (Err) needs only room in count.
func (q *Queue) Offer(it Item) bool {
	q.mu.Lock()
	ok := q.fits(it)
	if ok {
		q.push(it)
	}
	q.mu.Unlock()
	if ok {
		signal(q.ready)
	}
	return ok
}

// Put adds it, waiting while the queue is full; it reports false when ctx
// ends or the queue is closed first.
func (q *Queue) Put(ctx context.Context, it Item) bool {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return false
		}
		if q.fits(it) {
			q.push(it)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			return false
		}
	}
}

// Close ends the queue: the writer takes what it holds, then ends the
// stream without a final event (ErrEvicted), so the client reconnects.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
	signal(q.space)
}

// Len is the number of items queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// fits reports whether it may be added now. q.mu is held.
func (q *Queue) fits(it Item) bool {
	n := len(q.items) - q.head
	switch {
	case q.closed || n >= q.max:
		return false
	case n == 0 || it.Err != nil:
		return true
	}
	return q.bytes+it.sizeInQueue() <= q.maxBytes
}

// push appends it. q.mu is held.
func (q *Queue) push(it Item) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		// Slide the queued items down rather than grow.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, it)
	q.bytes += it.sizeInQueue()
}

// take removes the first item. It reports false when the queue is empty;
// once a closed queue is empty it returns an ErrEvicted end.
func (q *Queue) take() (Item, bool) {
	q.mu.Lock()
	if q.head == len(q.items) {
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return Item{Err: ErrEvicted}, true
		}
		return Item{}, false
	}
	it := q.items[q.head]
	q.items[q.head] = Item{}
	q.head++
	q.bytes -= it.sizeInQueue()
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > keptItems {
			q.items = nil
		}
	}
	q.mu.Unlock()
	signal(q.space)
	return it, true
}

// signal wakes the one waiter of c, if it is not already woken.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// receive reads messages from stream into q until the stream ends; it
// stops early when ctx is done, so it never outlives the request.
func receive(ctx context.Context, q *Queue, stream Stream, newMsg func() proto.Message) {
	for {
		msg := newMsg()
		err := stream.RecvMsg(msg)
		it := Item{Msg: msg, Err: err}
		if err == nil {
			it.size = proto.Size(msg)
		} else {
			it.Msg = nil
		}
		if !q.Put(ctx, it) || err != nil {
			return
		}
	}
}
