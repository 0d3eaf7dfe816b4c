package revocation_test

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/gateway/revocation"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *revocation.Set, clock *clockwork.FakeClock)
	}{
		{"revoked", func(t *testing.T, s *revocation.Set, _ *clockwork.FakeClock) {
			s.Revoke("s1", t0.Add(time.Hour))
			if !s.Revoked("s1") || s.Revoked("s2") {
				t.Fatal("Revoked does not say which session was revoked")
			}
		}},
		{"a watch ends at the revocation", func(t *testing.T, s *revocation.Set, _ *clockwork.FakeClock) {
			c1, stop1 := s.Watch("s1")
			c2, stop2 := s.Watch("s1")
			other, stopOther := s.Watch("s2")
			defer stop1()
			defer stop2()
			defer stopOther()
			if isClosed(c1) || isClosed(c2) {
				t.Fatal("watch ended before the revocation")
			}
			s.Revoke("s1", t0.Add(time.Hour))
			if !isClosed(c1) || !isClosed(c2) || isClosed(other) {
				t.Fatal("the revocation ended the wrong watches")
			}
			s.Revoke("s1", t0.Add(2*time.Hour)) // again: no double close
		}},
		{"a watch of a revoked session ends at once", func(t *testing.T, s *revocation.Set, _ *clockwork.FakeClock) {
			s.Revoke("s1", t0.Add(time.Hour))
			c, stop := s.Watch("s1")
			stop()
			if !isClosed(c) {
				t.Fatal("watch of a revoked session still open")
			}
		}},
		{"stopped watches are forgotten", func(t *testing.T, s *revocation.Set, _ *clockwork.FakeClock) {
			_, stop := s.Watch("s1")
			stop()
			stop() // twice is harmless
			if s.Len() != 0 || s.Revoked("s1") {
				t.Fatalf("%d sessions kept after the only watch stopped", s.Len())
			}
		}},
		{"expired revocations are dropped", func(t *testing.T, s *revocation.Set, clock *clockwork.FakeClock) {
			s.Revoke("old", t0.Add(time.Minute))
			s.Revoke("new", t0.Add(time.Hour))
			c, stop := s.Watch("watched")
			defer stop()
			s.Revoke("watched", t0.Add(time.Minute))
			clock.Advance(2 * time.Minute)
			s.Revoke("next", t0.Add(time.Hour)) // sweeps
			if s.Revoked("old") || !s.Revoked("new") || !s.Revoked("watched") || !isClosed(c) {
				t.Fatalf("after the sweep: old %v new %v watched %v", s.Revoked("old"), s.Revoked("new"), s.Revoked("watched"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := clockwork.NewFakeClockAt(t0)
			tc.run(t, revocation.NewSet(clock), clock)
		})
	}
}
