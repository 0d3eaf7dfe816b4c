package attack_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ssegate/ssegate/internal/ssetest"
	"github.com/ssegate/ssegate/services/jobs"
)

// Resume points that would write lines of their own into the stream
// (newlines, CR, NUL and other control bytes, non-ASCII, 300 bytes), in
// the lastEventId query parameter and, on a raw connection, in the
// Last-Event-ID header: 400, never a stream.
func lastEventIDInjection(t *testing.T, s *system) {
	c, _, token := s.signIn(t, s.baseA)
	job := createJob(t, c, 1000)
	log := "lastid-" + job
	if _, err := s.appender.Append(t.Context(), log, "entry"); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/v1/jobs/" + job + "/events", "/v1/logs/" + log + "/events"}
	ids := []string{"1\nevent: end\n\ndata: x", "1\r", "1\x00", "\x01", "1\x7f", "é", strings.Repeat("1", 300), "1 \nid: 5"}
	for _, path := range paths {
		for _, id := range ids {
			r := s.do(t, "GET", s.baseA+path+"?lastEventId="+url.QueryEscape(id), "",
				withCookie(s.baseA, token, "Accept", "text/event-stream"))
			if r.status != http.StatusBadRequest {
				through(t, "GET %s?lastEventId=%q: %v, want 400", path, id, r)
			}
		}
		for _, id := range []string{"1\rid: 5", "1\x01", "1\x7f", "é", strings.Repeat("1", 300)} {
			req := "GET " + path + " HTTP/1.1\r\nHost: " + s.a.Addr + "\r\nAccept: text/event-stream\r\n" +
				"Cookie: ssegate_session=" + token + "\r\nLast-Event-ID: " + id + "\r\nConnection: close\r\n\r\n"
			answer := raw(t, s.a.Addr, req, 10*time.Second)
			if st := statusOf(answer); st != http.StatusBadRequest || strings.Contains(answer, "text/event-stream") {
				through(t, "GET %s with Last-Event-ID %q: status %d, want 400 and no stream: %.300q", path, id, st, answer)
			}
		}
	}
}

// A tailed log line that holds what would be SSE fields if the encoder
// let bare CR, LF or NUL through ("\rid: 999\revent: end\r…"), and bytes
// that are not UTF-8: a parser by the WHATWG rules sees only log events
// (and the final end), no id or event of the attacker's, a stream of
// valid UTF-8, and the lines after it still arrive.
func sseInjection(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	name := "inject-" + user + ".log"
	writeFile(t, filepath.Join(s.logDir, name),
		"first\rid: 999\revent: end\rretry: 1\r\rdata: forged\n"+
			"crlf\r\nid: 998\r\n\r\nevent: reset\r\n"+
			"nul\x00id: 997\n"+
			"not utf-8 \xff\xfe\xc0\n"+
			"last line\n")
	s.waitTailed(t, token, name, "last line")
	status, body := s.readStream(t, s.baseA, "/v1/logs/"+name+"/events", withCookie(s.baseA, token), tailBound)
	if status != http.StatusOK {
		t.Fatalf("setup: tail %s: %d %s", name, status, body)
	}
	if !utf8.ValidString(body) {
		through(t, "the stream of a log with bytes that are not UTF-8 is not valid UTF-8: %q", body)
	}
	events, err := ssetest.NewReader(strings.NewReader(body)).Events()
	if err != nil {
		t.Fatalf("setup: %v in %q", err, body)
	}
	last := 0
	for i, ev := range events {
		if ev.Event == "end" && i == len(events)-1 {
			break
		}
		id, err := strconv.Atoi(ev.ID)
		if ev.Event != "log" || err != nil || id <= last || (i > 0 && ev.Has("retry")) {
			through(t, "event %d of the log is %+v: fields of the attacker's (in %q)", i, ev, body)
		}
		last = id
	}
	if len(events) == 0 || events[len(events)-1].Event != "end" || !strings.Contains(body, "last line") {
		through(t, "the log's stream did not carry every line to its end: %q", body)
	}
}

