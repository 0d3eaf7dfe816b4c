package apidocs_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/internal/browsertest"
)

// stepTimeout bounds one action or wait for the page.
const stepTimeout = 20 * time.Second

type css = chromedp.CSS

// newBrowser starts Chromium for t. It fails the test on exceptions, CSP
// or Trusted Types violations and any other error the page logged. The
// network's own reports of HTTP errors (the page asks for the session while
// signed out, and gets 401) are only logged.
func newBrowser(t *testing.T) *browsertest.Browser {
	t.Helper()
	return browsertest.New(t, browsertest.Options{
		Height:   900,
		Lifetime: 90 * time.Second,
		Step:     stepTimeout,
		ConsoleError: func(m chromedp.ConsoleMessage) bool {
			text := strings.ToLower(m.Text)
			return browsertest.DefaultConsoleError(m) || strings.Contains(text, "trusted type") ||
				m.Type == "error" && m.Source != "network"
		},
		State: `document.getElementById("console-log").innerText`,
	})
}

// The docs page lists the endpoints with their events, signs in, creates
// a job from the console, then opens the job's stream from the console and
// shows its events as they arrive, to the final end event.
func TestDocsPageConsole(t *testing.T) {
	t.Parallel()
	demo := startDemo(t)
	b := newBrowser(t)

	// A link to a schema lands on it, though the page is built after load.
	b.Do("open /docs at the Job schema", chromedp.Navigate(demo.URL+"/docs#schema-ssegate.jobs.v1.Job"))
	b.WaitFor("the page is rendered", `document.documentElement.dataset.ready === "true"`, stepTimeout)
	b.WaitFor("the Job schema is in view", `(() => {
		const r = document.getElementById("schema-ssegate.jobs.v1.Job").getBoundingClientRect();
		return r.top > 40 && r.top < innerHeight / 2; // below the sticky header
	})()`, stepTimeout)
	b.Screenshot("docs-schema")
	b.Do("scroll to the top", chromedp.ScrollIntoView(css("#intro")))

	var listed struct {
		Ops    []string
		Events []string
	}
	b.Eval(`({
		ops: [...document.querySelectorAll("#endpoints section.op")].map(s => s.dataset.method + " " + s.dataset.path),
		events: [...document.querySelectorAll('#op-JobService_WatchJob .events tbody tr')].map(r => r.dataset.event),
	})`, &listed)
	if len(listed.Ops) != 10 {
		t.Errorf("endpoints listed: %v", listed.Ops)
	}
	if got := strings.Join(listed.Events, " "); got != "progress partial log completed failed cancelled end error reset reconnect" {
		t.Errorf("WatchJob's events listed: %q", got)
	}
	if s := b.EvalString(`document.getElementById("session-state").textContent`); s != "Signed out" {
		t.Errorf("session state before signing in: %q", s)
	}

	b.Do("sign in",
		chromedp.SendKeys(css("#signin-user"), "demo"),
		chromedp.SendKeys(css("#signin-pass"), "demo"),
		chromedp.Click(css("#signin")))
	b.WaitFor("signed in", `document.getElementById("session-state").dataset.username === "demo"`, stepTimeout)

	b.Do("choose CreateJob", chromedp.Click(css(`button.try[data-operation-id="JobService_CreateJob"]`)))
	b.Do("fill the body and send",
		chromedp.SetValue(css("#console-body"), `{"limit": 20000000}`),
		chromedp.Click(css("#console-send")))
	b.WaitFor("the job is created", `document.querySelector('#console-log li.response[data-status="200"]') !== null`, stepTimeout)

	b.Do("choose WatchJob", chromedp.Click(css(`button.try[data-operation-id="JobService_WatchJob"]`)))
	var id string
	b.Eval(`document.getElementById("param-id").value`, &id)
	if id == "" {
		t.Fatal("the console did not fill the job id from CreateJob's answer")
	}
	b.Do("open the stream", chromedp.Click(css("#console-send")))
	b.WaitFor("progress events arrive", `document.querySelectorAll('#console-log li.event[data-event="progress"]').length >= 2`, stepTimeout)
	b.Do("show WatchJob's events", chromedp.ScrollIntoView(css("#op-JobService_WatchJob .events")))
	b.Screenshot("docs-streaming")
	b.WaitFor("the stream ends", `document.querySelector('#console-log li.event[data-event="end"]') !== null`, stepTimeout)
	b.WaitFor("the console closes it", `document.getElementById("console-state").dataset.state === "closed"`, stepTimeout)
	path := b.Screenshot("docs-ended")
	t.Logf("screenshots in %s", filepath.Dir(path))

	var got struct {
		Names []string
		IDs   []string
		Data  string
	}
	b.Eval(`({
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
