package attack_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// attack is one row of the suite.
type attack struct {
	// name names the attack (the subtest); the issue-14 point it belongs
	// to leads it, "+" for attacks beyond the list.
	name string
	// tries says what the attacker sends.
	tries string
	// check runs the attack and fails t, naming what got through, unless
	// the defense held.
	check func(t *testing.T, s *system)
	// last marks attacks that stop a process: they run after all others,
	// one at a time, in order.
	last bool
}

var attacks = []attack{
	{name: "1 sign-out: copied cookie, REST and SSE", check: signOutCopiedCookie,
		tries: "stream open, DELETE /v1/sessions/current, then a saved copy of the cookie on GET /v1/jobs and an SSE route"},
	{name: "1 sign-out: on gateway A, cookie on B and TLS", check: signOutOtherGateways,
		tries: "streams open on gateways B and TLS, sign-out on A, then the copied cookie on A, B and TLS"},
	{name: "1 sign-out: cookie replayed at once", check: signOutRace,
		tries: "100 times: sign in, then DELETE /v1/sessions/current with a GET with the same cookie pipelined behind it on one connection"},
	{name: "2 backends: forged identities over gRPC", check: forgedIdentity,
		tries: "straight to the jobs, logs and auth gRPC ports: the session token as metadata, HS256 tokens signed with the session secret or the gateway's public key, alg none, replayed, expired and jobs-signed tokens"},
	{name: "2 backends: session token at rest", check: tokenAtRest,
		tries: "run a job to its end, then search every file under the jobs and logs data dirs for the cookie's token (plain and base64) or any JWT"},
	{name: "2 gateway: spoofed identity headers", check: spoofedIdentityHeaders,
		tries: "X-Ssegate-Identity (a victim's real identity token), X-Ssegate-Subject, their Grpc-Metadata-* forms and Authorization, with and without the attacker's cookie"},
	{name: "3 sign-in: one user, many addresses", check: guessOneUser,
		tries: "30 wrong passwords for one user from 30 addresses, then the right password during the lockout"},
	{name: "3 sign-in: one address, many users", check: guessManyUsers,
		tries: "30 wrong sign-ins for 30 user names from one address, spoofing X-Ssegate-Client-Ip, X-Real-Ip and earlier X-Forwarded-For hops"},
	{name: "3 sign-in: 10 MiB body", check: hugeSignIn,
		tries: "POST /v1/sessions with 10 MiB of JSON, with a length and chunked"},
	{name: "3 sign-in: slow body", check: slowSignInBody,
		tries: "POST /v1/sessions, the body at 1 byte every 2 s (bounded at about 20 s)"},
	{name: "3 slow headers", check: slowHeaders,
		tries: "request headers at 1 byte every 2 s (bounded at about 20 s)"},
	{name: "3 REST: 2 MiB body", check: hugeRESTBody,
		tries: "POST /v1/jobs and /v1/jobs/{id}:cancel with 2 MiB, with a length and chunked"},
	{name: "4 DNS rebinding: API", check: rebindingAPI,
		tries: "Host evil.example (and look-alikes of loopback) with a matching Origin and a valid cookie on REST, SSE and /docs"},
	{name: "4 DNS rebinding: sign-in", check: rebindingSignIn,
		tries: "POST /v1/sessions with the right password and Host evil.example"},
	{name: "4 DNS rebinding: metrics listener", check: rebindingMetrics,
		tries: "GET /metrics and /debug/pprof/cmdline on the metrics address with Host evil.example"},
	{name: "5 ops endpoints on the public port", check: opsEndpoints,
		tries: "GET /metrics, /debug/pprof/*, /debug/vars on the public port, signed in and not; the same on the metrics address"},
	{name: "6 log dir: links out", check: logDirLinks,
		tries: "symlinks in the log dir to a secret file outside (absolute, relative, through a link), to /proc/self/environ, to a directory; list and tail them"},
	{name: "6 log dir: FIFO", check: logDirFIFO,
		tries: "a FIFO in the log dir; list, tail it, and tail a file written after it"},
	{name: "6 log dir: swapped files", check: logDirSwap,
		tries: "tailed files, followed, swapped for a link out of the dir and for a FIFO; the outside file grows"},
	{name: "7 GET with a body", check: getWithBody,
		tries: "GET with a 200 KiB body (length and chunked) on SSE, NDJSON and unary routes, 4 times each"},
	{name: "8 jobs: over the per-user cap", check: jobsCap,
		tries: "one user starts 3 long jobs in a row, another 8 at once, with -max-jobs-per-user 2"},
	{name: "9 leaks: grpc headers", check: grpcHeaderLeak,
		tries: "REST, error, SSE and NDJSON answers, searched for Grpc-* headers"},
	{name: "9 leaks: strconv text in errors", check: badInputErrors,
		tries: "non-numbers in the path, query, Last-Event-ID and JSON body, markup in ids; every error must be JSON {code, message}"},
	{name: "9 leaks: Go decoder text in errors", check: decoderErrors,
		tries: `POST bodies {"limit":"abc"}, a duplicate field, [], xx, {"username":1}`},
	{name: "10 TLS: cookie prefix and flags", check: tlsCookie,
		tries: "sign in and out over TLS: Set-Cookie's name and flags; the token under the unprefixed name"},
	{name: "10 HTTP: cookie flags", check: httpCookie,
		tries: "sign in over plain HTTP: Set-Cookie's flags and Cache-Control"},
	{name: "+ CSRF: another Origin", check: crossSiteRequests,
		tries: "POST /v1/jobs, DELETE the session, a stream and a sign-in with a valid cookie from Origin evil.example, null, a look-alike, https and localhost"},
	{name: "+ CORS: another Origin reads", check: crossSiteReads,
		tries: "preflights and GETs from Origin evil.example and null, searched for Access-Control-Allow-*"},
	{name: "+ forged session cookies", check: forgedSessionCookies,
		tries: "tampered payload, alg none, guessed HS256 secrets, an expired token, a gateway's identity token, 5,000 bytes"},
	{name: "+ Last-Event-ID injection", check: lastEventIDInjection,
		tries: "lastEventId and Last-Event-ID with LF, CR, NUL, control bytes, non-ASCII, 300 bytes"},
	{name: "+ SSE injection through a log line", check: sseInjection,
		tries: `a tailed line "first\rid: 999\revent: end\r…", CRLF, NUL and bytes that are not UTF-8`},
	{name: "+ another user's job", check: otherUsersJob,
		tries: "read, watch (while its owner watches), cancel another user's job by id, tail its log, look for it in the lists"},
	{name: "+ path traversal in log names", check: pathTraversal,
		tries: "/v1/logs/{name}/events with ../, %2e%2e, double-escaped and backslashed names toward a secret outside"},
	{name: "+ malformed HTTP", check: malformedHTTP,
		tries: "two Content-Lengths with a request behind, CRLF in the path, a 100 KiB header, NUL in a header, a 100 KiB URL, an h2c upgrade, TRACE (raw connection)"},
	{name: "+ stream flood", check: streamFlood,
		tries: "one user opens 20 follow streams (the per-user cap is 16)"},
	{name: "+ user enumeration", check: userEnumeration,
		tries: "a wrong password for a user that exists and for one that does not"},
	{name: "+ log injection", check: logInjection,
		tries: "a user name, a path, User-Agent and X-Request-Id holding a newline and a JSON log line"},
	{name: "+ deeply nested JSON", check: deepJSON,
		tries: "POST /v1/jobs with JSON nested 100,000 deep, in a known and in unknown fields"},
	{name: "+ method override", check: methodOverride,
		tries: "GET /v1/sessions/current with _method=DELETE, X-HTTP-Method-Override and the like"},
	{name: "6 log dir: shutdown with FIFOs", check: logsShutdown, last: true,
		tries: "SIGTERM to the logs service with the FIFOs and links of the attacks above in its dir"},
	{name: "7 gateway A: shutdown at the end", check: gatewayShutdown, last: true,
		tries: "SIGTERM to gateway A after every attack"},
	{name: "7 no panics", check: noPanics, last: true,
		tries: "every process's stderr, searched for panic"},
}

