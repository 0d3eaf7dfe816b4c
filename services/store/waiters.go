package store

import "sync"

// Waiters hands out, for each key, a channel that is closed at the key's
// next change: the Changed half of a Streams implementation. The zero
// value is ready to use; it is safe for concurrent use.
type Waiters struct {
	mu     sync.Mutex
	m      map[string]chan struct{}
	closed bool
}

// Wait returns the channel that Notify(key) closes; once Close has been
// called, a closed one.
func (w *Waiters) Wait(key string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch, ok := w.m[key]
	if !ok {
		if w.m == nil {
			w.m = make(map[string]chan struct{})
		}
		ch = make(chan struct{})
		w.m[key] = ch
	}
	return ch
}

// Notify wakes the waiters of key.
func (w *Waiters) Notify(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.m[key]; ok {
		close(ch)
		delete(w.m, key)
	}
}

// NotifyAll wakes every waiter, as after a gap in which changes may have
// been missed.
func (w *Waiters) NotifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notifyAllLocked()
}

// Close wakes every waiter; later waits return at once.
func (w *Waiters) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.notifyAllLocked()
}

func (w *Waiters) notifyAllLocked() {
	for k, ch := range w.m {
		close(ch)
		delete(w.m, k)
	}
}

// Waited reports whether anyone waits on key.
func (w *Waiters) Waited(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.m[key]
	return ok
}

// Keys returns the keys waited on.
func (w *Waiters) Keys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(w.m))
	for k := range w.m {
		keys = append(keys, k)
	}
	return keys
}
