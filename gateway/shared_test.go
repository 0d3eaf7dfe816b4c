package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/resume"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

const watchJob = "/ssegate.jobs.v1.JobService/WatchJob"

// history is a job's events as a backend with durable history serves
// them: every WatchJob replays the events after its after_id, then follows
// new ones, and ends after the last once the job has ended; a call after
// the end with nothing left ends without headers (204).
type history struct {
	mu      sync.Mutex
	events  []string // event i+1's log text
	ended   bool
	changed chan struct{}
	broken  chan struct{} // closed: every open call fails with UNAVAILABLE
	// refuse, when set, decides a call by its identity metadata.
	refuse func(md metadata.MD) error
}

func newHistory() *history {
	return &history{changed: make(chan struct{}), broken: make(chan struct{})}
}

func (h *history) add(texts ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, texts...)
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *history) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	close(h.changed)
	h.changed = make(chan struct{})
}

// breakCalls fails every open call, as a backend restart does.
func (h *history) breakCalls() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.broken)
	h.broken = make(chan struct{})
}

func (h *history) watch(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
	md, _ := metadata.FromIncomingContext(s.Context())
	if h.refuse != nil {
		if err := h.refuse(md); err != nil {
			return err
		}
	}
	next := req.GetAfterId()
	h.mu.Lock()
	done := h.ended && next >= uint64(len(h.events))
	broken := h.broken
	h.mu.Unlock()
	if done {
		return nil // trailers only: 204
	}
	if err := grpc.SendHeader(s.Context(), metadata.MD{}); err != nil {
		return err
	}
	for {
		h.mu.Lock()
		pending := h.events[min(next, uint64(len(h.events))):]
		ended, changed := h.ended, h.changed
		h.mu.Unlock()
		for _, text := range pending {
			next++
			if err := s.Send(logLine(next, text)); err != nil {
				return err
			}
		}
		if ended {
			return nil
		}
		select {
		case <-changed:
		case <-broken:
			return status.Error(codes.Unavailable, "restarting")
		case <-s.Context().Done():
			return s.Context().Err()
		}
	}
}

// byUser stands in for the session middleware: the user named by the
// X-Test-User header is signed in.
func byUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{Subject: u, Token: "token-of-" + u}))
		}
		next.ServeHTTP(w, r)
	})
}

// browser reads one job's stream as EventSource does: it reconnects with
// the last id it saw after a close without an end, and stops at the end
// or on a non-200 answer.
type browser struct {
	t      *testing.T
	url    string
	user   string
	lastID string
	ids    []int // every event id received, in order
	conns  int
	status int // of the last answer
	// seen, when not nil, is told of each event received.
	seen func(id int)
}

// open connects once and reads up to max events (0: to the end).
func (b *browser) open(ctx context.Context, max int) (ended bool) {
	b.t.Helper()
	h := http.Header{"X-Test-User": {b.user}}
	if b.lastID != "" {
		h.Set("Last-Event-ID", b.lastID)
	}
	resp, u := stream(b.t, ctx, b.url, h)
	defer resp.Body.Close()
	b.conns++
	b.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return true
	}
	r := u.Reader
	for n := 0; max == 0 || n < max; n++ {
		ev, err := r.NextEvent()
		if err != nil {
			return false
		}
		switch ev.Event {
		case "end":
			return true
		case "log":
			id, err := strconv.Atoi(ev.ID)
			if err != nil {
				b.t.Errorf("event id %q", ev.ID)
				return true
			}
			b.ids = append(b.ids, id)
			b.lastID = ev.ID
			if b.seen != nil {
				b.seen(id)
			}
		case "reconnect":
			return false
		default:
			b.t.Errorf("unexpected event %+v", ev)
			return true
		}
	}
	return false
}

// follow reads to the end, reconnecting as EventSource does.
func (b *browser) follow(ctx context.Context) {
	for !b.open(ctx, 0) && ctx.Err() == nil {
	}
}

// checkContiguous requires the ids to run from first to last, once each.
func checkContiguous(t *testing.T, name string, ids []int, first, last int) {
	t.Helper()
	want := make([]int, 0, last-first+1)
	for i := first; i <= last; i++ {
		want = append(want, i)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("%s: ids %v, want %d..%d once each", name, ids, first, last)
	}
}

