package attack_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// signInAs tries user's password at base's sign-in, from the client
// address addr (X-Forwarded-For, which the gateways believe from
// loopback, as from a proxy) with the further headers kv.
func (s *system) signInAs(t *testing.T, user, password, xff string, kv ...string) response {
	t.Helper()
	return s.do(t, "POST", s.baseA+"/v1/sessions", credentials(user, password), header(append([]string{"X-Forwarded-For", xff}, kv...)...))
}

// retryAfter is a 429's Retry-After in seconds, 0 when it has none.
func retryAfter(r response) int {
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil {
		return 0
	}
	return n
}

// tooMany checks that among rs a 429 with a Retry-After came, and
// returns how many answers were 401 (passwords actually checked).
func tooMany(t *testing.T, what string, rs []response) int {
	t.Helper()
	checked, limited := 0, 0
	for _, r := range rs {
		switch r.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			limited++
			if retryAfter(r) < 1 {
				through(t, "%s: a 429 without a Retry-After of at least 1 s: %v %v", what, r.header, r)
			}
			if code, _, ok := errorBody(r.body); !ok || code != "RESOURCE_EXHAUSTED" {
				through(t, "%s: a 429 whose body is not a RESOURCE_EXHAUSTED JSON error: %v", what, r)
			}
		default:
			t.Fatalf("setup: %s: %v", what, r)
		}
	}
	if limited == 0 {
		through(t, "%s: all %d answered 401, no 429", what, checked)
	}
	return checked
}

