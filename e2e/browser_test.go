package e2e_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/internal/browsertest"
)

// stepTimeout bounds one wait for the page.
const stepTimeout = 15 * time.Second

// css is a CSS selector for chromedp (a plain string would be a DOM search).
type css = chromedp.CSS

// browser is one headless Chromium with a fresh profile and one tab. It
// records the console and every EventSource request the tab makes.
type browser struct {
	*browsertest.Browser

	mu        sync.Mutex
	streams   map[network.RequestID]*streamRequest
	rawStatus map[network.RequestID]int64
	order     []network.RequestID
}

// streamRequest is one EventSource request seen on the network.
type streamRequest struct {
	URL    string
	Status int64 // 0 until the response headers arrive
	Done   bool  // finished or failed: the connection is gone
	Error  string
}

// newBrowser starts Chromium for t; it is stopped when t ends. The tab's
// viewport is 1280x800; the test fails on uncaught exceptions and CSP
// violations in the console.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{streams: map[network.RequestID]*streamRequest{}, rawStatus: map[network.RequestID]int64{}}
	b.Browser = browsertest.New(t, browsertest.Options{
		Lifetime: 60 * time.Second,
		Step:     stepTimeout,
		FullPage: true,
		ShotsDir: os.Getenv("SSEGATE_E2E_SHOTS"),
		State:    pageState,
		OnEvent:  b.onEvent,
	})
	return b
}

// onEvent runs on chromedp's reader goroutine: it must be quick.
func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Type == network.ResourceTypeEventSource {
			b.streams[e.RequestID] = &streamRequest{URL: e.Request.URL}
			b.order = append(b.order, e.RequestID)
		}
	case *network.EventResponseReceived:
		if s := b.streams[e.RequestID]; s != nil {
			s.Status = e.Response.Status
		}
	case *network.EventResponseReceivedExtraInfo:
		// Also sent for responses that CORS keeps from the page, and
		// sometimes before the request's own event.
		b.rawStatus[e.RequestID] = e.StatusCode
	case *network.EventLoadingFinished:
		if s := b.streams[e.RequestID]; s != nil {
			s.Done = true
		}
	case *network.EventLoadingFailed:
		if s := b.streams[e.RequestID]; s != nil {
			s.Done, s.Error = true, e.ErrorText
		}
	}
}

// eventSources returns a copy of the EventSource requests seen so far, in
// the order they started.
func (b *browser) eventSources() []streamRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]streamRequest, 0, len(b.order))
	for _, id := range b.order {
		s := *b.streams[id]
		if s.Status == 0 {
			s.Status = b.rawStatus[id]
		}
		out = append(out, s)
	}
	return out
}

// pageState describes the page for failure messages.
const pageState = `(() => {
	const q = (id, attr) => { const e = document.getElementById(id); return e ? (attr ? e.getAttribute(attr) : e.textContent.trim()) : '<none>'; };
	return JSON.stringify({
		url: location.href,
		signinError: q('signin-error'), whoami: q('whoami'),
		job: q('job-panel', 'data-job-id'), status: q('job-status'), conn: q('conn-state', 'data-state'),
		percent: q('percent'), result: q('result-count', 'data-value'), jobError: q('job-error'),
		logConn: q('log-conn-state', 'data-state'), logError: q('log-error'),
		events: document.querySelectorAll('#event-ids li').length,
		openStreams: document.documentElement.dataset.openStreams,
	});
})()`
