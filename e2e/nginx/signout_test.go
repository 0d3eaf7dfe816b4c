package nginx_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/internal/apptest"
)

// The real binaries, each its own process, configured as the README says
// (identity key files, session-revocations): signing out through one
// gateway ends the session's stream on the other, and its copied cookie is
// refused by both.
func TestSignOutAcrossGatewayProcesses(t *testing.T) {
	t.Parallel()
	bins := apptest.Build(t, "ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs")
	sys := startServices(t, bins)
	a, b := sys.startGateway(t, "127.0.0.1:0"), sys.startGateway(t, "127.0.0.1:0")
	baseA, baseB := "http://"+a.Addr, "http://"+b.Addr
	for _, base := range []string{baseA, baseB} {
		if err := apptest.Eventually(20*time.Second, func() error { return ready(base) }); err != nil {
			t.Fatal(err)
		}
	}
	user := apptest.SignIn(t, baseA, "demo", nil)
	cookie := user.Token(t)
	copyOn := func(base string) *apptest.Client {
		jar, _ := cookiejar.New(nil)
		u, _ := url.Parse(base)
		jar.SetCookies(u, []*http.Cookie{{Name: session.DefaultCookieName, Value: cookie, Path: "/"}})
		c := &apptest.Client{Base: base, HTTP: &http.Client{Jar: jar}}
		t.Cleanup(c.HTTP.CloseIdleConnections)
		return c
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logs := apptest.DialLogs(t, sys.logs.Addr, "demo", sys.keys.Gateway)
	if _, err := logs.Append(ctx, "signout", "first"); err != nil {
		t.Fatal(err)
	}
	s, err := copyOn(baseB).Stream(ctx, "/v1/logs/signout/events?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.NextEvent(); err != nil || ev.Data != "first" {
		t.Fatalf("stream on B: %+v, %v", ev, err)
	}
	signingOut := time.Now()
	res, err := user.Do(ctx, "DELETE", "/v1/sessions/current", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign out on A: %s", res.Status)
	}
	ev, err := s.NextEvent()
	if err != nil || ev.Event != "error" || ev.Data != `{"code":"UNAUTHENTICATED","message":"session ended"}` {
		t.Fatalf("the stream on B after signing out on A: %+v, %v", ev, err)
	}
	t.Logf("gateway process B ended the stream %v after the sign-out request to A was sent", time.Since(signingOut).Round(100*time.Microsecond))
	for _, base := range []string{baseA, baseB} {
		res, err := copyOn(base).Do(ctx, "GET", "/v1/jobs", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("the copied cookie on %s: %s %s", base, res.Status, body)
		}
	}
}

func ready(base string) error {
	res, err := http.Get(base + "/readyz")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("not ready: %s", b)
	}
	return nil
}
