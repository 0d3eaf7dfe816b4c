package attack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// breached holds the names of the tests whose attack got through.
var breached sync.Map

// through fails t: the attack it runs got through.
func through(t *testing.T, format string, args ...any) {
	t.Helper()
	breached.Store(t.Name(), true)
	t.Errorf("ATTACK GOT THROUGH: "+format, args...)
}

// response is what one request got back: a status, headers and at most
// 1 MiB of body, or err when the connection ended without a response.
type response struct {
	status int
	header http.Header
	body   string
	err    error
}

func (r response) String() string {
	if r.err != nil {
		return "no response: " + r.err.Error()
	}
	b := r.body
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(b))
}

// send sends req with c and reads the answer.
func send(c *http.Client, req *http.Request) response {
	res, err := c.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return response{status: res.StatusCode, header: res.Header, body: string(b), err: readErr(err)}
}

// readErr is nil for a body read to its end.
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// do sends method url with body (JSON when not empty) and the headers h
// (Host, when set, becomes the request's Host).
func (s *system) do(t *testing.T, method, url, body string, h http.Header) response {
	t.Helper()
	return s.doCtx(t.Context(), t, method, url, body, h)
}

// doCtx is do within ctx, for cleanups (t's context has ended by then).
func (s *system) doCtx(ctx context.Context, t *testing.T, method, url, body string, h http.Header) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		if strings.EqualFold(k, "Host") {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	c := s.client(url)
	defer c.CloseIdleConnections()
	return send(c, req)
}

// cookieName is the session cookie's name at base: with the __Host-
// prefix under TLS.
func cookieName(base string) string {
	if strings.HasPrefix(base, "https:") {
		return "__Host-ssegate_session"
	}
	return "ssegate_session"
}

// withCookie returns headers that send token as base's session cookie,
// as a copied cookie is sent, plus the pairs kv (name, value, …).
func withCookie(base, token string, kv ...string) http.Header {
	h := header(kv...)
	h.Set("Cookie", cookieName(base)+"="+token)
	return h
}

// header makes headers of the pairs kv (name, value, …).
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// stream opens the SSE stream at base+path with the headers h; ctx bounds
// it. The caller closes it.
func (s *system) stream(ctx context.Context, base, path string, h http.Header) (*apptest.Stream, error) {
	c := &apptest.Client{Base: base, HTTP: s.client(base)}
	c.HTTP.Timeout = 0 // ctx bounds a stream
	return c.Stream(ctx, path, h)
}

// readStream reads the stream at base+path to its end, for at most d, and
// returns the status and the raw bytes: for attacks on what a stream
// carries.
func (s *system) readStream(t *testing.T, base, path string, h http.Header, d time.Duration) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	st, err := s.stream(ctx, base, path, h)
	if err != nil {
		t.Fatalf("setup: GET %s: %v", path, err)
	}
	defer st.Close()
	b, _ := io.ReadAll(io.LimitReader(st.Res.Body, 1<<20))
	return st.Res.StatusCode, string(b)
}

// raw sends the bytes req on a new connection to addr and returns what
// came back until the server closed the connection or d passed.
func raw(t *testing.T, addr, req string, d time.Duration) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("setup: dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(conn, req); err != nil {
		return "write: " + err.Error()
	}
	b, _ := io.ReadAll(bufio.NewReader(conn))
	return string(b)
}

// statusOf is the status code of a raw HTTP/1.1 answer, 0 if there is none.
func statusOf(answer string) int {
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// errorBody decodes a JSON error body; ok is false unless it is a JSON
// object with a code and a message.
func errorBody(body string) (code, message string, ok bool) {
	var e struct{ Code, Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return "", "", false
	}
	return e.Code, e.Message, e.Code != "" && e.Message != ""
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