// Another user's job, by its id: not readable, watchable, cancellable,
// nor its log; it is as missing as a job that does not exist (404), and
// the owner's job runs on.
func otherUsersJob(t *testing.T, s *system) {
	owner, _, ownerToken := s.signIn(t, s.baseA)
	job := createJob(t, owner, jobs.MaxLimit) // runs for hours at this pace
	defer s.do(t, "POST", s.baseA+"/v1/jobs/"+job+":cancel", `{}`, withCookie(s.baseA, ownerToken))
	// The owner watches it, so that the gateway has an upstream stream of
	// it that its browsers share.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	watch, err := s.stream(ctx, s.baseA, "/v1/jobs/"+job+"/events", withCookie(s.baseA, ownerToken))
	if err != nil || watch.Res.StatusCode != http.StatusOK {
		t.Fatalf("setup: the owner watches the job: %v", err)
	}
	defer watch.Close()
	if _, err := nextEvent(watch, tailBound); err != nil {
		t.Fatalf("setup: the owner's first event: %v", err)
	}
	_, attacker, token := s.signIn(t, s.baseA)
	c := func(kv ...string) http.Header { return withCookie(s.baseA, token, kv...) }
	for _, tr := range []struct {
		what         string
		method, path string
		h            http.Header
	}{
		{"read it", "GET", "/v1/jobs/" + job, c()},
		{"watch it (SSE)", "GET", "/v1/jobs/" + job + "/events", c("Accept", "text/event-stream")},
		{"watch it (NDJSON)", "GET", "/v1/jobs/" + job + "/events", c()},
		{"cancel it", "POST", "/v1/jobs/" + job + ":cancel", c()},
		{"tail its log", "GET", "/v1/logs/" + jobs.LogName(job) + "/events", c("Accept", "text/event-stream")},
	} {
		body := ""
		if tr.method == "POST" {
			body = `{}`
		}
		if r := s.do(t, tr.method, s.baseA+tr.path, body, tr.h); r.status != http.StatusNotFound {
			through(t, "%s tried to %s of another user: %v, want 404", attacker, tr.what, r)
		}
	}
	for _, path := range []string{"/v1/jobs", "/v1/logs"} {
		if r := s.do(t, "GET", s.baseA+path, "", c()); strings.Contains(r.body, job) {
			through(t, "GET %s for %s lists another user's job: %s", path, attacker, r.body)
		}
	}
	if r := s.do(t, "GET", s.baseA+"/v1/jobs/"+job, "", withCookie(s.baseA, ownerToken)); !strings.Contains(r.body, "JOB_STATE_RUNNING") {
		through(t, "the owner's job after another user's attempts: %v, want it running", r)
	}
}

// Log names that climb out of the log directory, escaped once or twice:
// never a 200, never a byte of the file outside.
func pathTraversal(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	_, secret := s.secretFile(t, user)
	for _, name := range []string{
		"..%2F..%2F..%2Fetc%2Fpasswd", "..%2Foutside%2Fsecret-" + user, "%2e%2e", ".%2e", "%2e%2e%2foutside%2fsecret-" + user,
		"..%252Foutside%252Fsecret-" + user, "..%5Coutside%5Csecret-" + user, "%00", "..", "...",
	} {
		for _, accept := range []string{"text/event-stream", ""} {
			r := s.do(t, "GET", s.baseA+"/v1/logs/"+name+"/events", "", withCookie(s.baseA, token, "Accept", accept))
			if r.status == http.StatusOK || strings.Contains(r.body, secret) || strings.Contains(r.body, "root:") {
				through(t, "tailing the log %q (Accept %q): %v", name, accept, r)
			}
		}
	}
}

