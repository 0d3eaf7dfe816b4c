package attack_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// grpcHeaders lists the headers of h that tell of gRPC: Grpc-Metadata-*
// (Grpc-Metadata-Content-Type: application/grpc was the leak) and any
// other grpc- header.
func grpcHeaders(h http.Header) []string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "grpc-") {
			out = append(out, k+": "+strings.Join(v, ", "))
		}
	}
	return out
}

// No answer, REST, error, SSE or NDJSON, carries a Grpc-* header.
func grpcHeaderLeak(t *testing.T, s *system) {
	user := s.user(t)
	signIn, token := s.signInAnswer(t, s.baseA, user)
	_, other := s.signInAnswer(t, s.baseA, user)
	c := withCookie(s.baseA, token)
	created := s.do(t, "POST", s.baseA+"/v1/jobs", `{"limit":1000}`, c)
	job := jobID(t, created)
	answers := map[string]response{
		"POST /v1/sessions":              signIn,
		"POST /v1/jobs":                  created,
		"GET /v1/jobs":                   s.do(t, "GET", s.baseA+"/v1/jobs", "", c),
		"GET /v1/jobs/{id}":              s.do(t, "GET", s.baseA+"/v1/jobs/"+job, "", c),
		"POST /v1/jobs/{id}:cancel":      s.do(t, "POST", s.baseA+"/v1/jobs/"+job+":cancel", `{}`, c),
		"GET /v1/logs":                   s.do(t, "GET", s.baseA+"/v1/logs", "", c),
		"GET /v1/sessions/current":       s.do(t, "GET", s.baseA+"/v1/sessions/current", "", c),
		"GET a missing job":              s.do(t, "GET", s.baseA+"/v1/jobs/nosuchjob", "", c),
		"POST /v1/jobs, bad limit":       s.do(t, "POST", s.baseA+"/v1/jobs", `{"limit":1}`, c),
		"GET a missing route":            s.do(t, "GET", s.baseA+"/v1/nosuch", "", c),
		"GET /v1/jobs without a cookie":  s.do(t, "GET", s.baseA+"/v1/jobs", "", nil),
		"GET a job's events as NDJSON":   s.do(t, "GET", s.baseA+"/v1/jobs/"+job+"/events", "", c),
		"GET a missing log as NDJSON":    s.do(t, "GET", s.baseA+"/v1/logs/nosuchlog/events", "", c),
		"DELETE /v1/sessions/current":    s.do(t, "DELETE", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, other)),
		"GET a missing job's SSE events": s.do(t, "GET", s.baseA+"/v1/jobs/nosuchjob/events", "", withCookie(s.baseA, token, "Accept", "text/event-stream")),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := s.stream(ctx, s.baseA, "/v1/jobs/"+job+"/events", c)
	if err != nil {
		t.Fatal(err)
	}
	answers["GET a job's SSE events"] = response{status: st.Res.StatusCode, header: st.Res.Header}
	st.Close()
	for what, r := range answers {
		if r.err != nil {
			t.Fatalf("setup: %s: %v", what, r.err)
		}
		if h := grpcHeaders(r.header); len(h) > 0 {
			through(t, "%s answered with %s", what, strings.Join(h, "; "))
		}
	}
}

// jobID is the id of the job a create answered.
func jobID(t *testing.T, r response) string {
	t.Helper()
	m := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("setup: create a job: %v", r)
	}
	return m[1]
}

// goText matches Go's number-parsing text (strconv), which the issue
// found in error bodies.
var goText = regexp.MustCompile(`strconv\.|Parse(Uint|Int|Bool|Float)|parsing "`)

// jsonError checks that r is a JSON error of status 400 to 499: a body
// with a code and a message, served as application/json with nosniff.
func jsonError(t *testing.T, what string, r response) (message string) {
	t.Helper()
	_, msg, ok := errorBody(r.body)
	switch {
	case r.err != nil || r.status < 400 || r.status >= 500:
		through(t, "%s: %v, want a 4xx", what, r)
	case !ok:
		through(t, "%s: the error body is not JSON with a code and a message: %v", what, r)
	case !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("X-Content-Type-Options") != "nosniff":
		through(t, "%s: an error served as %q, X-Content-Type-Options %q", what, r.header.Get("Content-Type"), r.header.Get("X-Content-Type-Options"))
	}
	return msg
}

