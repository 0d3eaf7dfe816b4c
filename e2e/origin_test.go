package e2e_test

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// foreignPage is served by a second server on another port: another origin
// on the same site, so the browser sends the demo's cookie with credentialed
// requests and only the gateway's Origin check stands in the way.
var foreignPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>another origin</title></head>
<body>
<h1>A page on another origin</h1>
<p>It tries to read the demo's streams and API with the visitor's cookie.</p>
<pre id="out">running…</pre>
<script>
const demo = {{.Demo}};
const streams = {{.Streams}};
const r = window.__result = { streams: [], fetch: null };
let pending = streams.length + 1;
const show = () => {
  document.getElementById('out').textContent = JSON.stringify(r, null, 2);
  if (--pending === 0) r.done = true;
};
for (const path of streams) {
  const s = { path, messages: 0, data: '', error: false, readyState: -1 };
  r.streams.push(s);
  const es = new EventSource(demo + path, { withCredentials: true });
  const onMessage = (e) => { s.messages++; s.data += e.data; };
  for (const name of ['message', 'progress', 'partial', 'log', 'completed', 'failed', 'cancelled', 'end']) {
    es.addEventListener(name, onMessage);
  }
  es.addEventListener('error', (e) => {
    if (e instanceof MessageEvent) { onMessage(e); return; }
    s.error = true;
    s.readyState = es.readyState;
    es.close();
    show();
  });
}
fetch(demo + '/v1/jobs', { credentials: 'include' })
  .then(async (res) => { r.fetch = { status: res.status, body: await res.text() }; })
  .catch((e) => { r.fetch = { error: String(e) }; })
  .finally(show);
</script>
</body></html>`))

func TestOtherOriginCannotReadStreams(t *testing.T) {
	demo := startDemo(t, 0)
	b := newBrowser(t)
	b.open(demo.URL)
	b.signIn("demo", "demo")
	jobID := b.startJob("1000000")
	b.WaitFor("the job completes", `document.getElementById('result-count').dataset.value !== ''`, 30*time.Second)

	streams := []string{"/v1/jobs/x/events", "/v1/jobs/" + jobID + "/events", "/v1/logs/x/events?follow=true"}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = foreignPage.Execute(w, map[string]any{"Demo": demo.URL, "Streams": streams})
	}))
	t.Cleanup(foreign.Close)
	if sameOrigin(foreign.URL, demo.URL) {
		t.Fatalf("the foreign page %s has the demo's origin %s", foreign.URL, demo.URL)
	}

	sourcesBefore := len(b.eventSources())
	b.Do("open the page on another origin", chromedp.Navigate(foreign.URL+"/"))
	b.WaitFor("the foreign page's script finishes", `window.__result && window.__result.done === true`, stepTimeout)
	b.Screenshot("foreign-page")

	var result struct {
		Streams []struct {
			Path       string
			Messages   int
			Data       string
			Error      bool
			ReadyState int
		}
		Fetch struct {
			Status int
			Body   string
			Error  string
		}
	}
	b.Eval(`window.__result`, &result)
	raw, _ := json.Marshal(result)
	t.Logf("foreign page saw: %s", raw)
	for _, s := range result.Streams {
		if !s.Error || s.ReadyState != 2 || s.Messages != 0 || s.Data != "" {
			t.Errorf("stream %s from another origin: error %v, readyState %d, %d messages, data %q; want an error, CLOSED (2) and no data",
				s.Path, s.Error, s.ReadyState, s.Messages, s.Data)
		}
	}
	if result.Fetch.Error == "" || result.Fetch.Body != "" {
		t.Errorf("fetch of /v1/jobs from another origin: %+v; want a network error and no body", result.Fetch)
	}

	// On the wire the gateway refused each stream with 403.
	for _, s := range b.eventSources()[sourcesBefore:] {
		if s.Status != http.StatusForbidden {
			t.Errorf("EventSource %s from another origin: HTTP %d, want 403", s.URL, s.Status)
		}
	}
	// The same request from Go, with a valid session and the foreign Origin.
	c := signIn(t, demo.URL, "demo", "demo")
	res := c.do("GET", "/v1/jobs/"+jobID+"/events", "", http.Header{
		"Accept": {"text/event-stream"},
		"Origin": {foreign.URL},
	})
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("stream with a foreign Origin: HTTP %d, Content-Type %q; want 403 and no stream", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func sameOrigin(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}
