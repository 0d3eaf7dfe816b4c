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
//
// Writes do not stop the timer: one armed by an earlier write is left to
// fire, and then looks at the write under way, if any. So a stream that
// writes often touches its timer about once a timeout, not twice a write.
type stallTimer struct {
	rc      *http.ResponseController
	timeout time.Duration
	timer   *time.Timer
	// since is when the write under way began (Unix nanoseconds), zero
	// between writes. The timer fires on its own goroutine.
	since atomic.Int64
	// armed is set while the timer is due to fire.
	armed atomic.Bool
}

// begin starts the clock of a write. The deadline is on the real
// connection, so it uses real time.
func (s *stallTimer) begin() {
	s.since.Store(time.Now().UnixNano())
	if !s.armed.CompareAndSwap(false, true) {
		return // it fires in time for this write, and looks at it then
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(s.timeout, s.fire)
		return
	}
	s.timer.Reset(s.timeout)
}

// end stops the clock once the write returned.
func (s *stallTimer) end() { s.since.Store(0) }

// stop releases the timer when the stream ends.
func (s *stallTimer) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// fire fails the write under way if it has taken the whole timeout, and
// waits again for one that has taken less; between writes it disarms.
func (s *stallTimer) fire() {
	for {
		if since := s.since.Load(); since != 0 {
			if took := time.Since(time.Unix(0, since)); took < s.timeout {
				s.timer.Reset(s.timeout - took)
				return
			}
			_ = s.rc.SetWriteDeadline(time.Unix(1, 0)) // in the past: the write fails now
			return
		}
		s.armed.Store(false)
		// A write that began before the store saw the timer armed and left
		// it: whichever of the two arms it now looks after that write.
		if s.since.Load() == 0 || !s.armed.CompareAndSwap(false, true) {
			return
		}
	}
}
