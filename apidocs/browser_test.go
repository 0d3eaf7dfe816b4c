package apidocs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// defaultChromium is where Debian's chromium package puts the browser.
	defaultChromium = "/usr/bin/chromium"
	stepTimeout     = 20 * time.Second
)

type css = chromedp.CSS

// browser is one headless Chromium with a fresh profile and one tab; it
// keeps the tab's console.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("SSEGATE_CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		// Never skip: a missing browser must not look like a passing test.
		t.Fatalf("apidocs: the browser test needs Chromium at %s (Debian: apt-get install chromium; "+
			"or set SSEGATE_CHROMIUM): %v", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
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
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	tctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: tctx}
	messages := chromedp.Console(tctx) // the first call starts the browser
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
	t.Cleanup(cancelTab)
	t.Cleanup(b.checkConsole)
	b.do("set the viewport", chromedp.EmulateViewport(1280, 900))
	return b
}

// checkConsole fails the test on exceptions, CSP or Trusted Types
// violations and any other error the page logged. The network's own
// reports of HTTP errors (the page asks for the session while signed out,
// and gets 401) are only logged.
func (b *browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		text := strings.ToLower(m.Text)
		switch {
		case m.IsException(), strings.Contains(text, "content security policy"), strings.Contains(text, "trusted type"),
			m.Type == "error" && m.Source != "network":
			b.t.Errorf("browser console: %s", m.String())
		default:
			b.t.Logf("browser console: %s", m.String())
		}
	}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitFor polls a JavaScript expression until it is truthy.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
	if err != nil {
		b.fail("waiting until "+what, err)
	}
}

func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.fail("evaluating "+expr, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("decoding %s = %s: %v", expr, raw, err)
	}
}

// screenshot saves the viewport as name.png in the test's artifact
// directory (kept with go test -artifacts) and returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("saving %s: %v", path, err)
	}
	return path
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	path := b.screenshot("failure")
	var log string
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	log, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("console-log").innerText`))
	b.t.Fatalf("%s: %v\nconsole log on the page:\n%s\nscreenshot: %s", what, err, log, path)
}

// The docs page lists the endpoints with their events, signs in, creates
// a job from the console, then opens the job's stream from the console and
// shows its events as they arrive, to the final end event.
func TestDocsPageConsole(t *testing.T) {
	t.Parallel()
	demo := startDemo(t)
	b := newBrowser(t)

	// A link to a schema lands on it, though the page is built after load.
	b.do("open /docs at the Job schema", chromedp.Navigate(demo.URL+"/docs#schema-ssegate.jobs.v1.Job"))
	b.waitFor("the page is rendered", `document.documentElement.dataset.ready === "true"`)
	b.waitFor("the Job schema is in view", `(() => {
		const r = document.getElementById("schema-ssegate.jobs.v1.Job").getBoundingClientRect();
		return r.top > 40 && r.top < innerHeight / 2; // below the sticky header
	})()`)
	b.screenshot("docs-schema")
	b.do("scroll to the top", chromedp.ScrollIntoView(css("#intro")))

	var listed struct {
		Ops    []string
		Events []string
	}
	b.eval(`({
		ops: [...document.querySelectorAll("#endpoints section.op")].map(s => s.dataset.method + " " + s.dataset.path),
		events: [...document.querySelectorAll('#op-JobService_WatchJob .events tbody tr')].map(r => r.dataset.event),
	})`, &listed)
	if len(listed.Ops) != 10 {
		t.Errorf("endpoints listed: %v", listed.Ops)
	}
	if got := strings.Join(listed.Events, " "); got != "progress partial log completed failed cancelled end error reconnect" {
		t.Errorf("WatchJob's events listed: %q", got)
	}
	if s := evalString(b, `document.getElementById("session-state").textContent`); s != "Signed out" {
		t.Errorf("session state before signing in: %q", s)
	}

	b.do("sign in",
		chromedp.SendKeys(css("#signin-user"), "demo"),
		chromedp.SendKeys(css("#signin-pass"), "demo"),
		chromedp.Click(css("#signin")))
	b.waitFor("signed in", `document.getElementById("session-state").dataset.username === "demo"`)

	b.do("choose CreateJob", chromedp.Click(css(`button.try[data-operation-id="JobService_CreateJob"]`)))
	b.do("fill the body and send",
		chromedp.SetValue(css("#console-body"), `{"limit": 20000000}`),
		chromedp.Click(css("#console-send")))
	b.waitFor("the job is created", `document.querySelector('#console-log li.response[data-status="200"]') !== null`)

	b.do("choose WatchJob", chromedp.Click(css(`button.try[data-operation-id="JobService_WatchJob"]`)))
	var id string
	b.eval(`document.getElementById("param-id").value`, &id)
	if id == "" {
		t.Fatal("the console did not fill the job id from CreateJob's answer")
	}
	b.do("open the stream", chromedp.Click(css("#console-send")))
	b.waitFor("progress events arrive", `document.querySelectorAll('#console-log li.event[data-event="progress"]').length >= 2`)
	b.do("show WatchJob's events", chromedp.ScrollIntoView(css("#op-JobService_WatchJob .events")))
	b.screenshot("docs-streaming")
	b.waitFor("the stream ends", `document.querySelector('#console-log li.event[data-event="end"]') !== null`)
	b.waitFor("the console closes it", `document.getElementById("console-state").dataset.state === "closed"`)
	path := b.screenshot("docs-ended")
	t.Logf("screenshots in %s", filepath.Dir(path))

	var got struct {
		Names []string
		IDs   []string
		Data  string
	}
	b.eval(`({
		names: [...document.querySelectorAll("#console-log li.event")].map(li => li.dataset.event),
		ids: [...document.querySelectorAll("#console-log li.event")].map(li => li.dataset.id),
		data: (document.querySelector('#console-log li.event[data-event="completed"] pre') || {}).textContent || "",
	})`, &got)
	for _, want := range []string{"log", "progress", "partial", "completed", "end"} {
		if !slices.Contains(got.Names, want) {
			t.Errorf("the console shows no %s event: %v", want, got.Names)
		}
	}
	if id := got.IDs[len(got.IDs)-1]; id != "" {
		t.Errorf("the end event shows id %q; it has none", id)
	}
	if got.Names[len(got.Names)-1] != "end" {
		t.Errorf("last event %q, want end", got.Names[len(got.Names)-1])
	}
	if got.IDs[0] != "1" {
		t.Errorf("first event id %q, want 1", got.IDs[0])
	}
	var completed struct{ Count, Largest int }
	if err := json.Unmarshal([]byte(got.Data), &completed); err != nil || completed.Count != 1270607 || completed.Largest != 19999999 {
		t.Errorf("completed data %q: %v", got.Data, err)
	}
}

func evalString(b *browser, expr string) string {
	b.t.Helper()
	var s string
	b.eval(expr, &s)
	return s
}