func texts(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("event %d", i))
	}
	return out
}

// Browsers of one user that open the same job share one upstream stream;
// another user's get their own. Every browser gets every event once, then
// the end.
func TestSharedPerUser(t *testing.T) {
	t.Parallel()
	h := newHistory()
	b := &backend{watch: h.watch}
	srv := startGateway(t, startBackend(t, b), byUser, gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PER_USER))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.add(texts(1, 3)...)
	var wg sync.WaitGroup
	var browsers []*browser
	for i := range 12 {
		user := "ann"
		if i%4 == 3 {
			user = "bob"
		}
		br := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: user}
		browsers = append(browsers, br)
		// The first events arrive before the others join.
		br.open(ctx, 1)
	}
	// Every browser follows from event 1 and has its window's events 2 and
	// 3 before the job goes on and ends (one that came after the end would
	// be right to open a stream of its own).
	caughtUp := make(chan struct{}, len(browsers))
	for _, br := range browsers {
		br.seen = func(id int) {
			if id == 3 {
				caughtUp <- struct{}{}
			}
		}
		wg.Go(func() { br.follow(ctx) })
	}
	for range browsers {
		select {
		case <-caughtUp:
		case <-ctx.Done():
			t.Fatal("browsers did not catch up")
		}
	}
	h.add(texts(4, 40)...)
	h.end()
	wg.Wait()
	for i, br := range browsers {
		checkContiguous(t, fmt.Sprintf("browser %d (%s)", i, br.user), br.ids, 1, 40)
	}
	if n := b.callCount(); n != 2 {
		b.mu.Lock()
		for _, md := range b.md {
			t.Logf("call: subject %q", md.Get(identity.MetadataSubject))
		}
		b.mu.Unlock()
		t.Errorf("backend saw %d streams for 2 users, want 2", n)
	}
}

// One browser among many stops reading: it alone is evicted, and the
// others get every event, their delivery times unchanged (logged).
func TestSharedSlowReaderEvictedAlone(t *testing.T) {
	t.Parallel()
	h := newHistory()
	b := &backend{watch: h.watch}
	_, gw := startGatewayGW(t, startBackend(t, b), nil,
		gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PER_USER),
		gateway.WithShareQueue(64), gateway.WithQueueBytes(256<<10), gateway.WithWriteTimeout(2*time.Second))
	// Small socket buffers on the server's side, so that a client that
	// does not read blocks the gateway's writes to it soon.
	srv := httptest.NewUnstartedServer(byUser(gw))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	h.add("start")

	// The slow one: asks for the stream over raw TCP with a small receive
	// buffer (set before connecting, so the window is small), and never
	// reads again until the others are done.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		return errors.Join(err, serr)
	}}
	conn, err := d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/jobs/j1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nX-Test-User: ann\r\nConnection: close\r\n\r\n")

	const readers, events = 8, 300
	type receipt struct{ sent, got time.Time }
	got := make([][]receipt, readers)
	var wg sync.WaitGroup
	ready := make(chan struct{}, readers)
	for i := range readers {
		wg.Go(func() {
			resp, u := stream(t, ctx, srv.URL+"/v1/jobs/j1/events", http.Header{"X-Test-User": {"ann"}})
			defer resp.Body.Close()
			r := u.Reader
			if ev, err := r.NextEvent(); err != nil || ev.Data != "start" {
				t.Errorf("reader %d: first event %+v, %v", i, ev, err)
				return
			}
			ready <- struct{}{}
			for {
				ev, err := r.NextEvent()
				if err != nil || ev.Event == "end" {
					return
				}
				sent, _ := strconv.ParseInt(strings.Fields(ev.Data)[0], 10, 64)
				got[i] = append(got[i], receipt{time.Unix(0, sent), time.Now()})
			}
		})
	}
	for range readers {
		<-ready
	}
	big := strings.Repeat("x", 4<<10) // fills the slow reader's buffers soon
	for range events {
		h.add(strconv.FormatInt(time.Now().UnixNano(), 10) + " " + big)
		time.Sleep(2 * time.Millisecond)
	}
	h.end()
	wg.Wait()
	for i, rs := range got {
		if len(rs) != events {
			t.Errorf("reader %d got %d of %d events", i, len(rs), events)
		}
	}
	// The slow reader was evicted: its stream ended before the end, and
	// the server closed its connection, which it sees once it reads its
	// buffers out.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // only a hang fails
	slow, err := io.ReadAll(conn)
	if err != nil {
		t.Errorf("slow reader: %v, want the server to close its stream", err)
	}
	if n := strings.Count(string(slow), "\nid: ") + strings.Count(string(slow), "\r\nid: "); n >= events || strings.Contains(string(slow), "event: end") {
		t.Errorf("the slow reader got %d events and the end: not evicted", n)
	}
	var first, last []time.Duration
	for _, rs := range got {
		for j, r := range rs {
			d := r.got.Sub(r.sent)
			if j < len(rs)/4 {
				first = append(first, d)
			} else if j >= 3*len(rs)/4 {
				last = append(last, d)
			}
		}
	}
	t.Logf("delivery p50/p99: first quarter %v/%v, last quarter %v/%v (the slow reader stalled early)",
		pct(first, 50), pct(first, 99), pct(last, 50), pct(last, 99))
	if n := b.callCount(); n != 1 {
		t.Errorf("backend saw %d streams, want 1", n)
	}
}

