package app_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// rawConn is a hand-written HTTP/1.1 client, for what net/http's client
// would not send or would hide.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads a response's head, bounded by d.
func (c *rawConn) readResponse(t *testing.T, d time.Duration) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return res
}

// waitClosed reads until the server closes the connection, bounded by d,
// and returns how long that took.
func (c *rawConn) waitClosed(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, c.r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %s", d)
	}
	return time.Since(start)
}

// sseRequest is a GET of an event stream with the session cookie.
func sseRequest(path, token, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" +
		"Cookie: ssegate_session=" + token + "\r\n" + extra + "\r\n"
}

// The idle timeout closes keep-alive connections between requests, never a
// stream: a quiet stream with heartbeats outlives it many times over.
func TestIdleTimeoutSparesQuietStreams(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.IdleTimeout = 500 * time.Millisecond
	cfg.Heartbeat = 150 * time.Millisecond
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "quiet", "one"); err != nil {
		t.Fatal(err)
	}

	stream := dialRaw(t, demo.URL)
	stream.send(t, sseRequest("/v1/logs/quiet/events?follow=true", c.Token(t), ""))
	res := stream.readResponse(t, 5*time.Second)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", res.Status)
	}
	events := apptest.NewStream(res)

	idle := dialRaw(t, demo.URL)
	idle.send(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	hres := idle.readResponse(t, 5*time.Second)
	if _, err := io.Copy(io.Discard, hres.Body); err != nil || hres.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s, %v", hres.Status, err)
	}
	took := idle.waitClosed(t, 10*time.Second)
	if took < cfg.IdleTimeout/2 {
		t.Errorf("idle connection closed after %s, before the idle timeout %s", took, cfg.IdleTimeout)
	}
	t.Logf("idle keep-alive connection closed after %s (idle-timeout %s)", took.Round(time.Millisecond), cfg.IdleTimeout)

	// The stream stays open for three idle timeouts, with heartbeats.
	_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	start, heartbeats := time.Now(), 0
	for time.Since(start) < 3*cfg.IdleTimeout {
		b, err := events.Next()
		if err != nil {
			t.Fatalf("stream cut after %s: %v", time.Since(start), err)
		}
		if b.Comment && b.Data == "" {
			heartbeats++
		}
	}
	if heartbeats < 3 {
		t.Errorf("%d heartbeats in %s, want at least 3", heartbeats, time.Since(start))
	}
	if _, err := logs.Append(ctx, "quiet", "two"); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := events.NextEvent()
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if b.Data == "two" {
			break
		}
	}
	t.Logf("stream alive after %s with %d heartbeats", time.Since(start).Round(time.Millisecond), heartbeats)
}

// A client that sends its headers too slowly is cut off, and one that sends
// too many gets 431.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.MaxHeaderBytes = 4 << 10
	demo := apptest.StartDemo(t, cfg)

	slow := dialRaw(t, demo.URL)
	slow.send(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n") // and never the end
	took := slow.waitClosed(t, 10*time.Second)
	t.Logf("slow header closed after %s (read-header-timeout %s)", took.Round(time.Millisecond), cfg.ReadHeaderTimeout)

	big := dialRaw(t, demo.URL)
	// net/http allows 4 KiB beyond MaxHeaderBytes for its buffer.
	big.send(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("a", 3*cfg.MaxHeaderBytes)+"\r\n\r\n")
	if res := big.readResponse(t, 5*time.Second); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %s, want 431", res.Status)
	}
}

// A GET that announces a chunked body and never sends it still gets its
// stream at once: nothing waits for a request body.
func TestChunkedGETStreamsAtOnce(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	demo := apptest.StartDemo(t, cfg)
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	logs := apptest.DialLogs(t, demo.LogsAddr(), "demo", demo.Identity())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := logs.Append(ctx, "chunked", "one"); err != nil {
		t.Fatal(err)
	}

	conn := dialRaw(t, demo.URL)
	conn.send(t, sseRequest("/v1/logs/chunked/events?follow=true", c.Token(t), "Transfer-Encoding: chunked\r\n"))
	res := conn.readResponse(t, 5*time.Second)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("chunked GET: %s %v", res.Status, res.Header)
	}
	events := apptest.NewStream(res)
	if b, err := events.Next(); err != nil || !b.Comment {
		t.Fatalf("first block %+v, %v; want the opening comment", b, err)
	}
	if b, err := events.NextEvent(); err != nil || b.Data != "one" {
		t.Fatalf("first event %+v, %v", b, err)
	}
	if _, err := logs.Append(ctx, "chunked", "two"); err != nil {
		t.Fatal(err)
	}
	if b, err := events.NextEvent(); err != nil || b.Data != "two" {
		t.Fatalf("second event %+v, %v", b, err)
	}
}
