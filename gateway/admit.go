package gateway

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/relay"
)

// admit applies the drain and the caps to a new stream. On success it
// returns the function that releases the stream's places.
//
// A refused SSE client gets a 200 with a reconnect event rather than a
// status, which would make EventSource give up for good: after a drain it
// comes back after the route's retry (to another instance, or this one
// restarted); over a cap, after a long jittered delay, so that waiting
// clients neither stop nor stampede. Other clients get 503 or 429 with
// Retry-After.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, route string, retry time.Duration, subject string, sse bool) (func(), bool) {
	reject := func(reason string, status int, code codes.Code, msg string) (func(), bool) {
		g.cfg.observer.StreamRejected(route, reason)
		switch {
		case !sse:
			httperr.WriteRetry(w, status, code, msg, retry+jitter(g.cfg.reconnectJitter))
		case reason == RejectDraining:
			relay.SendReconnect(w, retry+jitter(g.cfg.reconnectJitter))
		default:
			relay.SendReconnect(w, g.cfg.busyRetry+jitter(g.cfg.busyRetry))
		}
		return nil, false
	}
	if g.draining.Err() != nil {
		return reject(RejectDraining, http.StatusServiceUnavailable, codes.Unavailable, "server is restarting, try again")
	}
	if n := g.open.Add(1); g.cfg.maxStreams > 0 && n > int64(g.cfg.maxStreams) {
		g.open.Add(-1)
		return reject(RejectGlobalCap, http.StatusServiceUnavailable, codes.Unavailable, "server is busy, try again")
	}
	ip := g.cfg.clientIP(r)
	if g.cfg.perClientIP > 0 && !g.perClientIP.acquire(ip, g.cfg.perClientIP) {
		g.open.Add(-1)
		return reject(RejectClientIPCap, http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams from this address")
	}
	if subject != "" && g.cfg.perPrincipal > 0 && !g.perPrincipal.acquire(subject, g.cfg.perPrincipal) {
		g.open.Add(-1)
		if g.cfg.perClientIP > 0 {
			g.perClientIP.release(ip)
		}
		return reject(RejectPrincipalCap, http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams")
	}
	g.cfg.observer.StreamStarted(route)
	return func() {
		g.open.Add(-1)
		if g.cfg.perClientIP > 0 {
			g.perClientIP.release(ip)
		}
		if subject != "" && g.cfg.perPrincipal > 0 {
			g.perPrincipal.release(subject)
		}
	}, true
}

// Reasons a stream is refused before any upstream call, as told to
// Observer.StreamRejected.
const (
	RejectDraining     = "draining"
	RejectGlobalCap    = "global_cap"
	RejectClientIPCap  = "client_ip_cap"
	RejectPrincipalCap = "principal_cap"
)

// RejectReasons lists every reason, for observers that create their
// series up front.
var RejectReasons = []string{RejectDraining, RejectGlobalCap, RejectClientIPCap, RejectPrincipalCap}

// jitter returns a random duration in [0, max).
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// streamCounter counts open streams per key.
type streamCounter struct {
	mu   sync.Mutex
	open map[string]int
}

func newStreamCounter() *streamCounter { return &streamCounter{open: map[string]int{}} }

func (c *streamCounter) acquire(subject string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[subject] >= limit {
		return false
	}
	c.open[subject]++
	return true
}

func (c *streamCounter) release(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[subject] <= 1 {
		delete(c.open, subject)
		return
	}
	c.open[subject]--
}