// smallBuffers gives every accepted connection a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// Browsers joining, leaving and resuming at random points get every event
// once, in order: from the window of the shared upstream when their resume
// point is in it, from an upstream of their own when it is not.
func TestSharedResumeExact(t *testing.T) {
	t.Parallel()
	h := newHistory()
	b := &backend{watch: h.watch}
	srv := startGateway(t, startBackend(t, b), byUser,
		gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PER_USER), gateway.WithShareWindow(32, 1<<20))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const total = 400
	go func() {
		for i := 1; i <= total; i++ {
			h.add(fmt.Sprintf("event %d", i))
			time.Sleep(300 * time.Microsecond)
		}
		h.end()
	}()
	var wg sync.WaitGroup
	browsers := make([]*browser, 30)
	starts := make([]int, len(browsers))
	for i := range browsers {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		br := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "ann"}
		browsers[i] = br
		wg.Go(func() {
			time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
			h.mu.Lock()
			seen := len(h.events)
			h.mu.Unlock()
			if start := rng.IntN(seen + 1); start > 0 {
				br.lastID, starts[i] = strconv.Itoa(start), start
			}
			// Read a few events at a time, leave, come back from the last.
			for !br.open(ctx, 1+rng.IntN(40)) && ctx.Err() == nil {
				time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, br := range browsers {
		checkContiguous(t, fmt.Sprintf("browser %d (from %d, %d connections)", i, starts[i], br.conns), br.ids, starts[i]+1, total)
	}
	t.Logf("%d browsers, %d connections, %d upstream streams", len(browsers), sumConns(browsers), b.callCount())
	if b.callCount() >= sumConns(browsers) {
		t.Errorf("no sharing: %d upstream streams for %d connections", b.callCount(), sumConns(browsers))
	}
}

func sumConns(bs []*browser) int {
	n := 0
	for _, b := range bs {
		n += b.conns
	}
	return n
}

// A shared upstream that fails for a moment is reopened by the gateway
// from its last id: browsers see no break (one connection each, every
// event once). Its end reaches every browser, and a reconnect after the
// end is answered 204.
func TestSharedUpstreamReopensAndEnds(t *testing.T) {
	t.Parallel()
	h := newHistory()
	b := &backend{watch: h.watch}
	srv := startGateway(t, startBackend(t, b), byUser, gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PER_USER))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.add(texts(1, 5)...)
	browsers := make([]*browser, 6)
	results := make(chan bool, len(browsers))
	for i := range browsers {
		browsers[i] = &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "ann"}
		go func() { results <- browsers[i].open(ctx, 0) }()
	}
	waitFor(t, func() bool { return b.callCount() == 1 })
	time.Sleep(50 * time.Millisecond) // let them attach; correctness does not depend on it
	h.breakCalls()
	waitFor(t, func() bool { return b.callCount() == 2 })
	h.add(texts(6, 20)...)
	h.end()
	for range browsers {
		if !<-results {
			t.Error("a browser's stream closed without the end")
		}
	}
	for i, br := range browsers {
		checkContiguous(t, fmt.Sprintf("browser %d", i), br.ids, 1, 20)
		if br.conns != 1 {
			t.Errorf("browser %d needed %d connections", i, br.conns)
		}
	}
	if b.callCount() != 2 {
		t.Errorf("backend saw %d streams, want 2 (the first and its reopening)", b.callCount())
	}
	// After the end, a reconnect hears it from the backend: 204.
	late := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "ann", lastID: "20"}
	if late.open(ctx, 0); late.status != http.StatusNoContent {
		t.Errorf("reconnect after the end: %d, want 204", late.status)
	}
}

