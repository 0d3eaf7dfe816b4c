package relay

import (
	"net/http"
	"sync/atomic"
	"time"
)

// stallTimer ends a write to the client that takes longer than timeout,
// by moving the connection's write deadline to now, which fails the
// write. It replaces a deadline set before and cleared after every write:
// under HTTP/2 each of those is a message to the connection's goroutine,
// and HTTP/2 resets a stream whose deadline passes even while it is idle.
// A timer of the stream's own costs far less, and only a stalled write
// touches the connection.
type stallTimer struct {
	rc      *http.ResponseController
	timeout time.Duration
	timer   *time.Timer
	// since is when the write under way began (Unix nanoseconds), zero
	// between writes. The timer fires on its own goroutine.
	since atomic.Int64
}

// begin starts the clock of a write. The deadline is on the real
// connection, so it uses real time.
func (s *stallTimer) begin() {
	s.since.Store(time.Now().UnixNano())
	if s.timer == nil {
		s.timer = time.AfterFunc(s.timeout, s.fire)
		return
	}
	s.timer.Reset(s.timeout)
}

// end stops the clock once the write returned.
func (s *stallTimer) end() {
	s.since.Store(0)
	s.timer.Stop()
}

// fire fails the write under way if it has taken the whole timeout; one
// that began later (the timer fired for an earlier write) gets the rest.
func (s *stallTimer) fire() {
	since := s.since.Load()
	if since == 0 {
		return
	}
	if took := time.Since(time.Unix(0, since)); took < s.timeout {
		s.timer.Reset(s.timeout - took)
		return
	}
	_ = s.rc.SetWriteDeadline(time.Unix(1, 0)) // in the past: the write fails now
}
