package attack_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// tailBound bounds every wait on the logs service: a listing or a tail
// that takes longer hangs.
const tailBound = 10 * time.Second

// writeFile writes (or appends to) a file in dir.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tail reads the log name at gateway a to its end (no follow), within
// tailBound; ok is false when it did not end in time.
func (s *system) tail(t *testing.T, token, name string) (status int, body string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tailBound)
	defer cancel()
	st, err := s.stream(ctx, s.baseA, "/v1/logs/"+name+"/events", withCookie(s.baseA, token))
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, "", false
	}
	if err != nil {
		t.Fatalf("setup: tail %s: %v", name, err)
	}
	defer st.Close()
	var b strings.Builder
	for {
		unit, err := st.NextUnit()
		b.WriteString(unit)
		if err != nil {
			return st.Res.StatusCode, b.String(), ctx.Err() == nil
		}
	}
}

// waitTailed waits until the tailed file name's log holds want: the logs
// service has polled the directory since want was written.
func (s *system) waitTailed(t *testing.T, token, name, want string) {
	t.Helper()
	err := apptest.Eventually(20*time.Second, func() error {
		if _, body, _ := s.tail(t, token, name); !strings.Contains(body, want) {
			return errors.New("not yet: " + body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("setup: the log %s never held %q: %v", name, want, err)
	}
}

// listLogs is GET /v1/logs at gateway a, within tailBound.
func (s *system) listLogs(t *testing.T, token string) response {
	t.Helper()
	r := s.do(t, "GET", s.baseA+"/v1/logs", "", withCookie(s.baseA, token))
	if r.err != nil || r.status != http.StatusOK {
		through(t, "listing the logs: %v, want 200 within %v", r, tailBound)
	}
	return r
}

// secretFile writes a file outside the log directory that holds a secret
// and returns its path and the secret.
func (s *system) secretFile(t *testing.T, user string) (path, secret string) {
	t.Helper()
	secret = "outside-secret-" + rand.Text()
	path = filepath.Join(s.outside, "secret-"+user)
	writeFile(t, path, secret+"\n")
	return path, secret
}

// Symbolic links in the tailed directory that lead out of it (absolute
// and relative, to a file holding a secret, to /proc/self/environ, to a
// directory, and through a link inside): none is listed or tailed, and
// the secret never reaches a signed-in user.
func logDirLinks(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	outside, secret := s.secretFile(t, user)
	links := map[string]string{
		"abs-" + user + ".log":     outside,
		"rel-" + user + ".log":     "../outside/secret-" + user,
		"environ-" + user + ".log": "/proc/self/environ",
		"dir-" + user + ".log":     s.outside,
		"chain-" + user + ".log":   "rel-" + user + ".log",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(s.logDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	control := "control-" + user + ".log"
	writeFile(t, filepath.Join(s.logDir, control), "control line\n")
	s.waitTailed(t, token, control, "control line")

	list := s.listLogs(t, token)
	for name := range links {
		if strings.Contains(list.body, `"`+name+`"`) {
			through(t, "the link %s (to %s) is listed: %s", name, links[name], list.body)
		}
		status, body, ok := s.tail(t, token, name)
		if !ok || status != http.StatusNotFound || strings.Contains(body, secret) {
			through(t, "tailing the link %s (to %s): %d %q (ended in time: %v), want 404", name, links[name], status, body, ok)
		}
	}
	if strings.Contains(list.body, secret) {
		through(t, "the listing holds the secret outside the directory")
	}
}

// A FIFO in the tailed directory: neither listing nor tailing hangs, the
// FIFO is not listed, and the tailer goes on with the other files.
func logDirFIFO(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	fifo := "fifo-" + user + ".log"
	if err := syscall.Mkfifo(filepath.Join(s.logDir, fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	control := "fifo-control-" + user + ".log"
	writeFile(t, filepath.Join(s.logDir, control), "line 1\n")
	s.waitTailed(t, token, control, "line 1")
	if list := s.listLogs(t, token); strings.Contains(list.body, `"`+fifo+`"`) {
		through(t, "the FIFO is listed: %s", list.body)
	}
	if status, body, ok := s.tail(t, token, fifo); !ok || status != http.StatusNotFound {
		through(t, "tailing the FIFO: %d %q (ended in time: %v), want 404 at once", status, body, ok)
	}
	// The tailer still follows files after meeting the FIFO.
	writeFile(t, filepath.Join(s.logDir, control), "line 2\n")
	s.waitTailed(t, token, control, "line 2")
}

// Tailed files swapped, while a follow stream reads them, for a link
// that leaves the directory (then the outside file grows) and for a
// FIFO: the outside content never reaches the stream, and tailing the
// swapped names does not hang.
func logDirSwap(t *testing.T, s *system) {
	_, user, token := s.signIn(t, s.baseA)
	outside, secret := s.secretFile(t, user)
	control := "swap-control-" + user + ".log"
	swapped := map[string]func(tmp string) error{
		"swap-link-" + user + ".log": func(tmp string) error { return os.Symlink(outside, tmp) },
		"swap-fifo-" + user + ".log": func(tmp string) error { return syscall.Mkfifo(tmp, 0o644) },
	}
	streams := map[string]*apptest.Stream{}
	for name := range swapped {
		writeFile(t, filepath.Join(s.logDir, name), "before the swap\n")
		s.waitTailed(t, token, name, "before the swap")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		st, err := s.stream(ctx, s.baseA, "/v1/logs/"+name+"/events?follow=true", withCookie(s.baseA, token))
		if err != nil || st.Res.StatusCode != http.StatusOK {
			t.Fatalf("setup: follow %s: %v", name, err)
		}
		defer st.Close()
		if ev, err := nextEvent(st, tailBound); err != nil || ev.Data != "before the swap" {
			t.Fatalf("setup: follow %s: %+v, %v", name, ev, err)
		}
		streams[name] = st
	}
	for name, swap := range swapped {
		// Made outside, then renamed over the tailed file: the swap is
		// atomic, as a log rotation's.
		tmp := filepath.Join(s.outside, name+".tmp")
		if err := swap(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(s.logDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, outside, secret+" written after the swap\n")
	writeFile(t, filepath.Join(s.logDir, control), "after the swap\n")
	s.waitTailed(t, token, control, "after the swap")
	for name, st := range streams {
		for {
			ev, err := nextEvent(st, 2*time.Second)
			if err != nil {
				break
			}
			if strings.Contains(ev.Data, secret) {
				through(t, "the follow stream of %s, swapped for a link out of the directory, sent the outside file: %q", name, ev.Data)
			}
		}
		if status, body, ok := s.tail(t, token, name); !ok || strings.Contains(body, secret) {
			through(t, "tailing %s after the swap: %d %q (ended in time: %v)", name, status, body, ok)
		}
	}
}

// SIGTERM to the logs service with links and FIFOs in its directory (left
// there by the attacks before): it exits within the bound.
func logsShutdown(t *testing.T, s *system) {
	const bound = 10 * time.Second
	if err := s.logs.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, ok := s.logs.Wait(bound)
	if !ok {
		through(t, "the logs service did not exit within %v of SIGTERM with a FIFO in its log directory", bound)
		return
	}
	if code := apptest.ExitCode(exit); code != 0 {
		t.Errorf("the logs service exited with status %d after SIGTERM: %v", code, exit)
	}
}
