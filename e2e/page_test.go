package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ssegate/ssegate/internal/config"
)

// π(10^6) and π(10^7), with the largest primes below those limits.
const (
	primesBelow1e6  = 78498
	largestBelow1e6 = 999983
	primesBelow1e7  = 664579
	largestBelow1e7 = 9999991
)

// open loads the page at base and waits until it knows whether it is signed in.
func (b *browser) open(base string) {
	b.T.Helper()
	b.Do("open "+base, chromedp.Navigate(base+"/"))
	b.WaitFor("the page is ready", `document.documentElement.dataset.ready === 'true'`, stepTimeout)
}

// signIn fills in the sign-in form and waits for the signed-in page.
func (b *browser) signIn(user, password string) {
	b.T.Helper()
	b.Do("wait for the sign-in form", chromedp.WaitVisible(css("#login-form")))
	b.fill("username", user)
	b.fill("password", password)
	b.Do("submit the sign-in form", chromedp.Click(css("#signin")))
	b.Do("wait for the signed-in page", chromedp.WaitVisible(css("#app")))
	if got := b.EvalString(`document.getElementById('whoami').textContent`); got != user {
		b.T.Fatalf("#whoami = %q, want %q", got, user)
	}
}

// fill empties the input with the given id and types text into it.
func (b *browser) fill(id, text string) {
	b.T.Helper()
	b.clear(id)
	b.Do("type into #"+id, chromedp.SendKeys(css("#"+id), text))
}

// clear empties an input (chromedp.Clear resets the value attribute, not
// what the user typed).
func (b *browser) clear(id string) {
	b.T.Helper()
	var ok bool
	b.Eval(`(() => { const e = document.getElementById('`+id+`'); e.value = ''; return true; })()`, &ok)
}

// observe records, from now on, every connection state of both streams and
// every progress value the page shows, including changes too quick to poll.
func (b *browser) observe() {
	b.T.Helper()
	var ok bool
	b.Eval(`(() => {
		const track = (id, attr, key) => {
			const el = document.getElementById(id);
			const seen = window[key] = [el.getAttribute(attr)];
			new MutationObserver((records) => {
				// Each record holds the value before its change; the last
				// change's new value is the current one.
				for (let i = 1; i < records.length; i++) seen.push(records[i].oldValue);
				seen.push(el.getAttribute(attr));
			}).observe(el, { attributes: true, attributeFilter: [attr], attributeOldValue: true });
		};
		track('conn-state', 'data-state', '__conn');
		track('log-conn-state', 'data-state', '__logConn');
		track('progress', 'aria-valuenow', '__progress');
		return true;
	})()`, &ok)
}

// seen returns the distinct successive values recorded by observe under key.
func (b *browser) seen(key string) []string {
	b.T.Helper()
	var all []string
	b.Eval(`window.`+key+`.map(String)`, &all)
	return slices.Compact(all)
}

// startJob submits the job form and returns the id of the job it watches.
func (b *browser) startJob(limit string) string {
	b.T.Helper()
	if limit == "" {
		b.clear("limit")
	} else {
		b.fill("limit", limit)
	}
	before := b.EvalString(`document.getElementById('job-panel').dataset.jobId`)
	b.Do("start a job below "+limit, chromedp.Click(css("#start-job")))
	b.WaitFor("the page watches the new job", `!['', '`+before+`'].includes(document.getElementById('job-panel').dataset.jobId)`, stepTimeout)
	return b.EvalString(`document.getElementById('job-panel').dataset.jobId`)
}

// eventIDs returns the job event ids the page recorded, in order of arrival.
func (b *browser) eventIDs(list string) []string {
	b.T.Helper()
	var ids []string
	b.Eval(`[...document.querySelectorAll('#`+list+` li')].map((li) => li.textContent)`, &ids)
	return ids
}

// entries returns the text of every entry in a log pane.
func (b *browser) entries(pane string) []string {
	b.T.Helper()
	var texts []string
	b.Eval(`[...document.querySelectorAll('#`+pane+` .entry:not(.note)')].map((e) => e.textContent)`, &texts)
	return texts
}

