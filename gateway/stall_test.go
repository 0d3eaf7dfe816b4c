package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/internal/ssetest"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// startGatewayTLS serves the jobs routes over TLS with HTTP/2 offered, so
// that its client (srv.Client()) speaks HTTP/2, and HTTP/1.1 to a raw
// connection.
func startGatewayTLS(t *testing.T, conn *grpc.ClientConn, opts ...gateway.Option) *httptest.Server {
	t.Helper()
	gw, err := gateway.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(t.Context(), jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0), conn, jobsv1.RegisterJobServiceHandler); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(gw)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// A client that stops reading is evicted once a write has waited the
// write timeout, over HTTP/1.1 (the socket's buffers fill) and HTTP/2
// (the stream's flow-control window does), on a stream of its own and on
// a shared one (whose queue it then overflows): its stream ends and the
// upstream is cancelled, the shared one once its last browser is gone.
func TestStalledReaderEvicted(t *testing.T) {
	t.Parallel()
	for _, share := range []ssegatev1.Share{ssegatev1.Share_SHARE_UNSPECIFIED, ssegatev1.Share_SHARE_PER_USER} {
		for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
			t.Run(share.String()+"/"+proto, func(t *testing.T) {
				t.Parallel()
				cancelled := make(chan struct{})
				big := strings.Repeat("x", 64<<10)
				b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
					_ = grpc.SendHeader(s.Context(), metadata.MD{})
					defer close(cancelled)
					for i := uint64(1); ; i++ {
						if err := s.Send(logLine(i, big)); err != nil {
							return err
						}
					}
				}}
				obs := &endObserver{ended: make(chan gateway.StreamInfo, 1)}
				srv := startGatewayTLS(t, startBackend(t, b), gateway.WithWriteTimeout(200*time.Millisecond),
					gateway.WithShare("/ssegate.jobs.v1.JobService/WatchJob", share),
					gateway.WithShareLinger(10*time.Millisecond), gateway.WithObserver(obs))
				switch proto {
				case "HTTP/1.1":
					conn, err := tlsDial(t, srv)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					// Ask for the stream, then never read a byte.
					fmt.Fprintf(conn, "GET /v1/jobs/j1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
				default:
					req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/jobs/j1/events", nil)
					req.Header.Set("Accept", "text/event-stream")
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					if resp.Proto != proto {
						t.Fatalf("the client spoke %s", resp.Proto)
					}
					// Never read the body.
				}
				select {
				case info := <-obs.ended:
					if info.Result.Outcome != relay.ClientGone {
						t.Errorf("stream ended %v, want %v", info.Result.Outcome, relay.ClientGone)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("stream still open 30 s after the client stopped reading")
				}
				select {
				case <-cancelled:
				case <-time.After(30 * time.Second):
					t.Fatal("upstream still streaming 30 s after the client stopped reading")
				}
			})
		}
	}
}

// endObserver hands on the first stream that ends.
type endObserver struct{ ended chan gateway.StreamInfo }

func (o *endObserver) StreamEnded(info gateway.StreamInfo) {
	select {
	case o.ended <- info:
	default:
	}
}
func (*endObserver) RouteAdded(string)                     {}
func (*endObserver) StreamStarted(string)                  {}
func (*endObserver) StreamProgress(string, relay.Progress) {}
func (*endObserver) StreamRejected(string, string)         {}
func (*endObserver) SharedUpstream(string, int)            {}
func (*endObserver) SharedBrowsers(string, int)            {}
func (*endObserver) ShareWindow(string, bool)              {}

// An idle HTTP/2 stream whose heartbeat interval is longer than the write
// timeout keeps going: no write deadline is left armed between writes
// (HTTP/2 resets a stream whose deadline passes even while it is idle).
func TestIdleHTTP2StreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	b := &backend{watch: func(_ *jobsv1.WatchJobRequest, s jobsv1.JobService_WatchJobServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		_ = s.Send(progress(1, 1))
		<-s.Context().Done()
		return nil
	}}
	srv := startGatewayTLS(t, startBackend(t, b),
		gateway.WithWriteTimeout(20*time.Millisecond), gateway.WithHeartbeat(150*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/jobs/j1/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("the client spoke %s", resp.Proto)
	}
	r := ssetest.NewReader(resp.Body)
	heartbeats := 0
	for heartbeats < 5 {
		unit, err := r.NextUnit()
		if err != nil {
			t.Fatalf("stream cut after %d heartbeats: %v", heartbeats, err)
		}
		if unit == ":\n" {
			heartbeats++
		}
	}
}

// tlsDial opens a TLS connection to srv that speaks HTTP/1.1.
func tlsDial(t *testing.T, srv *httptest.Server) (net.Conn, error) {
	t.Helper()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
}
