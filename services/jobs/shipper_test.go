package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc/rpctest"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// logsServer is a logs service on a store of its own, served on loopback,
// that a test stops and starts again on the same address and data, as an
// outage or a deploy would.
type logsServer struct {
	t         *testing.T
	dir, addr string
	intercept []grpc.UnaryServerInterceptor

	db  *store.DB
	svc *logs.Service
	srv *grpc.Server

	// client reaches whichever server runs, reconnecting by itself.
	client logsv1.LogServiceClient
}

func startLogs(t *testing.T, intercept ...grpc.UnaryServerInterceptor) *logsServer {
	t.Helper()
	l := &logsServer{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", intercept: intercept}
	l.start()
	conn, err := grpc.NewClient(l.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), quickReconnect())
	if err != nil {
		t.Fatal(err)
	}
	l.client = logsv1.NewLogServiceClient(conn)
	t.Cleanup(func() {
		l.stop()
		_ = conn.Close()
	})
	return l
}

// start serves a new logs service on the address and data of the last.
func (l *logsServer) start() {
	l.t.Helper()
	lis, err := net.Listen("tcp", l.addr)
	if err != nil {
		l.t.Fatal(err)
	}
	l.addr = lis.Addr().String()
	if l.db, err = store.Open(l.dir, store.WithNoSync(), store.WithPruneInterval(0)); err != nil {
		l.t.Fatal(err)
	}
	if l.svc, err = logs.New(l.db); err != nil {
		l.t.Fatal(err)
	}
	l.srv = grpc.NewServer(append(rpctest.ServerOptions(), grpc.ChainUnaryInterceptor(l.intercept...))...)
	logsv1.RegisterLogServiceServer(l.srv, l.svc)
	go func() { _ = l.srv.Serve(lis) }()
}

// stop stops the logs service as a crash would: open calls break.
func (l *logsServer) stop() {
	if l.srv == nil {
		return
	}
	_ = l.svc.Close()
	l.srv.Stop()
	_ = l.db.Close()
	l.srv = nil
}

// cut is a logs server interceptor that begins an outage in the middle of
// one Append: the first request that match selects is stored (if store is
// set) or not, hit is closed, and the answer is held back until the server
// stops, so the sender never hears whether it got through.
type cut struct {
	t     *testing.T
	match func(*logsv1.AppendRequest) bool
	store bool

	once sync.Once
	hit  chan struct{}
}

func newCut(t *testing.T, match func(*logsv1.AppendRequest) bool, store bool) *cut {
	return &cut{t: t, match: match, store: store, hit: make(chan struct{})}
}

func (c *cut) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	r, ok := req.(*logsv1.AppendRequest)
	fire := false
	if ok && c.match(r) {
		c.once.Do(func() { fire = true })
	}
	if !fire {
		return h(ctx, req)
	}
	if c.store {
		if _, err := h(ctx, req); err != nil {
			c.t.Errorf("storing %v before the outage: %v", r, err)
		}
	}
	close(c.hit)
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// waitHit waits until the cut request has come.
func (c *cut) waitHit(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case <-c.hit:
	case <-ctx.Done():
		t.Fatal("the request that begins the outage never came")
	}
}

// nthLine matches the nth distinct entry a sender appends (retries of one
// entry carry its source_seq again).
func nthLine(n int) func(*logsv1.AppendRequest) bool {
	var mu sync.Mutex
	seen := map[uint64]bool{}
	return func(r *logsv1.AppendRequest) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[r.GetSourceSeq()] = true
		return len(seen) == n && r.GetText() != ""
	}
}

// lastLine matches the job's last line, written with its terminal event.
func lastLine(r *logsv1.AppendRequest) bool { return strings.HasPrefix(r.GetText(), "done: ") }

// calls counts the Append calls a jobs service makes that fail and those
// the logs service answers as duplicates.
type calls struct {
	mu         sync.Mutex
	failed     int
	duplicates int
	changed    chan struct{} // closed at the next change
}

func newCalls() *calls { return &calls{changed: make(chan struct{})} }

func (c *calls) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoke(ctx, method, req, reply, cc, opts...)
	if method != logsv1.LogService_Append_FullMethodName {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed++
	} else if reply.(*logsv1.AppendResponse).GetDuplicate() {
		c.duplicates++
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return err
}