// wantIDs checks that the page got exactly the ids of the Go client's
// events, in order: none missing, none repeated.
func wantIDs(t *testing.T, page []string, events []sseEvent) {
	t.Helper()
	var want []string
	for _, ev := range events {
		if ev.ID != "" {
			want = append(want, ev.ID)
		}
	}
	seen := map[string]int{}
	for _, id := range page {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("event id %s arrived more than once", id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("event id %s never arrived", id)
		}
	}
	for i := 1; i < len(page); i++ {
		a, errA := strconv.ParseUint(page[i-1], 10, 64)
		b, errB := strconv.ParseUint(page[i], 10, 64)
		if errA != nil || errB != nil || b <= a {
			t.Errorf("event ids out of order at %d: %s then %s", i, page[i-1], page[i])
		}
	}
	if !slices.Equal(page, want) {
		t.Errorf("page event ids (%d) differ from the stream's (%d):\npage: %v\nwant: %v", len(page), len(want), page, want)
	}
}

// logTexts returns the data of the `log` events.
func logTexts(events []sseEvent) []string {
	var out []string
	for _, ev := range events {
		if ev.Name == "log" {
			out = append(out, ev.Data)
		}
	}
	return out
}

func TestSignIn(t *testing.T) {
	demo := startDemo(t, 0)
	b := newBrowser(t)
	b.open(demo.URL)
	b.Do("the sign-in form shows", chromedp.WaitVisible(css("#login-form")))
	if !b.isHidden("app") {
		t.Fatal("the signed-in part of the page shows before signing in")
	}

	b.Do("sign in with a wrong password",
		chromedp.SendKeys(css("#username"), "demo"),
		chromedp.SendKeys(css("#password"), "wrong"),
		chromedp.Click(css("#signin")),
	)
	b.WaitFor("the sign-in error shows", `document.getElementById('signin-error').textContent !== ''`, stepTimeout)
	msg := b.EvalString(`document.getElementById('signin-error').textContent`)
	t.Logf("sign-in error shown: %q", msg)
	if !b.isHidden("app") {
		t.Fatal("a wrong password signed in")
	}
	b.Screenshot("wrong-password")

	b.signIn("demo", "demo")
	if got := b.EvalString(`document.getElementById('signin-error').textContent`); got != "" {
		t.Errorf("#signin-error after signing in = %q", got)
	}

	// The session lives in an HttpOnly cookie: the browser holds it, the page
	// cannot read it.
	cookies, err := chromedp.Call(b.Ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{demo.URL}})
	if err != nil {
		t.Fatal(err)
	}
	pageCookies := b.EvalString(`document.cookie`)
	httpOnly := 0
	for _, c := range cookies.Cookies {
		if c.HTTPOnly {
			httpOnly++
			if strings.Contains(pageCookies, c.Name+"=") {
				t.Errorf("the page can read the session cookie %s", c.Name)
			}
		}
	}
	if httpOnly == 0 {
		t.Errorf("no HttpOnly session cookie after signing in: %+v", cookies.Cookies)
	}

	// The page came with its security headers through the whole gateway.
	var headers map[string]string
	b.Eval(`fetch('/', { method: 'HEAD' }).then((r) => ({
		csp: r.headers.get('content-security-policy') || '',
		nosniff: r.headers.get('x-content-type-options') || '',
		cache: r.headers.get('cache-control') || '',
	}))`, &headers, chromedp.EvalAwaitPromise)
	if !strings.Contains(headers["csp"], "script-src 'self'") || headers["nosniff"] != "nosniff" || headers["cache"] != "no-cache" {
		t.Errorf("page headers through the gateway: %v", headers)
	}

	// A reload finds the session through GET /v1/sessions/current.
	b.open(demo.URL)
	b.Do("the reloaded page is signed in", chromedp.WaitVisible(css("#app")))
	if got := b.EvalString(`document.getElementById('whoami').textContent`); got != "demo" {
		t.Errorf("#whoami after reload = %q", got)
	}
	b.Screenshot("signed-in")
}

func (b *browser) isHidden(id string) bool {
	b.T.Helper()
	var hidden bool
	b.Eval(`(() => { const e = document.getElementById('`+id+`'); return !e || e.hidden || e.offsetParent === null; })()`, &hidden)
	return hidden
}