// 30 wrong passwords for one user, each from another client address: the
// per-user limit answers 429 with Retry-After after the first few, and
// while it holds even the right password is refused, so guessing cannot
// go on behind it.
func guessOneUser(t *testing.T, s *system) {
	victim := s.user(t)
	var rs []response
	for i := range 30 {
		rs = append(rs, s.signInAs(t, victim, "wrong-"+strconv.Itoa(i), fmt.Sprintf("198.51.100.%d", i+1)))
	}
	if checked := tooMany(t, "30 wrong passwords for one user", rs); checked > 10 {
		through(t, "30 wrong passwords for one user: %d were checked (401) before the limit", checked)
	}
	// Wait, still guessing, for a lockout of at least 2 s, then try the
	// right password in it.
	for i := range 100 {
		r := s.signInAs(t, victim, "wrong-again", fmt.Sprintf("198.51.100.%d", 100+i))
		if r.status == http.StatusTooManyRequests && retryAfter(r) >= 2 {
			if r := s.signInAs(t, victim, victim, "198.51.100.250"); r.status != http.StatusTooManyRequests {
				through(t, "the right password during a lockout of %s s: %v, want 429", r.header.Get("Retry-After"), r)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	through(t, "100 more wrong passwords over 10 s never met a lockout of 2 s or more")
}

// 30 wrong sign-ins from one client address, each for another user name
// and each claiming another address in the headers a client might hope
// the gateway or the auth service believes (its own x-ssegate-client-ip,
// plain and as Grpc-Metadata-*, X-Real-Ip, and addresses before the
// proxy's in X-Forwarded-For): the per-address limit answers 429.
func guessManyUsers(t *testing.T, s *system) {
	var rs []response
	for i := range 30 {
		spoofed := fmt.Sprintf("192.0.2.%d", i+1)
		rs = append(rs, s.signInAs(t, fmt.Sprintf("nobody-%d", i), "guess", spoofed+", 203.0.113.7",
			"X-Ssegate-Client-Ip", spoofed, "Grpc-Metadata-X-Ssegate-Client-Ip", spoofed, "X-Real-Ip", spoofed))
	}
	if checked := tooMany(t, "30 wrong sign-ins from one address", rs); checked > 25 {
		through(t, "30 wrong sign-ins from one address: %d were checked (401) before the limit", checked)
	}
}

// bigBody is a JSON object of about n bytes.
func bigBody(n int) []byte {
	return []byte(`{"username":"x","password":"` + strings.Repeat("a", n) + `"}`)
}

// upload sends a POST of body to path at gateway a on a raw connection,
// with the cookie of token (none when empty), with a Content-Length or
// chunked, while reading the answer, and stops sending once the answer
// has come: a server may answer 413 before it has read the body, and
// close. It returns the answer's status, 0 when the connection closed
// without one.
func (s *system) upload(t *testing.T, path, token string, body []byte, chunked bool) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.a.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	answered := make(chan int, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	head := "POST " + path + " HTTP/1.1\r\nHost: " + s.a.Addr + "\r\nContent-Type: application/json\r\nConnection: close\r\n"
	if token != "" {
		head += "Cookie: " + cookieName(s.baseA) + "=" + token + "\r\n"
	}
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return <-answered
	}
	for len(body) > 0 {
		select {
		case st := <-answered:
			return st
		default:
		}
		n := min(len(body), 64<<10)
		piece := body[:n]
		if chunked {
			piece = fmt.Appendf(nil, "%x\r\n%s\r\n", n, body[:n])
		}
		if _, err := conn.Write(piece); err != nil {
			return <-answered // closed by the server: its answer, if any, came first
		}
		body = body[n:]
	}
	if chunked {
		_, _ = io.WriteString(conn, "0\r\n\r\n")
	}
	return <-answered
}

// A 10 MiB body to sign-in, with a length and chunked: 413.
func hugeSignIn(t *testing.T, s *system) {
	body := bigBody(10 << 20)
	for _, chunked := range []bool{false, true} {
		if st := s.upload(t, "/v1/sessions", "", body, chunked); st != http.StatusRequestEntityTooLarge {
			through(t, "10 MiB to POST /v1/sessions (chunked %v): status %d, want 413", chunked, st)
		}
	}
}

// 2 MiB to REST routes other than sign-in (over the default
// max-body-bytes, 1 MiB), with a length and chunked: 413.
func hugeRESTBody(t *testing.T, s *system) {
	c, _, token := s.signIn(t, s.baseA)
	job := createJob(t, c, 1000)
	body := bigBody(2 << 20)
	for _, path := range []string{"/v1/jobs", "/v1/jobs/" + job + ":cancel"} {
		for _, chunked := range []bool{false, true} {
			if st := s.upload(t, path, token, body, chunked); st != http.StatusRequestEntityTooLarge {
				through(t, "2 MiB to POST %s (chunked %v): status %d, want 413", path, chunked, st)
			}
		}
	}
}

// slowBound bounds the slow attacks: a byte every slowStep, slowBytes of
// them (about 20 s in all).
const (
	slowStep  = 2 * time.Second
	slowBytes = 10
)

// trickle sends head on a new connection to addr, then one byte of rest
// every slowStep, and reports what ended it first: the server's answer
// (its status, 0 for a closed connection) or, when it kept reading for
// every byte, ok false.
func trickle(t *testing.T, addr, head, rest string) (status int, ok bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(slowStep * (slowBytes + 5)))
	answered := make(chan int, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("setup: %v", err)
	}
	for i := range min(slowBytes, len(rest)) {
		select {
		case st := <-answered:
			return st, true
		case <-time.After(slowStep):
		}
		if _, err := conn.Write([]byte{rest[i]}); err != nil {
			return <-answered, true // closed by the server
		}
	}
	select {
	case st := <-answered:
		return st, true
	case <-time.After(slowStep):
		_ = conn.Close()
		<-answered
		return 0, false
	}
}

// A sign-in body sent one byte every 2 s: the gateway answers 408 (or
// closes) before the suite's bound of about 20 s.
func slowSignInBody(t *testing.T, s *system) {
	head := "POST /v1/sessions HTTP/1.1\r\nHost: " + s.a.Addr + "\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n"
	status, ok := trickle(t, s.a.Addr, head, `{"username":"x","password":"y"}`)
	switch {
	case !ok:
		through(t, "a sign-in body at 1 byte every %v was still being read after %d bytes", slowStep, slowBytes)
	case status != 0 && status != http.StatusRequestTimeout:
		through(t, "a slow sign-in body: %d, want 408 or a closed connection", status)
	}
}

// Request headers sent one byte every 2 s (slowloris): the gateway closes
// (or answers) before the bound.
func slowHeaders(t *testing.T, s *system) {
	head := "GET /v1/jobs HTTP/1.1\r\nHost: " + s.a.Addr + "\r\nX-Slow: "
	if _, ok := trickle(t, s.a.Addr, head, "abcdefghijklmnop"); !ok {
		through(t, "headers at 1 byte every %v were still being read after %d bytes", slowStep, slowBytes)
	}
}

// Sign-ins for a user that does not exist and for one that does, with a
// wrong password: the same status and the same body, so the answers do
// not tell which names exist (the per-user limit counts unknown names
// too).
func userEnumeration(t *testing.T, s *system) {
	known := s.user(t)
	unknown := s.signInAs(t, "nosuch-"+known, "wrong", "198.51.100.251")
	wrong := s.signInAs(t, known, "wrong", "198.51.100.252")
	if unknown.status != wrong.status || unknown.body != wrong.body {
		through(t, "an unknown user answers %v, a known one with a wrong password %v", unknown, wrong)
	}
}

// Log injection: a user name and a path holding a newline and a log
// line of their own. The services log JSON lines; none of the attacker's
// lines appears as a record of its own.
func logInjection(t *testing.T, s *system) {
	forged := "\n{\"time\":\"2026-01-01T00:00:00Z\",\"level\":\"ERROR\",\"msg\":\"forged\"}\n"
	s.signInAs(t, "x"+forged, "wrong", "198.51.100.253")
	s.do(t, "GET", s.baseA+"/v1/jobs/"+url.PathEscape(forged), "", nil)
	s.do(t, "GET", s.baseA+"/healthz", "", header("User-Agent", "ua"+strings.TrimSpace(forged), "X-Request-Id", "id"+strings.TrimSpace(forged)))
	for name, p := range map[string]*apptest.Process{"auth": s.auth, "gateway A": s.a} {
		for line := range strings.SplitSeq(p.Stderr(), "\n") {
			var rec struct{ Msg string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "forged" {
				through(t, "%s's log has the attacker's line: %s", name, line)
			}
		}
	}
}

// A JSON body nested 100,000 deep (under max-body-bytes), known field and
// unknown: a 4xx, never a 5xx, and the gateway keeps serving.
func deepJSON(t *testing.T, s *system) {
	_, _, token := s.signIn(t, s.baseA)
	const depth = 100_000
	for _, body := range []string{
		`{"limit":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`,
		`{"x":` + strings.Repeat(`{"x":`, depth) + "1" + strings.Repeat("}", depth) + `}`,
		`{"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`,
	} {
		if st := s.upload(t, "/v1/jobs", token, []byte(body), false); st < 400 || st >= 500 {
			through(t, "POST /v1/jobs with JSON nested %d deep: status %d, want a 4xx", depth, st)
		}
	}
	s.alive(t, s.a, s.baseA, token, "deeply nested JSON")
}
