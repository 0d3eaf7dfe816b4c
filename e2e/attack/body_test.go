package attack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// panicText matches what a Go panic, recovered by net/http or not, writes.
var panicText = regexp.MustCompile(`(?i)panic`)

// alive fails t unless p still runs and base serves a signed-in request.
func (s *system) alive(t *testing.T, p *apptest.Process, base, token, after string) {
	t.Helper()
	if exit, done := p.Wait(50 * time.Millisecond); done {
		through(t, "the gateway exited after %s: %v", after, exit)
		return
	}
	if r := s.do(t, "GET", base+"/healthz", "", nil); r.status != http.StatusOK {
		through(t, "/healthz after %s: %v", after, r)
	}
	if r := s.do(t, "GET", base+"/v1/jobs", "", withCookie(base, token)); r.status != http.StatusOK {
		through(t, "GET /v1/jobs after %s: %v", after, r)
	}
	if loc := panicText.FindStringIndex(p.Stderr()); loc != nil {
		through(t, "the gateway's stderr has a panic after %s: …%s…", after, p.Stderr()[max(0, loc[0]-200):min(len(p.Stderr()), loc[1]+300)])
	}
}

// GETs with a 200 KiB body (over 64 KiB), with a length and chunked, four
// times each, on the stream routes (SSE and NDJSON, finished and followed)
// and a unary GET: never a 5xx or a panic, and the gateway keeps serving.
func getWithBody(t *testing.T, s *system) {
	c, user, token := s.signIn(t, s.baseA)
	job := createJob(t, c, 1000)
	logName := "getbody-" + user
	if _, err := s.appender.Append(t.Context(), logName, "entry"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("a"), 200<<10)
	routes := []struct{ path, accept string }{
		{"/v1/jobs/" + job + "/events", "text/event-stream"},
		{"/v1/jobs/" + job + "/events", ""},
		{"/v1/logs/" + logName + "/events?follow=true", "text/event-stream"},
		{"/v1/logs/" + logName + "/events?follow=true", ""},
		{"/v1/logs", ""},
	}
	hc := s.client(s.baseA)
	hc.Timeout = 0
	defer hc.CloseIdleConnections()
	for try := range 4 {
		for _, rt := range routes {
			for _, chunked := range []bool{false, true} {
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second) // follow streams stay open
				var rd io.Reader = bytes.NewReader(body)
				if chunked {
					rd = io.MultiReader(rd)
				}
				req, err := http.NewRequestWithContext(ctx, "GET", s.baseA+rt.path, rd)
				if err != nil {
					t.Fatal(err)
				}
				req.Header = withCookie(s.baseA, token)
				if rt.accept != "" {
					req.Header.Set("Accept", rt.accept)
				}
				r := send(hc, req)
				cancel()
				if r.status >= 500 {
					through(t, "try %d: GET %s (Accept %q, chunked %v) with a 200 KiB body: %v", try+1, rt.path, rt.accept, chunked, r)
				}
			}
		}
	}
	s.alive(t, s.a, s.baseA, token, "GETs with bodies")
}

// SIGTERM to gateway A after every attack on it: it drains and exits
// within its drain-timeout (3 s) plus a bound, and never panicked.
func gatewayShutdown(t *testing.T, s *system) {
	const bound = 15 * time.Second
	if err := s.a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, ok := s.a.Wait(bound)
	if !ok {
		through(t, "gateway A did not exit within %v of SIGTERM", bound)
		return
	}
	if code := apptest.ExitCode(exit); code != 0 {
		t.Errorf("gateway A exited with status %d after SIGTERM: %v", code, exit)
	}
}

// No process of the demo panicked during the attacks.
func noPanics(t *testing.T, s *system) {
	for name, p := range map[string]*apptest.Process{
		"auth": s.auth, "jobs": s.jobs, "logs": s.logs, "gateway A": s.a, "gateway B": s.b, "the TLS gateway": s.tls,
	} {
		if loc := panicText.FindStringIndex(p.Stderr()); loc != nil {
			through(t, "%s's stderr has a panic: …%s…", name, p.Stderr()[max(0, loc[0]-200):min(len(p.Stderr()), loc[1]+300)])
		}
	}
}
