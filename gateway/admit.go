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
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, route, subject string, sse bool) (func(), bool) {
	reject := func(reason string, status int, code codes.Code, msg string) (func(), bool) {
		if g.cfg.observer != nil {
			g.cfg.observer.StreamRejected(route, reason)
		}
		httperr.WriteRetry(w, status, code, msg, g.cfg.retry+jitter(g.cfg.reconnectJitter))
		return nil, false
	}
	if g.draining.Err() != nil {
		if sse {
			if g.cfg.observer != nil {
				g.cfg.observer.StreamRejected(route, "draining")
			}
			relay.SendReconnect(w, g.cfg.retry+jitter(g.cfg.reconnectJitter))
			return nil, false
		}
		return reject("draining", http.StatusServiceUnavailable, codes.Unavailable, "server is restarting, try again")
	}
	if n := g.open.Add(1); g.cfg.maxStreams > 0 && n > int64(g.cfg.maxStreams) {
		g.open.Add(-1)
		return reject("global_cap", http.StatusServiceUnavailable, codes.Unavailable, "server is busy, try again")
	}
	ip := g.cfg.clientIP(r)
	if g.cfg.perClientIP > 0 && !g.perClientIP.acquire(ip, g.cfg.perClientIP) {
		g.open.Add(-1)
		return reject("client_ip_cap", http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams from this address")
	}
	if subject != "" && g.cfg.perPrincipal > 0 && !g.perPrincipal.acquire(subject, g.cfg.perPrincipal) {
		g.open.Add(-1)
		if g.cfg.perClientIP > 0 {
			g.perClientIP.release(ip)
		}
		return reject("principal_cap", http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams")
	}
	if g.cfg.observer != nil {
		g.cfg.observer.StreamStarted(route)
	}
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