// The upstream is kept for the linger after its last browser leaves, so a
// browser that comes back within it finds it; after the linger it closes.
func TestSharedUpstreamLinger(t *testing.T) {
	t.Parallel()
	h := newHistory()
	b := &backend{watch: h.watch}
	const linger = 300 * time.Millisecond
	srv := startGateway(t, startBackend(t, b), byUser,
		gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PER_USER), gateway.WithShareLinger(linger))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.add(texts(1, 2)...)
	br := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "ann"}
	br.open(ctx, 1) // and leaves
	br.open(ctx, 1) // back at once, from id 1
	if b.callCount() != 1 {
		t.Errorf("a browser back within the linger opened another upstream: %d", b.callCount())
	}
	// Alone, the upstream closes after the linger: the next browser opens
	// a new one.
	time.Sleep(3 * linger)
	h.add("event 3")
	br.open(ctx, 1)
	waitFor(t, func() bool { return b.callCount() == 2 })
}

// A PUBLIC stream has one upstream for every user, called as the gateway
// itself (identity.GatewaySubject), with no browser's identity; each
// browser is let in only once the backend has accepted a stream of its
// own, made with the browser's identity.
func TestSharedPublicChecksEachBrowser(t *testing.T) {
	t.Parallel()
	h := newHistory()
	h.refuse = func(md metadata.MD) error {
		if u := md.Get(identity.MetadataSubject); len(u) == 1 && u[0] == "eve" {
			return status.Error(codes.PermissionDenied, "not yours")
		}
		return nil
	}
	b := &backend{watch: h.watch}
	srv := startGateway(t, startBackend(t, b), byUser, gateway.WithShare(watchJob, ssegatev1.Share_SHARE_PUBLIC),
		gateway.WithIdentity(newGatewayKey(t).minter))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.add(texts(1, 3)...)
	ann := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "ann"}
	ann.open(ctx, 1)
	bob := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "bob"}
	bob.open(ctx, 3)
	eve := &browser{t: t, url: srv.URL + "/v1/jobs/j1/events", user: "eve"}
	eve.open(ctx, 1)
	if eve.status != http.StatusForbidden || len(eve.ids) != 0 {
		t.Errorf("eve: %d with %v, want 403 and nothing", eve.status, eve.ids)
	}
	checkContiguous(t, "bob", bob.ids, 1, 3)
	var shared, checks int
	b.mu.Lock()
	for _, md := range b.md {
		switch sub := md.Get(identity.MetadataSubject); {
		case len(sub) == 1 && sub[0] == identity.GatewaySubject && len(md.Get(identity.MetadataIdentity)) == 1:
			shared++
		case len(sub) == 1:
			checks++
		}
	}
	b.mu.Unlock()
	if shared != 1 || checks != 3 {
		t.Errorf("backend saw %d calls as the gateway and %d checks as users, want 1 and 3", shared, checks)
	}
}

// A backend that no longer has the resume point says so, and the client
// gets a reset event naming the oldest id before the events that follow.
func TestResetEvent(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.Pairs(resume.MetadataReset, "7"))
		_ = s.Send(logLine(7, "seven"))
		return nil
	}}
	srv := startGateway(t, startBackend(t, b), nil, gateway.WithReconnectJitter(0))
	_, u := stream(t, t.Context(), srv.URL+"/v1/jobs/j1/events", http.Header{"Last-Event-ID": {"2"}})
	got := u.rest(t)
	want := []string{": ok\n", "event: reset\nretry: 2000\ndata: {\"oldest\":\"7\"}\n\n", "id: 7\nevent: log\ndata: seven\n\n", "event: end\ndata: {}\n\n"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// waitFor polls cond until it holds; it fails only when it never does.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
