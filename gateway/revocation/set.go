// Package revocation keeps the sessions their issuer revoked before they
// expired (signed out), as the issuer publishes them through
// ssegate.v1.SessionRevocationService: a Watcher follows that stream into
// a Set, which the session middleware asks before it accepts a cookie and
// whose Watch ends a revoked session's open streams. Every gateway that
// watches the same issuer holds the same set, so a session signed out
// through one gateway ends on all of them.
package revocation

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// sweepEvery is how often Revoke drops revocations whose sessions have
// expired anyway.
const sweepEvery = time.Minute

// Set is the revoked session ids, each kept until its session would have
// expired. Safe for concurrent use.
type Set struct {
	clock clockwork.Clock

	mu       sync.Mutex
	sessions map[string]*entry
	swept    time.Time
}

// entry is one session that is revoked, watched, or both.
type entry struct {
	revoked  bool
	expire   time.Time     // of a revoked session
	done     chan struct{} // closed at revocation; nil until watched
	watchers int
}

// closed is the channel Watch returns for a session already revoked.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// NewSet returns an empty Set whose expiries are read on clock.
func NewSet(clock clockwork.Clock) *Set {
	return &Set{clock: clock, sessions: map[string]*entry{}, swept: clock.Now()}
}

// Revoke records that session was revoked, until expire (when its tokens
// expire anyway), and ends its watches.
func (s *Set) Revoke(session string, expire time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.swept) >= sweepEvery {
		s.sweep(now)
	}
	e := s.sessions[session]
	if e == nil {
		e = &entry{}
		s.sessions[session] = e
	}
	if e.expire.Before(expire) {
		e.expire = expire
	}
	if !e.revoked {
		e.revoked = true
		if e.done != nil {
			close(e.done)
		}
	}
}

// sweep drops the revocations of sessions expired by now that nobody
// watches. s.mu is held.
func (s *Set) sweep(now time.Time) {
	s.swept = now
	for id, e := range s.sessions {
		if e.revoked && e.watchers == 0 && !now.Before(e.expire) {
			delete(s.sessions, id)
		}
	}
}

// Revoked reports whether session was revoked.
func (s *Set) Revoked(session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.sessions[session]
	return e != nil && e.revoked
}

// Watch returns a channel that is closed when session is revoked (at once
// if it is), and stop, to call when the caller no longer cares, such as
// when the stream of that session ends.
func (s *Set) Watch(session string) (revoked <-chan struct{}, stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.sessions[session]
	if e != nil && e.revoked {
		return closed, func() {}
	}
	if e == nil {
		e = &entry{}
		s.sessions[session] = e
	}
	if e.done == nil {
		e.done = make(chan struct{})
	}
	e.watchers++
	var once sync.Once
	return e.done, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			e.watchers--
			if e.watchers == 0 && !e.revoked && s.sessions[session] == e {
				delete(s.sessions, session)
			}
		})
	}
}

// Len is the number of sessions revoked or watched.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