// Numbers that are not numbers, in the path, the query and Last-Event-ID
// of the stream routes and in REST bodies, and markup in ids: every error
// is a JSON {code, message}, and none carries Go's parser text.
func badInputErrors(t *testing.T, s *system) {
	c, _, token := s.signIn(t, s.baseA)
	job := createJob(t, c, 1000)
	log := "badinput"
	if _, err := s.appender.Append(t.Context(), log, "entry"); err != nil {
		t.Fatal(err)
	}
	sse := func(kv ...string) http.Header {
		return withCookie(s.baseA, token, append([]string{"Accept", "text/event-stream"}, kv...)...)
	}
	ndjson := withCookie(s.baseA, token)
	type try struct {
		what         string
		method, path string
		body         string
		h            http.Header
	}
	tries := []try{
		{"afterId=abc", "GET", "/v1/jobs/" + job + "/events?afterId=abc", "", sse()},
		{"after_id=-1", "GET", "/v1/jobs/" + job + "/events?after_id=-1", "", sse()},
		{"afterId=1e3", "GET", "/v1/jobs/" + job + "/events?afterId=1e3", "", sse()},
		{"afterId past uint64", "GET", "/v1/jobs/" + job + "/events?afterId=18446744073709551616", "", sse()},
		{"afterOffset=abc", "GET", "/v1/logs/" + log + "/events?afterOffset=abc", "", sse()},
		{"follow=maybe", "GET", "/v1/logs/" + log + "/events?follow=maybe", "", sse()},
		{"afterOffset=abc as NDJSON", "GET", "/v1/logs/" + log + "/events?afterOffset=abc", "", ndjson},
		{"Last-Event-ID abc", "GET", "/v1/jobs/" + job + "/events", "", sse("Last-Event-ID", "abc")},
		{"Last-Event-ID -5", "GET", "/v1/logs/" + log + "/events", "", sse("Last-Event-ID", "-5")},
		{`limit "abc"`, "POST", "/v1/jobs", `{"limit":"abc"}`, ndjson},
		{"limit -1", "POST", "/v1/jobs", `{"limit":-1}`, ndjson},
		{"limit 1.5", "POST", "/v1/jobs", `{"limit":1.5}`, ndjson},
		{"limit past uint32", "POST", "/v1/jobs", `{"limit":99999999999}`, ndjson},
		{"markup in a job id", "GET", "/v1/jobs/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "", ndjson},
		{"markup in a log name", "GET", "/v1/logs/%3Cimg%20src%3Dx%3E/events", "", sse()},
	}
	for _, tr := range tries {
		r := s.do(t, tr.method, s.baseA+tr.path, tr.body, tr.h)
		msg := jsonError(t, tr.what, r)
		if goText.MatchString(r.body) {
			through(t, "%s: the error carries Go's parser text: %s", tr.what, r.body)
		}
		if strings.Contains(msg, "<") {
			through(t, "%s: the error reflects markup: %s", tr.what, r.body)
		}
	}
}

// decoderText matches the messages of Go's JSON decoders: protojson's
// ("proto: (line 1:10): invalid value for uint32 field limit") and
// encoding/json's ("invalid character 'x' looking for beginning of
// value").
var decoderText = regexp.MustCompile(`proto:|\(line \d+:\d+\)|invalid character|looking for beginning of value|json: `)

// Malformed JSON bodies: the error names what is wrong without the Go
// decoder's own text, as the issue asked of strconv's.
func decoderErrors(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	for _, tr := range []struct{ path, body string }{
		{"/v1/jobs", `{"limit":"abc"}`},
		{"/v1/jobs", `{"limit":1000,"limit":2}`},
		{"/v1/jobs", `[]`},
		{"/v1/jobs", `xx`},
		{"/v1/sessions", `{"username":1,"password":"x"}`},
	} {
		r := s.do(t, "POST", s.baseA+tr.path, tr.body, withCookie(s.baseA, token))
		jsonError(t, "POST "+tr.path+" "+tr.body, r)
		if decoderText.MatchString(r.body) {
			through(t, "POST %s %s: the error carries Go's JSON decoder text: %s", tr.path, tr.body, strings.TrimSpace(r.body))
		}
	}
}
