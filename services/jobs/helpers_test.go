package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// as returns a context that calls as user.
func as(ctx context.Context, user string) context.Context { return rpctest.As(ctx, user) }

// fast returns options for jobs that end in milliseconds.
func fast() []jobs.Option {
	return []jobs.Option{jobs.WithMinChunkDuration(0), jobs.WithProgressInterval(time.Millisecond)}
}

// paced returns options for a job of about n chunks that lasts about
// n*per: long enough to watch it run.
func paced(per time.Duration) []jobs.Option {
	return []jobs.Option{jobs.WithChunkSize(1 << 16), jobs.WithMinChunkDuration(per), jobs.WithProgressInterval(per)}
}

// backend is a store with the jobs and logs services on it, served on
// loopback; the jobs service writes its logs through a real client.
type backend struct {
	db   *store.DB
	jobs *jobs.Service
	logs *logs.Service
	srv  *grpc.Server
	conn *grpc.ClientConn

	client     jobsv1.JobServiceClient
	logsClient logsv1.LogServiceClient
	stopped    bool
}

// start serves a backend on the store in dir. logsAddr, if set, is where
// the jobs service finds the logs service instead of its own server.
func start(t *testing.T, dir string, logsAddr string, opts ...jobs.Option) *backend {
	t.Helper()
	return startWith(t, dir, logsAddr, nil, opts...)
}

// startWith is start with calls to the logs service going through
// intercept, when set.
func startWith(t *testing.T, dir string, logsAddr string, intercept grpc.UnaryClientInterceptor, opts ...jobs.Option) *backend {
	t.Helper()
	db, err := store.Open(dir, store.WithNoSync(), store.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if logsAddr == "" {
		logsAddr = lis.Addr().String()
	}
	// The jobs service calls the logs service as the job's owner.
	dial := append(rpctest.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()), quickReconnect())
	if intercept != nil {
		dial = append(dial, grpc.WithChainUnaryInterceptor(intercept))
	}
	conn, err := grpc.NewClient(logsAddr, dial...)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.New(db)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jobs.New(db, logsv1.NewLogServiceClient(conn), opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpctest.ServerOptions()...)
	jobsv1.RegisterJobServiceServer(srv, js)
	logsv1.RegisterLogServiceServer(srv, ls)
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{db: db, jobs: js, logs: ls, srv: srv, conn: conn,
		client: jobsv1.NewJobServiceClient(cc), logsClient: logsv1.NewLogServiceClient(cc)}
	t.Cleanup(func() {
		b.stop()
		_ = cc.Close()
	})
	return b
}

// stop closes the services, the server and the store, as a process that
// stops would.
func (b *backend) stop() {
	if b.stopped {
		return
	}
	b.stopped = true
	_ = b.jobs.Close()
	_ = b.logs.Close()
	b.srv.Stop()
	_ = b.conn.Close()
	_ = b.db.Close()
}

// quickReconnect makes a client reconnect to a restarted server within
// about 100 ms instead of gRPC's default backoff of up to two minutes, so
// that tests wait for the server, not for the client's backoff.
func quickReconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 100 * time.Millisecond},
		MinConnectTimeout: time.Second,
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func create(ctx context.Context, t *testing.T, c jobsv1.JobServiceClient, user string, limit uint32) *jobsv1.Job {
	t.Helper()
	resp, err := c.CreateJob(as(ctx, user), &jobsv1.CreateJobRequest{Limit: limit})
	if err != nil {
		t.Fatalf("CreateJob(%d): %v", limit, err)
	}
	return resp.GetJob()
}

func watch(ctx context.Context, t *testing.T, c jobsv1.JobServiceClient, user, id string, after uint64) jobsv1.JobService_WatchJobClient {
	t.Helper()
	s, err := c.WatchJob(as(ctx, user), &jobsv1.WatchJobRequest{Id: id, AfterId: after})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recvAll receives events until the stream ends; the error is nil for a
// clean end.
func recvAll(s jobsv1.JobService_WatchJobClient) ([]*jobsv1.WatchJobResponse, error) {
	var out []*jobsv1.WatchJobResponse
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// recvUntil receives events until one satisfies stop, and returns them all.
func recvUntil(t *testing.T, s jobsv1.JobService_WatchJobClient, stop func(*jobsv1.WatchJobResponse) bool) []*jobsv1.WatchJobResponse {
	t.Helper()
	var out []*jobsv1.WatchJobResponse
	for {
		m, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv after %d events: %v", len(out), err)
		}
		out = append(out, m)
		if stop(m) {
			return out
		}
	}
}

func isTerminal(m *jobsv1.WatchJobResponse) bool {
	return m.GetCompleted() != nil || m.GetFailed() != nil || m.GetCancelled() != nil
}

// checkSequence checks that events are a job's events from id first: ids
// one apart, one terminal event, last, and progress that never goes back.
func checkSequence(t *testing.T, events []*jobsv1.WatchJobResponse, first uint64) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	var done, count uint32
	for i, m := range events {
		if m.GetId() != first+uint64(i) {
			t.Fatalf("event %d has id %d, want %d", i, m.GetId(), first+uint64(i))
		}
		if isTerminal(m) != (i == len(events)-1) {
			t.Fatalf("event %d (%v): the terminal event must be the last, and only it", i, m)
		}
		if p := m.GetProgress(); p != nil {
			if p.GetDone() < done {
				t.Fatalf("progress went back from %d to %d", done, p.GetDone())
			}
			done = p.GetDone()
		}
		if p := m.GetPartial(); p != nil {
			if p.GetCount() < count {
				t.Fatalf("partial count went back from %d to %d", count, p.GetCount())
			}
			count = p.GetCount()
		}
	}
}

// logRecorder is a slog.Handler that keeps the messages it gets.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

// wait waits until msg has been logged.
func (r *logRecorder) wait(ctx context.Context, t *testing.T, msg string) {
	t.Helper()
	for {
		r.mu.Lock()
		found := slices.Contains(r.msgs, msg)
		r.mu.Unlock()
		if found {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%q was never logged", msg)
		case <-time.After(time.Millisecond):
		}
	}
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("error %v, want code %v", err, code)
	}
}
