package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/store"
)

// sessionToken is the session token in c's cookie jar.
func (c *client) sessionToken() string {
	c.d.t.Helper()
	u, _ := url.Parse(c.d.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == session.DefaultCookieName {
			return ck.Value
		}
	}
	c.d.t.Fatal("no session cookie")
	return ""
}

// watchToEnd reads the stream at path to its end event, reconnecting with
// Last-Event-ID as EventSource does while the backends come back.
func (c *client) watchToEnd(ctx context.Context, path string) []event {
	c.d.t.Helper()
	var all []event
	for attempt := 0; ; attempt++ {
		lastID := ""
		for _, e := range all {
			if e.ID != "" {
				lastID = e.ID
			}
		}
		status, more := c.watch(ctx, path, lastID, func(e event) bool { return e.Type == "end" })
		for _, e := range more {
			if e.Type != "reconnect" {
				all = append(all, e)
			}
		}
		if status == http.StatusNoContent { // resumed after the last event: the end
			return append(all, event{Type: "end", Data: "{}"})
		}
		if len(all) > 0 && all[len(all)-1].Type == "end" {
			return all
		}
		if attempt > 100 || ctx.Err() != nil {
			c.d.t.Fatalf("%s: no end after %d connections (status %d)", path, attempt+1, status)
		}
		if status == http.StatusUnauthorized {
			// The session expired (a short session-ttl on a slow
			// machine): sign in again, as the page does.
			*c = *c.d.signIn(c.user)
		}
		time.Sleep(100 * time.Millisecond) // EventSource's retry, shortened
	}
}

// errorBody decodes a JSON error answer.
func errorBody(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e.Code, e.Message
}

// One user may run max-jobs-per-user jobs at once: beyond it creating one
// answers 429 with a JSON error; another user is not concerned; cancelling
// one makes room.
func TestRunningJobsPerUserCap(t *testing.T) {
	t.Parallel()
	d := startDemoWith(t, func(c *config.Config) { c.MaxJobsPerUser = 2; c.JobPace = time.Second })
	demo, ops := d.signIn("demo"), d.signIn("ops")
	first := demo.createJob(jobs.MaxLimit) // hours at this pace
	demo.createJob(jobs.MaxLimit)
	status, body := demo.do("POST", "/v1/jobs", `{"limit":1000}`, nil)
	if status != http.StatusTooManyRequests {
		t.Fatalf("a third job: %d %s, want 429", status, body)
	}
	if code, msg := errorBody(t, body); code != "RESOURCE_EXHAUSTED" || msg != "2 of your jobs are running, the most allowed: wait for one to end, or cancel one" {
		t.Fatalf("a third job: %s %q", code, msg)
	}
	ops.createJob(1000)
	if status, body := demo.do("POST", "/v1/jobs/"+first+":cancel", `{}`, nil); status != http.StatusOK {
		t.Fatalf("cancel: %d %s", status, body)
	}
	demo.createJob(1000)
}

// A job's log reaches the logs service, whole and finished, although the
// session that created it ended (signed out, or expired) before most of it
// was shipped: the jobs service, stopped mid-job and started again after
// the session's end, writes the log as the job's owner on its own
// authority, with no session token, and the job's record in the store
// holds no token.
func TestJobLogShipsAfterTheSessionEnded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		end  func(c *client) // ends the session
	}{
		{"signed out", 12 * time.Hour, func(c *client) {
			if status, body := c.do("DELETE", "/v1/sessions/current", "", nil); status != http.StatusOK {
				c.d.t.Fatalf("sign out: %d %s", status, body)
			}
		}},
		// Expired: from its end on the gateway makes no identity token of
		// it, so no backend serves it.
		{"expired", 5 * time.Second, func(c *client) {}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			// About 4 s of work: 100,000,000 numbers in 381 chunks of 10 ms.
			d := startDemoWith(t, func(c *config.Config) { c.SessionTTL = tc.ttl; c.JobPace = 10 * time.Millisecond })
			c := d.signIn("demo")
			token := c.sessionToken()
			job := c.createJob(100_000_000)
			if err := d.StopBackends(); err != nil {
				t.Fatal(err)
			}
			tc.end(c)
			copied := http.Header{"Cookie": {session.DefaultCookieName + "=" + token}}
			deadline := time.Now().Add(time.Minute)
			for status, _ := c.do("GET", "/v1/sessions/current", "", copied); status != http.StatusUnauthorized; status, _ = c.do("GET", "/v1/sessions/current", "", copied) {
				if time.Now().After(deadline) {
					t.Fatal("the session did not end")
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err := d.StartBackends(); err != nil {
				t.Fatal(err)
			}

			again := d.signIn("demo")
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			events := again.watchToEnd(ctx, "/v1/jobs/"+job+"/events")
			var lines []string
			for _, e := range events {
				if e.Type == "log" {
					lines = append(lines, e.Data)
				}
			}
			if len(events) < 2 || events[len(events)-2].Type != "completed" {
				t.Fatalf("the job did not complete: %+v", events[max(0, len(events)-2):])
			}
			// The log is finished, so a tail without follow ends, with
			// every line of the job.
			logged := again.watchToEnd(ctx, "/v1/logs/"+jobs.LogName(job)+"/events?follow=true")
			var got []string
			for _, e := range logged {
				if e.Type == "log" {
					got = append(got, e.Data)
				}
			}
			if len(logged) == 0 || logged[len(logged)-1].Type != "end" || strings.Join(got, "\n") != strings.Join(lines, "\n") {
				t.Fatalf("the job log has %d lines (ends with %+v), want the job's %d", len(got), logged[max(0, len(logged)-1):], len(lines))
			}

			// What the jobs service keeps of the job: no token.
			if err := d.StopBackends(); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(filepath.Join(d.cfg.DataDir, "jobs"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			all, err := db.List(t.Context(), jobs.Namespace)
			if err != nil || len(all) != 1 {
				t.Fatalf("jobs in the store: %d, %v", len(all), err)
			}
			var rec map[string]any
			if err := json.Unmarshal(all[0].Attrs, &rec); err != nil {
				t.Fatal(err)
			}
			if _, ok := rec["token"]; ok || strings.Contains(string(all[0].Attrs), token) || jwtLike.Match(all[0].Attrs) {
				t.Fatalf("the job record holds a token: %s", all[0].Attrs)
			}
		})
	}
}

// jwtLike matches the start of a JWT's header, as any token begins.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`)