func (c *calls) counts() (failed, duplicates int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed, c.duplicates
}

// waitFailed waits until n calls have failed.
func (c *calls) waitFailed(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for {
		c.mu.Lock()
		got, changed := c.failed, c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%d Append calls failed, want %d", got, n)
		}
	}
}

type logEntry struct {
	offset uint64
	text   string
}

// tailed is what tailToEnd got.
type tailed struct {
	entries []logEntry
	breaks  int // streams that ended before the log did
	err     error
}

// tailToEnd follows log name from its start until it is finished, as a
// browser behind the gateway does: when the stream breaks (the logs service
// going down) it connects again after the last offset it got, and while the
// log does not exist yet it asks again. live, if set, is closed once the
// first entry is in. It gives up only when ctx ends.
func tailToEnd(ctx context.Context, c logsv1.LogServiceClient, name string, live chan<- struct{}) tailed {
	var out tailed
	var last error
	for {
		req := &logsv1.TailLogsRequest{Name: name, Follow: true}
		if n := len(out.entries); n > 0 {
			req.AfterOffset = out.entries[n-1].offset
		}
		s, err := c.TailLogs(as(ctx, "alice"), req, grpc.WaitForReady(true))
		for err == nil {
			var m *logsv1.TailLogsResponse
			if m, err = s.Recv(); err == nil {
				out.entries = append(out.entries, logEntry{m.GetOffset(), m.GetText()})
				if live != nil && len(out.entries) == 1 {
					close(live)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		if len(out.entries) > 0 && !errors.Is(last, err) {
			out.breaks++
		}
		last = err
		select {
		case <-ctx.Done():
			out.err = fmt.Errorf("log %s never ended; last error %v", name, last)
			return out
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// checkJobLog checks that a tail of a job log got each of the job's lines
// once, in order, at offsets from 1.
func checkJobLog(t *testing.T, got tailed, want []string) {
	t.Helper()
	if got.err != nil {
		t.Fatal(got.err)
	}
	var texts []string
	for i, e := range got.entries {
		if e.offset != uint64(i+1) {
			t.Errorf("entry %d at offset %d, want %d", i, e.offset, i+1)
		}
		texts = append(texts, e.text)
	}
	if !slices.Equal(texts, want) {
		t.Errorf("job log =\n%q\nwant each of the job's lines once, in order:\n%q", texts, want)
	}
}

// shipping returns options that retry a line within milliseconds, so that a
// test sees many tries of one line in little time.
func shipping() []jobs.Option {
	return []jobs.Option{jobs.WithLogTimeout(100 * time.Millisecond), jobs.WithLogRetry(time.Millisecond, 20*time.Millisecond)}
}

// outageTries is how many failed tries a test waits for while the logs
// service is down: far more than the three after which the shipping used to
// give up a line.
const outageTries = 8

// The logs service goes down while a line of a job's log is being sent, as
// the job ends or in its middle, and stays down for many tries of that
// line; the answer to the line is lost, whether or not it was stored. Once
// the logs service is back, the job log has every line once, in order, and
// is finished: a follower that was reading it before the outage, and
// reconnects as the gateway lets a browser do, gets to its end.
func TestJobLogIsCompleteAfterALogsOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		match func() func(*logsv1.AppendRequest) bool
		store bool
		// lines is how many log lines the job writes before the logs service
		// comes back; 0 waits for the job's end.
		lines int
	}{
		{"down as the last line goes, which is stored", func() func(*logsv1.AppendRequest) bool { return lastLine }, true, 0},
		{"down as the last line goes, which is lost", func() func(*logsv1.AppendRequest) bool { return lastLine }, false, 0},
		{"down mid-job as a line goes, which is stored", func() func(*logsv1.AppendRequest) bool { return nthLine(3) }, true, 5},
		{"down mid-job as a line goes, which is lost", func() func(*logsv1.AppendRequest) bool { return nthLine(3) }, false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := newCut(t, tt.match(), tt.store)
			ls := startLogs(t, c.intercept)
			n := newCalls()
			b := startWith(t, t.TempDir(), ls.addr, n.intercept, append(paced(3*time.Millisecond), shipping()...)...)
			job := create(ctx, t, b.client, "alice", 20_000_000) // 306 chunks: about a second
			events := watch(ctx, t, b.client, "alice", job.GetId(), 0)

			live := make(chan struct{})
			followed := make(chan tailed, 1)
			go func() { followed <- tailToEnd(ctx, ls.client, jobs.LogName(job.GetId()), live) }()
			c.waitHit(ctx, t)
			select {
			case <-live:
			case <-ctx.Done():
				t.Fatal("the follower never got the first line")
			}
			failedBefore, _ := n.counts()
			ls.stop()

			// The job goes on without the logs service, and the shipping
			// keeps trying the line that was cut.
			lines := 0
			seen := recvUntil(t, events, func(m *jobsv1.WatchJobResponse) bool {
				if m.GetLog() != "" {
					lines++
				}
				return isTerminal(m) || (tt.lines > 0 && lines >= tt.lines)
			})
			n.waitFailed(ctx, t, failedBefore+outageTries)
			ls.start()

			rest, err := recvAll(events)
			if err != nil {
				t.Fatal(err)
			}
			want := logLines(append(seen, rest...))
			got := <-followed
			checkJobLog(t, got, want)
			if got.breaks == 0 {
				t.Error("the follower's stream never broke: it did not follow through the outage")
			}
			checkJobLog(t, tailToEnd(ctx, ls.client, jobs.LogName(job.GetId()), nil), want)
		})
	}
}

// The jobs service stops while a line of a job's log is being sent, whether
// or not the logs service stored it, and a new one resumes the job and its
// shipping on the same store: the job log has every line once, in order.
// The line whose answer was lost is sent again, and the logs service,
// which has it when it was stored, answers it as a duplicate.
func TestJobsRestartMidShippingRepeatsNothing(t *testing.T) {
	t.Parallel()
	for _, stored := range []bool{true, false} {
		t.Run(fmt.Sprintf("stored=%v", stored), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := newCut(t, nthLine(3), stored)
			ls := startLogs(t, c.intercept)
			dir := t.TempDir()
			opts := append(paced(3*time.Millisecond), shipping()...)
			b := start(t, dir, ls.addr, opts...)
			job := create(ctx, t, b.client, "alice", 10_000_000)
			c.waitHit(ctx, t)
			b.stop()

			n := newCalls()
			b = startWith(t, dir, ls.addr, n.intercept, opts...)
			events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
			if err != nil {
				t.Fatal(err)
			}
			checkSequence(t, events, 1)
			checkJobLog(t, tailToEnd(ctx, ls.client, jobs.LogName(job.GetId()), nil), logLines(events))
			if _, dups := n.counts(); stored && dups == 0 {
				t.Error("no duplicate answered: the line in flight at the stop was not sent again")
			}
		})
	}
}

// refuse is a logs server interceptor that refuses the first tries of the
// nth line with code, as a logs service that does not (yet) accept the
// job's identity would.
func refuse(n, tries int, code codes.Code) grpc.UnaryServerInterceptor {
	match := nthLine(n)
	var mu sync.Mutex
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*logsv1.AppendRequest); ok && match(r) {
			mu.Lock()
			refused := tries > 0
			tries--
			mu.Unlock()
			if refused {
				return nil, status.Error(code, "refused by the test")
			}
		}
		return h(ctx, req)
	}
}

// A line the logs service refuses is logged and tried again, never skipped:
// once the refusal ends, the job log is complete.
func TestRefusedLineIsNotSkipped(t *testing.T) {
	t.Parallel()
	for _, code := range []codes.Code{codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			ls := startLogs(t, refuse(2, 3, code))
			logged := &logRecorder{}
			b := start(t, t.TempDir(), ls.addr, append(append(fast(), shipping()...), jobs.WithLogger(slog.New(logged)))...)
			job := create(ctx, t, b.client, "alice", 1_000_000)
			events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
			if err != nil {
				t.Fatal(err)
			}
			checkJobLog(t, tailToEnd(ctx, ls.client, jobs.LogName(job.GetId()), nil), logLines(events))
			logged.wait(ctx, t, "jobs: the logs service refuses a line of the job log; trying again")
		})
	}
}