// TestAttacks starts the demo once, runs every attack against it, the
// ones that stop a process last, and logs the table of attacks and
// results. It fails on any attack that gets through.
func TestAttacks(t *testing.T) {
	start := time.Now()
	s := startSystem(t)
	t.Logf("the demo's processes started in %v", time.Since(start).Round(time.Millisecond))
	var mu sync.Mutex
	results := make([]string, len(attacks)) // empty: not run (-run)
	run := func(t *testing.T, i int) {
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			_, got := breached.Load(t.Name())
			switch {
			case got:
				results[i] = "GOT THROUGH"
			case t.Failed():
				results[i] = "failed before the attack (setup)"
			default:
				results[i] = "held"
			}
		})
		attacks[i].check(t, s)
	}
	t.Run("attacks", func(t *testing.T) {
		for i, a := range attacks {
			if !a.last {
				t.Run(a.name, func(t *testing.T) {
					t.Parallel()
					run(t, i)
				})
			}
		}
	})
	for i, a := range attacks {
		if a.last {
			t.Run(a.name, func(t *testing.T) { run(t, i) })
		}
	}

	mu.Lock()
	defer mu.Unlock()
	var table strings.Builder
	var failed []string
	ran := 0
	table.WriteString("| attack | what was sent | result |\n|---|---|---|\n")
	for i, a := range attacks {
		switch results[i] {
		case "":
			continue
		case "GOT THROUGH":
			failed = append(failed, a.name)
		}
		ran++
		fmt.Fprintf(&table, "| %s | %s | %s |\n", a.name, a.tries, results[i])
	}
	t.Logf("%d attacks in %v:\n%s", ran, time.Since(start).Round(time.Second), table.String())
	if len(failed) > 0 {
		t.Errorf("%d of %d attacks got through: %s", len(failed), ran, strings.Join(failed, "; "))
	}
}
