package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/internal/ssetest"
)

func TestMain(m *testing.M) {
	// After answering 413 or 408 with Connection: close, net/http lingers
	// half a second before closing, on a goroutine of its own; that one is
	// not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// backend is a real gRPC server on loopback whose streaming methods each
// test scripts.
type backend struct {
	jobsv1.UnimplementedJobServiceServer
	logsv1.UnimplementedLogServiceServer

	watch func(*jobsv1.WatchJobRequest, jobsv1.JobService_WatchJobServer) error
	tail  func(*logsv1.TailLogsRequest, logsv1.LogService_TailLogsServer) error

	mu    sync.Mutex
	calls int
	md    []metadata.MD
}

func (b *backend) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	b.md = append(b.md, md)
}

func (b *backend) WatchJob(req *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
	b.record(s.Context())
	return b.watch(req, s)
}

func (b *backend) TailLogs(req *logsv1.TailLogsRequest, s logsv1.LogService_TailLogsServer) error {
	b.record(s.Context())
	return b.tail(req, s)
}

func (b *backend) GetJob(ctx context.Context, req *jobsv1.GetJobRequest) (*jobsv1.GetJobResponse, error) {
	b.record(ctx)
	if req.GetId() != "j1" {
		return nil, status.Error(codes.NotFound, "job not found")
	}
	return &jobsv1.GetJobResponse{Job: &jobsv1.Job{Id: "j1", Limit: 100}}, nil
}

func (b *backend) lastMetadata() metadata.MD {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.md) == 0 {
		return nil
	}
	return b.md[len(b.md)-1]
}

// startBackend serves b on 127.0.0.1 and returns a client connection to it.
func startBackend(t *testing.T, b *backend) *grpc.ClientConn { return startBackendB(t, b) }

func startBackendB(t testing.TB, b *backend) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	jobsv1.RegisterJobServiceServer(srv, b)
	logsv1.RegisterLogServiceServer(srv, b)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return conn
}

// startGateway serves the jobs and logs services of conn through a gateway
// on an httptest server.
func startGateway(t testing.TB, conn *grpc.ClientConn, wrap func(http.Handler) http.Handler, opts ...gateway.Option) *httptest.Server {
	t.Helper()
	srv, _ := startGatewayGW(t, conn, wrap, opts...)
	return srv
}

func startGatewayGW(t testing.TB, conn *grpc.ClientConn, wrap func(http.Handler) http.Handler, opts ...gateway.Option) (*httptest.Server, *gateway.Gateway) {
	t.Helper()
	// The 204 answers depend on the backend's trailers arriving within the
	// header wait; on a loaded machine 300 ms is not enough, so tests wait
	// longer unless they set their own.
	// The demo's streams are shared per user by their options; most tests
	// here are of a stream of its own, and the shared ones say so.
	base := []gateway.Option{
		gateway.WithHeaderWait(5 * time.Second),
		gateway.WithShare("/ssegate.jobs.v1.JobService/WatchJob", ssegatev1.Share_SHARE_UNSPECIFIED),
		gateway.WithShare("/ssegate.logs.v1.LogService/TailLogs", ssegatev1.Share_SHARE_UNSPECIFIED),
	}
	gw, err := gateway.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := gw.Register(ctx, jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0), conn, jobsv1.RegisterJobServiceHandler); err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(ctx, logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0), conn, logsv1.RegisterLogServiceHandler); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = gw
	if wrap != nil {
		h = wrap(h)
	}
	// Cleanups run last first: the server closes, then the drain stops any
	// shared upstream still lingering or reconnecting.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Drain(ctx)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, gw
}

// stream opens an SSE request and returns the response and a reader of its
// units: one comment line, or one whole event block.
func stream(t *testing.T, ctx context.Context, url string, header http.Header) (*http.Response, *units) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	// A client of its own: httptest.Server.Close closes the idle
	// connections of the default transport, which other tests share.
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = resp.Body.Close()
		client.CloseIdleConnections()
	})
	return resp, &units{ssetest.NewReader(resp.Body)}
}

// units reads a stream's comment lines and event blocks exactly as sent.
type units struct{ *ssetest.Reader }

func (u *units) next() (string, error) { return u.NextUnit() }

func (u *units) mustNext(t *testing.T) string {
	t.Helper()
	s, err := u.next()
	if err != nil {
		t.Fatalf("reading stream: %v (got %q)", err, s)
	}
	return s
}

// rest reads to the end of the stream.
func (u *units) rest(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		s, err := u.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading stream: %v (got %q)", err, s)
		}
		out = append(out, s)
	}
}

func jsonOf(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func progress(id uint64, done uint32) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Id: id, Event: &jobsv1.WatchJobResponse_Progress{
		Progress: &jobsv1.Progress{Done: done, Total: 100, Percent: float64(done)}}}
}

func logLine(id uint64, text string) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Id: id, Event: &jobsv1.WatchJobResponse_Log{Log: text}}
}

func (b *backend) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}
