package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const (
	// defaultChromium is where Debian's chromium package puts the browser.
	defaultChromium = "/usr/bin/chromium"
	// browserLifetime bounds everything one test does with its browser.
	browserLifetime = 60 * time.Second
	// stepTimeout bounds one wait for the page.
	stepTimeout = 15 * time.Second
)

// css is a CSS selector for chromedp (a plain string would be a DOM search).
type css = chromedp.CSS

// browser is one headless Chromium with a fresh profile and one tab. It
// records the console and every EventSource request the tab makes.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; cancelled after browserLifetime
	dir string          // screenshots

	mu        sync.Mutex
	console   []chromedp.ConsoleMessage
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

func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("SSEGATE_CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		// Never skip: a missing browser must not look like a passing suite.
		t.Fatalf("e2e: these tests need Chromium at %s (Debian: apt-get install chromium; "+
			"or set SSEGATE_CHROMIUM to the browser's path): %v", path, err)
	}
	return path
}

// newBrowser starts Chromium for t; it is stopped when t ends. The tab's
// viewport is 1280x800.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserLifetime)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc)
	tctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)

	b := &browser{t: t, ctx: tctx, dir: t.TempDir(), streams: map[network.RequestID]*streamRequest{},
		rawStatus: map[network.RequestID]int64{}}
	// The first call starts the browser; it must not carry a short timeout.
	if err := chromedp.Listen(tctx, b.onEvent); err != nil {
		t.Fatalf("e2e: starting Chromium at %s: %v", path, err)
	}
	messages := chromedp.Console(tctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { <-done })
	t.Cleanup(cancelTab) // runs before the wait above
	t.Cleanup(b.checkConsole)
	b.do("set the viewport", chromedp.EmulateViewport(1280, 800))
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

// cspViolation matches Chromium's console report of a blocked resource.
var cspViolation = regexp.MustCompile(`(?i)content security policy`)

// checkConsole fails the test on uncaught exceptions and CSP violations.
func (b *browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.IsException() || cspViolation.MatchString(m.Text) {
			b.t.Errorf("browser console: %s", m.String())
		}
	}
}

// consoleText returns the console so far, for failure messages.
func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, m := range b.console {
		fmt.Fprintf(&sb, "  %s\n", m.String())
	}
	return sb.String()
}

// do runs actions with a bounded wait and fails the test, with a
// screenshot and the page's state, when they fail.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail stops the test with what was being done, the page's visible state
// and a screenshot.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	path := b.trySave("failure")
	b.t.Fatalf("%s: %v\npage state: %s\nscreenshot: %s\nconsole:\n%s", what, err, b.state(), path, b.consoleText())
}

// waitFor polls a JavaScript expression until it is truthy.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.fail("waiting until "+what, err)
	}
}

// eval evaluates expr in the page and decodes its value into v.
func (b *browser) eval(expr string, v any, opts ...chromedp.EvaluateOption) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, opts...))
	if err != nil {
		b.fail("evaluating "+expr, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("decoding %s = %s: %v", expr, raw, err)
	}
}

func (b *browser) evalString(expr string) string {
	b.t.Helper()
	var s string
	b.eval(expr, &s)
	return s
}

// state describes the page for failure messages; it never fails.
func (b *browser) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
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
	})()`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// screenshot saves the whole page as name.png in the test's directory and
// logs its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	path := b.trySave(name)
	if path == "" {
		b.t.Errorf("screenshot %s failed", name)
	}
	return path
}

func (b *browser) trySave(name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()) + "-" + name + ".png"
	path := filepath.Join(b.dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", path)
	if dir := os.Getenv("SSEGATE_E2E_SHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(dir, file), png, 0o644)
		}
	}
	return path
}
