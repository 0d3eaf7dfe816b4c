package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// SIGTERM drains the real binary: every open stream gets a reconnect event
// with a retry, and the process exits, successfully, within the drain
// timeout plus the grace for closing backends.
func TestSIGTERMDrainsStreamsAndExits(t *testing.T) {
	t.Parallel()
	const (
		streams      = 5
		drainTimeout = 5 * time.Second
		exitBound    = drainTimeout + 5*time.Second // app.ShutdownGrace
	)
	dir := t.TempDir()
	bin := filepath.Join(apptest.Build(t, "ssegate-demo"), "ssegate-demo")
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "app.log"), []byte("line one\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	demo := apptest.StartProcess(t, bin, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "data"), "-log-dir", logDir,
		"-heartbeat", "1s", "-drain-timeout", drainTimeout.String(), "-reconnect-jitter", "1s", "-max-streams-per-user", "0")
	base := "http://" + demo.Addr

	c := apptest.SignIn(t, base, "demo", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The tailed file becomes a log once the tailer has stored it.
	open := func() (*apptest.Stream, error) {
		s, err := c.Stream(ctx, "/v1/logs/app.log/events?follow=true", nil)
		if err != nil {
			return nil, err
		}
		if s.Res.StatusCode != http.StatusOK {
			s.Close()
			return nil, fmt.Errorf("stream: %s", s.Res.Status)
		}
		if ev, err := s.NextEvent(); err != nil || ev.Data != "line one" {
			s.Close()
			return nil, fmt.Errorf("first event %+v, %v", ev, err)
		}
		return s, nil
	}
	var first *apptest.Stream
	if err := apptest.Eventually(15*time.Second, func() (err error) {
		first, err = open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	opened := []*apptest.Stream{first}
	for len(opened) < streams {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, s)
	}
	if res, err := http.Get(base + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/readyz before the stop: %v %v", res, err)
	}

	start := time.Now()
	if err := demo.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	type ending struct {
		retry int
		err   error
	}
	endings := make(chan ending, streams)
	for _, s := range opened {
		go func() {
			defer s.Close()
			for {
				ev, err := s.NextEvent()
				if err != nil {
					endings <- ending{err: fmt.Errorf("stream ended without a reconnect event: %w", err)}
					return
				}
				if ev.Event == "reconnect" {
					retry, err := strconv.Atoi(ev.Retry)
					endings <- ending{retry: retry, err: err}
					return
				}
			}
		}()
	}
	var lastEnd time.Duration
	for range streams {
		e := <-endings
		if e.err != nil {
			t.Fatal(e.err)
		}
		// The log route's retry is 2000 ms; the jitter adds up to 1 s.
		if e.retry < 2000 || e.retry >= 3000 {
			t.Errorf("reconnect retry %d ms, want 2000 to 2999", e.retry)
		}
		lastEnd = time.Since(start)
	}
	waitErr, exited := demo.Wait(exitBound)
	if !exited {
		t.Fatalf("ssegate-demo still running %s after SIGTERM", exitBound)
	}
	if waitErr != nil {
		t.Fatalf("ssegate-demo exited with %v after SIGTERM", waitErr)
	}
	t.Logf("SIGTERM: %d streams got their reconnect event within %s; the process exited after %s (bound %s)",
		streams, lastEnd.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), exitBound)
	if !strings.Contains(demo.Stderr(), `"msg":"stopped serving HTTP","streams":5`) {
		t.Errorf("no log of the drain of 5 streams")
	}
	if _, err := http.Get(base + "/healthz"); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after the exit the port still answers: %v", err)
	}
}