func TestJobCompletes(t *testing.T) {
	demo := startDemo(t, 60*time.Millisecond)
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")
	b.observe()

	id := b.startJob("1000000")
	b.WaitFor("the job completes", `document.getElementById('result-count').dataset.value !== ''`, 30*time.Second)
	b.WaitFor("the stream ends", `document.getElementById('conn-state').dataset.state === 'ended'`, stepTimeout)
	b.WaitFor("the jobs list shows the job completed",
		`!!document.querySelector('#jobs-list button[data-job-id="`+id+`"] .jl-state[data-state="completed"]')`, stepTimeout)
	b.Screenshot("completed")

	var got struct {
		Result, Largest, Value, Now, Percent, Status, PartialCount string
	}
	b.Eval(`({
		Result: document.getElementById('result-count').dataset.value,
		Largest: document.getElementById('result-largest').dataset.value,
		Value: String(document.getElementById('progress').value),
		Now: document.getElementById('progress').getAttribute('aria-valuenow'),
		Percent: document.getElementById('percent').textContent,
		Status: document.getElementById('job-status').dataset.state,
		PartialCount: document.getElementById('partial-count').dataset.value,
	})`, &got)
	want := struct {
		Result, Largest, Value, Now, Percent, Status, PartialCount string
	}{fmt.Sprint(primesBelow1e6), fmt.Sprint(largestBelow1e6), "100", "100", "100%", "completed", fmt.Sprint(primesBelow1e6)}
	if got != want {
		t.Errorf("page after the job:\n got %+v\nwant %+v", got, want)
	}

	// Progress was visible on the way, not only at the end.
	progress := b.seen("__progress")
	if !slices.ContainsFunc(progress, func(s string) bool { n, _ := strconv.Atoi(s); return n > 0 && n < 100 }) {
		t.Errorf("no intermediate progress shown: %v", progress)
	}
	if conn := b.seen("__conn"); !isSubsequence([]string{"connecting", "live", "ended"}, conn) {
		t.Errorf("connection states = %v, want connecting, live, ended", conn)
	}

	// The Go client reads the same job's stream: the page has every event id
	// once, and the job's log lines, whole and in order.
	events := signIn(t, demo.URL, "demo", "demo").events("/v1/jobs/" + id + "/events")
	wantIDs(t, b.eventIDs("event-ids"), events)
	lines := logTexts(events)
	if len(lines) == 0 {
		t.Fatalf("the job's stream has no log events: %v", events)
	}
	if page := b.entries("job-log"); !slices.Equal(page, lines) {
		t.Errorf("job log pane differs from the stream's log events:\npage: %q\nwant: %q", page, lines)
	}

	// A narrow screen: one column, nothing wider than the viewport.
	b.Do("narrow viewport", chromedp.EmulateViewport(390, 844))
	var overflow int
	b.Eval(`document.documentElement.scrollWidth - window.innerWidth`, &overflow)
	if overflow > 0 {
		t.Errorf("the page is %dpx wider than a 390px screen", overflow)
	}
	b.Screenshot("narrow")
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestJobSurvivesBackendRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		// share overrides WatchJob's share mode; empty keeps the demo's.
		share string
		// reconnects says whether the browser itself must reconnect: with
		// a shared upstream the gateway resumes the job's stream from its
		// last id and the browser stays connected.
		reconnects bool
	}{
		{name: "shared upstream resumes", reconnects: false},
		{name: "browser resumes", share: "none", reconnects: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			demo := startDemo(t, 120*time.Millisecond, func(c *config.Config) {
				if tc.share != "" {
					c.StreamShare = []string{"/ssegate.jobs.v1.JobService/WatchJob=" + tc.share}
				}
			})
			b := newBrowser(t)
			b.open(demo.URL)
			b.signIn("demo", "demo")
			b.observe()

			id := b.startJob("10000000")
			b.WaitFor("the job is under way", `Number(document.getElementById('progress').getAttribute('aria-valuenow')) >= 10`, 20*time.Second)
			before := len(b.eventIDs("event-ids"))
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := demo.RestartBackends(ctx); err != nil {
				t.Fatalf("restarting the backends: %v", err)
			}
			t.Logf("backends restarted after %d events", before)
			if tc.reconnects {
				// The browser waits the stream's retry delay (2 s).
				b.WaitFor("the page shows it is reconnecting", `window.__conn.includes('reconnecting')`, stepTimeout)
				b.Screenshot("reconnecting")
			}

			b.WaitFor("the job completes", `document.getElementById('result-count').dataset.value !== ''`, 40*time.Second)
			b.WaitFor("the stream ends", `document.getElementById('conn-state').dataset.state === 'ended'`, stepTimeout)
			b.Screenshot("completed-after-restart")

			if got := b.EvalString(`document.getElementById('result-count').dataset.value`); got != fmt.Sprint(primesBelow1e7) {
				t.Errorf("#result-count = %s, want %d", got, primesBelow1e7)
			}
			conn := b.seen("__conn")
			want := []string{"connecting", "live", "ended"}
			if tc.reconnects {
				want = []string{"connecting", "live", "reconnecting", "live", "ended"}
			}
			if !isSubsequence(want, conn) {
				t.Errorf("connection states = %v, want %v in order", conn, want)
			}
			if n, min := len(b.eventSources()), map[bool]int{false: 1, true: 2}[tc.reconnects]; n < min {
				t.Errorf("the page opened %d EventSource connections, want at least %d", n, min)
			}
			events := signIn(t, demo.URL, "demo", "demo").events("/v1/jobs/" + id + "/events")
			wantIDs(t, b.eventIDs("event-ids"), events)
			if page, lines := b.entries("job-log"), logTexts(events); !slices.Equal(page, lines) {
				t.Errorf("job log pane differs from the stream's log events:\npage: %q\nwant: %q", page, lines)
			}
		})
	}
}

