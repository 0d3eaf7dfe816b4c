// Package apptest helps tests run the real demo and talk to it as clients
// do: sign in with a cookie, read SSE streams line by line, and append log
// entries straight to the logs service so a test decides when each event
// is sent.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/session"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/internal/ssetest"
)

// Config returns the demo's defaults for a test: a free loopback port, a
// fresh data directory, no per-user cap, and warnings only.
func Config(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MaxStreamsPerUser = 0
	cfg.LogLevel = "warn"
	cfg.SessionSecret = "apptest-secret-apptest-secret-apptest"
	return cfg
}

// Logger sends logs at level and above to the test log.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartDemo starts the demo with cfg and closes it when the test ends.
func StartDemo(t testing.TB, cfg config.Config, opts ...app.DemoOption) *app.Demo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := app.StartDemo(ctx, cfg, Logger(t, slog.LevelWarn), opts...)
	if err != nil {
		t.Fatalf("starting the demo: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// Client is a browser stand-in: an http.Client with a cookie jar.
type Client struct {
	Base string
	HTTP *http.Client
}

// SignIn returns a client of base signed in as user (password = user, as
// the demo users have it), using transport (nil: a new default one).
func SignIn(t testing.TB, base, user string, transport http.RoundTripper) *Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if transport == nil {
		transport = &http.Transport{}
	}
	c := &Client{Base: base, HTTP: &http.Client{Jar: jar, Transport: transport}}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	body, _ := json.Marshal(map[string]string{"username": user, "password": user})
	res, err := c.Do(context.Background(), "POST", "/v1/sessions", string(body), nil)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("sign in as %s: HTTP %d %s", user, res.StatusCode, b)
	}
	return c
}

// Do sends a request with a JSON body (when not empty).
func (c *Client) Do(ctx context.Context, method, path, body string, header http.Header) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, strings.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = cancelBody{res.Body, cancel}
	return res, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Token is the session token in the client's cookie, for tests that send
// the cookie by hand (backends never accept it).
func (c *Client) Token(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(c.Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == session.DefaultCookieName || ck.Name == "__Host-"+session.DefaultCookieName {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// Stream opens an SSE stream at path; ctx bounds it. The caller closes it.
func (c *Client) Stream(ctx context.Context, path string, header http.Header) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	return NewStream(res), nil
}

// Block is one SSE block: an event, or a comment line (Comment set).
type Block = ssetest.Block

// Stream reads SSE blocks from a response, one at a time.
type Stream struct {
	Res *http.Response
	*ssetest.Reader
}

// NewStream reads res's body as an event stream.
func NewStream(res *http.Response) *Stream {
	return &Stream{Res: res, Reader: ssetest.NewReader(res.Body)}
}

// Close ends the stream from the client's side.
func (s *Stream) Close() error { return s.Res.Body.Close() }

// Logs appends entries to logs as a user, straight over gRPC, with the
// identity tokens a gateway would send.
type Logs struct {
	conn *grpc.ClientConn
}

// DialLogs connects to the logs service at addr; every call carries an
// identity token that gateway (the demo's Identity, or Keys.Gateway)
// signs for user.
func DialLogs(t testing.TB, addr, user string, gateway *identity.Minter) *Logs {
	t.Helper()
	opts := append(gateway.DialOptions(app.LogsService), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(identity.NewContext(ctx, identity.Principal{Subject: user}), method, req, reply, cc, opts...)
		}))
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Logs{conn: conn}
}

// Append adds an entry to the log name, creating it, and returns its
// offset (the event id readers see).
func (l *Logs) Append(ctx context.Context, name, text string) (uint64, error) {
	res, err := logsv1.NewLogServiceClient(l.conn).Append(ctx, &logsv1.AppendRequest{Name: name, Text: text})
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", name, err)
	}
	return res.GetOffset(), nil
}

// Eventually calls f until it returns nil or d passes, and returns the last
// error. For conditions that are reached asynchronously, such as a gauge
// going down after a client left.
func Eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
