package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

// startSecondGateway starts another gateway in front of demo's services.
func startSecondGateway(t *testing.T, demo *app.Demo) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := demo.StartGateway(t.Context(), lis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + lis.Addr().String()
	waitReady(t, base)
	return base
}

// withCookie is a client of base holding a copy of a session cookie, as
// an attacker who copied it would.
func withCookie(t *testing.T, base, cookie string) *apptest.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: session.DefaultCookieName, Value: cookie, Path: "/"}})
	c := &apptest.Client{Base: base, HTTP: &http.Client{Jar: jar, Transport: &http.Transport{}}}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// statusOf sends a request and returns its status and JSON error body.
func statusOf(t *testing.T, c *apptest.Client, method, path string, header http.Header) (int, string) {
	t.Helper()
	res, err := c.Do(t.Context(), method, path, "", header)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var e struct{ Code, Message string }
	_ = json.Unmarshal(body, &e)
	return res.StatusCode, e.Code + " " + e.Message
}

// Signing out on one gateway ends the session on every gateway in front
// of the same auth service: its open streams on both end with an error
// event, and a copy of its cookie is refused for REST and SSE on both,
// while the user's other session goes on.
func TestSignOutEndsTheSessionOnEveryGateway(t *testing.T) {
	t.Parallel()
	demo := apptest.StartDemo(t, apptest.Config(t))
	a, b := demo.URL, startSecondGateway(t, demo)
	user := apptest.SignIn(t, a, "demo", nil)
	other := apptest.SignIn(t, b, "demo", nil) // another session of the same user
	cookie := user.Token(t)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "tail", "first"); err != nil {
		t.Fatal(err)
	}

	// The session's streams, on both gateways, and the other session's.
	const path = "/v1/logs/tail/events?follow=true"
	open := func(c *apptest.Client) *apptest.Stream {
		t.Helper()
		s, err := c.Stream(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if ev, err := s.NextEvent(); err != nil || ev.Data != "first" {
			t.Fatalf("stream: %+v, %v", ev, err)
		}
		return s
	}
	onA, onB, otherOnB := open(user), open(withCookie(t, b, cookie)), open(other)

	signingOut := time.Now()
	res, err := user.Do(ctx, "DELETE", "/v1/sessions/current", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign out: %s", res.Status)
	}
	for name, s := range map[string]*apptest.Stream{"A": onA, "B": onB} {
		ev, err := s.NextEvent()
		if err != nil || ev.Event != "error" || ev.Data != `{"code":"UNAUTHENTICATED","message":"session ended"}` {
			t.Fatalf("the session's stream on gateway %s: %+v, %v; want the error event", name, ev, err)
		}
		t.Logf("gateway %s: the signed-out session's error event arrived %v after the sign-out request was sent", name, time.Since(signingOut).Round(100*time.Microsecond))
		if _, err := s.Next(); err != io.EOF {
			t.Errorf("gateway %s: after the error event: %v, want the end", name, err)
		}
	}

	// The copied cookie is refused everywhere, REST and SSE.
	for _, base := range []string{a, b} {
		copied := withCookie(t, base, cookie)
		if code, body := statusOf(t, copied, "GET", "/v1/jobs", nil); code != http.StatusUnauthorized || body != "UNAUTHENTICATED session ended" {
			t.Errorf("REST on %s with the copied cookie: %d %s", base, code, body)
		}
		if code, body := statusOf(t, copied, "GET", path, http.Header{"Accept": {"text/event-stream"}}); code != http.StatusUnauthorized || body != "UNAUTHENTICATED session ended" {
			t.Errorf("SSE on %s with the copied cookie: %d %s", base, code, body)
		}
	}
	// The other session goes on: its stream gets the next entry.
	if _, err := logs.Append(ctx, "tail", "second"); err != nil {
		t.Fatal(err)
	}
	if ev, err := otherOnB.NextEvent(); err != nil || ev.Data != "second" {
		t.Fatalf("the other session's stream: %+v, %v", ev, err)
	}
	if code, _ := statusOf(t, other, "GET", "/v1/jobs", nil); code != http.StatusOK {
		t.Fatalf("the other session's REST: %d", code)
	}
}

// A gateway that cannot follow the revocations says so in /readyz and
// keeps serving the sessions it knows; once the auth service is back (its
// revocations kept in its store) it resumes, and a sign-out made after
// ends the session's stream on it.
func TestRevocationsAcrossAnAuthRestart(t *testing.T) {
	t.Parallel()
	demo := apptest.StartDemo(t, apptest.Config(t))
	first := apptest.SignIn(t, demo.URL, "demo", nil)
	firstCookie := first.Token(t)
	res, err := first.Do(t.Context(), "DELETE", "/v1/sessions/current", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	second := apptest.SignIn(t, demo.URL, "demo", nil)

	if err := demo.StopAuth(); err != nil {
		t.Fatal(err)
	}
	if err := apptest.Eventually(10*time.Second, func() error {
		code, rep := readyz(t, demo.URL)
		if failing, _ := rep["failing"].(map[string]any); code != http.StatusServiceUnavailable || failing["revocations"] == nil {
			return fmt.Errorf("/readyz %d %v, want 503 failing revocations", code, rep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, _ := statusOf(t, second, "GET", "/v1/jobs", nil); code != http.StatusOK {
		t.Fatalf("a live session while the auth service is down: %d, want it served", code)
	}
	if err := demo.StartAuth(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, demo.URL)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	if _, err := logs.Append(ctx, "restart", "first"); err != nil {
		t.Fatal(err)
	}
	s, err := second.Stream(ctx, "/v1/logs/restart/events?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.NextEvent(); err != nil || ev.Data != "first" {
		t.Fatalf("stream: %+v, %v", ev, err)
	}
	res, err = second.Do(ctx, "DELETE", "/v1/sessions/current", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ev, err := s.NextEvent(); err != nil || ev.Event != "error" {
		t.Fatalf("after signing out: %+v, %v; want the error event", ev, err)
	}
	// The sign-out from before the restart still holds.
	if code, body := statusOf(t, withCookie(t, demo.URL, firstCookie), "GET", "/v1/jobs", nil); code != http.StatusUnauthorized {
		t.Fatalf("the first session after the restart: %d %s", code, body)
	}
}