func TestSignOutStopsStreams(t *testing.T) {
	demo := startDemo(t, 250*time.Millisecond)
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")
	b.observe()

	b.startJob("10000000")
	b.WaitFor("job events arrive", `document.querySelectorAll('#event-ids li').length >= 2`, stepTimeout)
	b.WaitFor("the job stream is live", `document.getElementById('conn-state').dataset.state === 'live'`, stepTimeout)

	// Tail a log as well, so two streams are open.
	b.Do("refresh the logs", chromedp.Click(css("#refresh-logs")))
	b.WaitFor("a log to tail", `document.getElementById('log-name').value !== ''`, stepTimeout)
	b.Do("tail the log", chromedp.Click(css("#tail-log")))
	b.WaitFor("the log stream is live", `document.getElementById('log-conn-state').dataset.state === 'live'`, stepTimeout)
	if got := b.EvalString(`document.documentElement.dataset.openStreams`); got != "2" {
		t.Fatalf("open streams before signing out = %s, want 2", got)
	}
	b.Screenshot("before-sign-out")

	b.Do("sign out", chromedp.Click(css("#signout")))
	b.Do("the sign-in form shows", chromedp.WaitVisible(css("#login-form")))
	var got struct{ Open, Job, Log string }
	b.Eval(`({
		Open: document.documentElement.dataset.openStreams,
		Job: document.getElementById('conn-state').dataset.state,
		Log: document.getElementById('log-conn-state').dataset.state,
	})`, &got)
	if got.Open != "0" || got.Job != "ended" || got.Log != "ended" {
		t.Errorf("after signing out: open streams %s, job stream %s, log stream %s; want 0, ended, ended", got.Open, got.Job, got.Log)
	}

	// Every EventSource connection is closed on the wire, and none comes
	// back after the retry delay (2 s).
	deadline := time.Now().Add(5 * time.Second)
	for {
		open := 0
		for _, s := range b.eventSources() {
			if !s.Done {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d EventSource connections still open after signing out: %+v", open, b.eventSources())
		}
		time.Sleep(50 * time.Millisecond)
	}
	requests := len(b.eventSources())
	ids := len(b.eventIDs("event-ids"))
	time.Sleep(2500 * time.Millisecond)
	if n := len(b.eventSources()); n != requests {
		t.Errorf("the page opened %d more EventSource connections after signing out", n-requests)
	}
	if n := len(b.eventIDs("event-ids")); n != ids {
		t.Errorf("%d job events arrived after signing out", n-ids)
	}
	var status int
	b.Eval(`fetch('/v1/sessions/current', { credentials: 'same-origin' }).then((r) => r.status)`, &status, chromedp.EvalAwaitPromise)
	if status != http.StatusUnauthorized {
		t.Errorf("GET /v1/sessions/current after signing out = %d, want 401", status)
	}
	b.Screenshot("signed-out")
}

func TestTailJobLog(t *testing.T) {
	demo := startDemo(t, 80*time.Millisecond)
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")
	b.observe()

	id := b.startJob("10000000")
	name := "job-" + id
	// The log exists once the job ships its first line; until then the page
	// would get NOT_FOUND, so ask for the list again until it is there.
	b.WaitFor("the chooser offers "+name, `(() => {
		const select = document.getElementById('log-name');
		if ([...select.options].some((o) => o.value === '`+name+`')) return true;
		document.getElementById('refresh-logs').click();
		return false;
	})()`, stepTimeout)
	if got := b.EvalString(`document.getElementById('log-name').value`); got != name {
		t.Errorf("the chooser selected %q, want the watched job's log %q", got, name)
	}
	b.Do("tail the job's log", chromedp.Click(css("#tail-log")))
	b.WaitFor("the log stream is live", `document.getElementById('log-conn-state').dataset.state === 'live'`, stepTimeout)

	// Entries arrive while the job still runs: the tail follows live.
	b.WaitFor("a progress line in the log pane", `[...document.querySelectorAll('#log-pane .entry')].some((e) => e.textContent.startsWith('sieved'))`, 20*time.Second)
	if status := b.EvalString(`document.getElementById('job-status').dataset.state`); status != "running" {
		t.Errorf("the job was %s by the time the tail showed progress; want it still running", status)
	}
	b.Screenshot("following")

	// The panes keep to the newest entry, unless the user scrolled up: take
	// the job's log to its top once it overflows, and it stays where the user put it.
	b.WaitFor("the job log overflows", `(() => { const p = document.getElementById('job-log'); return p.scrollHeight > p.clientHeight + 40; })()`, 20*time.Second)
	b.Do("scroll the job log up with the keyboard", chromedp.Focus(css("#job-log")), chromedp.KeyEvent(kb.Home))
	b.WaitFor("the job log stops following", `document.getElementById('job-log').dataset.follow === 'false'`, stepTimeout)

	// The job finishes its log, and the tail ends on the stream's `end`.
	b.WaitFor("the log stream ends", `document.getElementById('log-conn-state').dataset.state === 'ended'`, 30*time.Second)
	b.WaitFor("the job stream ends", `document.getElementById('conn-state').dataset.state === 'ended'`, stepTimeout)
	b.Screenshot("ended")
	var scroll struct{ JobTop, JobGap, TailGap float64 }
	b.Eval(`(() => {
		const gap = (p) => p.scrollHeight - p.scrollTop - p.clientHeight;
		const job = document.getElementById('job-log'), tail = document.getElementById('log-pane');
		return { JobTop: job.scrollTop, JobGap: gap(job), TailGap: gap(tail) };
	})()`, &scroll)
	if scroll.JobTop != 0 || scroll.JobGap < 40 {
		t.Errorf("the job log scrolled on its own after the user scrolled up: %+v", scroll)
	}
	if scroll.TailGap > 8 {
		t.Errorf("the log pane did not keep to its newest entry: %+v", scroll)
	}
	if !isSubsequence([]string{"connecting", "live", "ended"}, b.seen("__logConn")) {
		t.Errorf("log connection states = %v", b.seen("__logConn"))
	}
	if note := b.EvalString(`(document.querySelector('#log-pane .entry.note:last-child') || {}).textContent || ''`); note == "" {
		t.Error("no end-of-log note after the stream ended")
	}

	c := signIn(t, demo.URL, "demo", "demo")
	events := c.events("/v1/logs/" + name + "/events?follow=true")
	wantIDs(t, b.eventIDs("log-event-ids"), events)
	lines := logTexts(events)
	if page := b.entries("log-pane"); !slices.Equal(page, lines) {
		t.Errorf("log pane differs from the log's stream:\npage: %q\nwant: %q", page, lines)
	}
	// The log service holds the same entries as the job's own stream.
	if jobLog := b.entries("job-log"); !slices.Equal(jobLog, lines) {
		t.Errorf("job log pane differs from the log service's entries:\njob:  %q\nlogs: %q", jobLog, lines)
	}
	if !slices.ContainsFunc(lines, func(s string) bool { return strings.Contains(s, "\n") }) {
		t.Errorf("no multi-line entry in the job's log to check: %q", lines)
	}
}

func TestCancelAndWatchAgain(t *testing.T) {
	demo := startDemo(t, 40*time.Millisecond)
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")

	first := b.startJob("1000000")
	b.WaitFor("the first job completes", `document.getElementById('result-count').dataset.value !== ''`, 30*time.Second)

	// An empty limit takes the server's default, far too long to wait for.
	second := b.startJob("")
	b.WaitFor("the second job makes progress", `document.querySelectorAll('#event-ids li').length >= 3`, stepTimeout)
	b.WaitFor("the jobs list shows the default limit",
		`(document.querySelector('#jobs-list button[data-job-id="`+second+`"] .jl-detail') || {}).textContent?.startsWith('below 400,000,000')`, stepTimeout)
	b.WaitFor("cancel is enabled", `!document.getElementById('cancel-job').disabled`, stepTimeout)
	b.Do("cancel the job", chromedp.Click(css("#cancel-job")))
	b.WaitFor("the page shows the job cancelled", `document.getElementById('job-status').dataset.state === 'cancelled'`, stepTimeout)
	b.WaitFor("the stream ends", `document.getElementById('conn-state').dataset.state === 'ended'`, stepTimeout)
	b.WaitFor("the jobs list shows the job cancelled",
		`!!document.querySelector('#jobs-list button[data-job-id="`+second+`"] .jl-state[data-state="cancelled"]')`, stepTimeout)
	if got := b.EvalString(`document.getElementById('job-status').textContent`); got != "cancelled by demo" {
		t.Errorf("#job-status = %q, want %q", got, "cancelled by demo")
	}
	if got := b.EvalString(`document.getElementById('result-count').dataset.value`); got != "" {
		t.Errorf("a cancelled job shows a result: %s", got)
	}
	b.Screenshot("cancelled")

	// Clicking the first job in the list watches it again: its whole history
	// replays, from the first event to the result.
	b.Do("watch the first job again", chromedp.Click(css(`#jobs-list button[data-job-id="`+first+`"]`)))
	b.WaitFor("the first job's result shows", `document.getElementById('result-count').dataset.value === '`+fmt.Sprint(primesBelow1e6)+`'`, stepTimeout)
	b.WaitFor("the replayed stream ends", `document.getElementById('conn-state').dataset.state === 'ended'`, stepTimeout)
	if got := b.EvalString(`document.querySelector('#jobs-list [aria-current="true"]').dataset.jobId`); got != first {
		t.Errorf("the list marks job %s as watched, want %s", got, first)
	}
	b.Screenshot("watched-again")
	events := signIn(t, demo.URL, "demo", "demo").events("/v1/jobs/" + first + "/events")
	wantIDs(t, b.eventIDs("event-ids"), events)
}

func TestSessionExpiresMidStream(t *testing.T) {
	const ttl = 4 * time.Second
	demo := startDemo(t, 40*time.Millisecond, func(c *config.Config) { c.SessionTTL = ttl })
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")
	b.startJob("")
	b.WaitFor("the job stream is live", `document.getElementById('conn-state').dataset.state === 'live'`, stepTimeout)

	// The gateway ends the stream with an `error` event when the session
	// expires; the page shows it, stops the stream and asks to sign in again.
	b.WaitFor("the stream's error shows", `document.getElementById('job-error').textContent.includes('UNAUTHENTICATED')`, ttl+stepTimeout)
	b.Do("the sign-in form shows", chromedp.WaitVisible(css("#login-form")))
	b.Screenshot("expired")
	var got struct{ Conn, Open, JobError, SigninError string }
	b.Eval(`({
		Conn: document.getElementById('conn-state').dataset.state,
		Open: document.documentElement.dataset.openStreams,
		JobError: document.getElementById('job-error').textContent,
		SigninError: document.getElementById('signin-error').textContent,
	})`, &got)
	t.Logf("after expiry: %+v", got)
	if got.Conn != "ended" || got.Open != "0" || !strings.Contains(got.SigninError, "session has ended") {
		t.Errorf("after the session expired: %+v; want the stream ended, none open, and a sign-in message", got)
	}
	// The page closed the EventSource itself: no reconnect after the retry delay.
	requests := len(b.eventSources())
	time.Sleep(2500 * time.Millisecond)
	if n := len(b.eventSources()); n != requests {
		t.Errorf("the page reconnected %d times after the session expired", n-requests)
	}
}