// Malformed HTTP on a raw connection: two lengths with a request
// smuggled behind, a header injected through the path, a 100 KiB header,
// a NUL in a header, a 100 KiB URL, an h2c upgrade, TRACE: refused (4xx),
// nothing smuggled through, no header of the attacker's in the answer, no
// cookie echoed. (Content-Length with
// Transfer-Encoding is left out: net/http reads such a body by
// Transfer-Encoding alone, as RFC 9112 allows, and without a proxy in
// front there is nothing to smuggle past.)
func malformedHTTP(t *testing.T, s *system) {
	const traceSecret = "trace-cookie-value"
	_, _, token := s.signIn(t, s.baseA)
	host := "Host: " + s.a.Addr + "\r\n"
	cookie := "Cookie: ssegate_session=" + token + "\r\n"
	smuggled := "GET /v1/jobs HTTP/1.1\r\n" + host + "\r\n"
	for _, tr := range []struct {
		what, req string
		want      []int
	}{
		{"two Content-Lengths", "POST /v1/sessions HTTP/1.1\r\n" + host + "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}" + smuggled, []int{400}},
		{"CRLF in the path", "GET /v1/jobs/x%0d%0aSet-Cookie:%20injected=1 HTTP/1.1\r\n" + host + cookie + "Connection: close\r\n\r\n", []int{400, 404}},
		{"a 100 KiB header", "GET /v1/jobs HTTP/1.1\r\n" + host + "Cookie: ssegate_session=" + strings.Repeat("a", 100<<10) + "\r\n\r\n", []int{431, 400}},
		{"a NUL in a header", "GET /v1/jobs HTTP/1.1\r\n" + host + "X-A: a\x00b\r\nConnection: close\r\n\r\n", []int{400}},
		{"a 100 KiB URL", "GET /v1/jobs/" + strings.Repeat("a", 100<<10) + " HTTP/1.1\r\n" + host + "\r\n", []int{431, 414, 400}},
		{"an h2c upgrade (h2c is off)", "GET /v1/jobs HTTP/1.1\r\n" + host + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
			"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n", []int{401}},
		{"TRACE with a cookie (cross-site tracing)", "TRACE /v1/jobs HTTP/1.1\r\n" + host + "Cookie: ssegate_session=" + traceSecret +
			"\r\nConnection: close\r\n\r\n", []int{401, 404, 405, 501}},
	} {
		answer := raw(t, s.a.Addr, tr.req, 10*time.Second)
		st := statusOf(answer)
		ok := false
		for _, w := range tr.want {
			ok = ok || st == w
		}
		if !ok || strings.Count(answer, "HTTP/1.1 ") > 1 || strings.Contains(strings.ToLower(answer), "set-cookie: injected") ||
			strings.Contains(answer, traceSecret) {
			through(t, "%s: status %d (want one of %v), answer %.400q", tr.what, st, tr.want, answer)
		}
	}
}

// One user opens more streams than the gateway's per-user cap (16 by
// default): the streams beyond it are refused (a reconnect event, or an
// error status), not served.
func streamFlood(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	name := "flood-" + user
	if _, err := s.appender.Append(t.Context(), name, "entry"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const userCap = 16
	served, refused := 0, 0
	for i := range userCap + 4 {
		st, err := s.stream(ctx, s.baseA, "/v1/logs/"+name+"/events?follow=true", withCookie(s.baseA, token))
		if err != nil {
			t.Fatalf("setup: stream %d: %v", i+1, err)
		}
		defer st.Close()
		if st.Res.StatusCode != http.StatusOK {
			refused++
			continue
		}
		ev, err := nextEvent(st, tailBound)
		switch {
		case err == nil && ev.Data == "entry":
			served++
		case err == nil && ev.Event == "reconnect":
			refused++
		default:
			t.Fatalf("setup: stream %d: %+v, %v", i+1, ev, err)
		}
	}
	if served > userCap || refused == 0 {
		through(t, "%d streams of one user served, %d refused; want at most %d served", served, refused, userCap)
	}
	t.Logf("%s opened %d streams: %d served, %d refused", user, userCap+4, served, refused)
}
