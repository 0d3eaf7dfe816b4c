package auth

import (
	"sync"
	"time"
)

// limiter slows down guessing: it counts failed sign-ins per key (a user
// name, a client address) and, past the first few, makes every attempt on
// that key wait, the wait doubling with each further failure up to a cap.
// An attempt that must wait is refused before the password is hashed, so
// guessing costs the service nothing. A success clears the key; a key with
// no failure for the longest wait is forgotten. At most maxKeys keys are
// kept; past that the stalest are dropped.
type limiter struct {
	free          int           // failures allowed before waits start
	base, longest time.Duration // the first wait, and the longest
	maxKeys       int
	now           func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n     int
	last  time.Time // of the last failure
	until time.Time // no attempt before this
}

func newLimiter(free int, base, longest time.Duration, now func() time.Time) *limiter {
	return &limiter{free: free, base: base, longest: longest, maxKeys: 100_000, now: now, keys: map[string]*failures{}}
}

// wait returns how long an attempt on key must still wait; zero lets it
// through.
func (l *limiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.get(key)
	if f == nil {
		return 0
	}
	return max(f.until.Sub(l.now()), 0)
}

// fail records a failed attempt on key and returns the wait it now has.
func (l *limiter) fail(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.get(key)
	if f == nil {
		if len(l.keys) >= l.maxKeys {
			l.prune(now)
		}
		f = &failures{}
		l.keys[key] = f
	}
	f.n++
	f.last = now
	if f.n < l.free {
		return 0
	}
	wait := l.base << min(f.n-l.free, 30)
	if wait > l.longest || wait <= 0 {
		wait = l.longest
	}
	f.until = now.Add(wait)
	return wait
}

// reset forgets key's failures.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// get returns key's failures, forgetting them when they are stale.
func (l *limiter) get(key string) *failures {
	f := l.keys[key]
	if f != nil && l.stale(f, l.now()) {
		delete(l.keys, key)
		return nil
	}
	return f
}

func (l *limiter) stale(f *failures, now time.Time) bool {
	return now.Sub(f.last) > l.longest && !now.Before(f.until)
}

// prune drops the stale keys, and if none is stale the oldest half.
func (l *limiter) prune(now time.Time) {
	for k, f := range l.keys {
		if l.stale(f, now) {
			delete(l.keys, k)
		}
	}
	if len(l.keys) < l.maxKeys {
		return
	}
	var oldest time.Time
	for _, f := range l.keys {
		if oldest.IsZero() || f.last.Before(oldest) {
			oldest = f.last
		}
	}
	mid := oldest.Add(now.Sub(oldest) / 2)
	for k, f := range l.keys {
		if !f.last.After(mid) {
			delete(l.keys, k)
		}
	}
}
