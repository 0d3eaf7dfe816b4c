package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// benchBackend streams n log entries of 128 bytes of text, as fast as the
// path takes them; n comes from the request's after_offset field.
func benchBackend() *backend {
	text := strings.Repeat("x", 128)
	return &backend{tail: func(req *logsv1.TailLogsRequest, s logsv1.LogService_TailLogsServer) error {
		_ = grpc.SendHeader(s.Context(), metadata.MD{})
		n := req.GetAfterOffset()
		for i := uint64(1); i <= n; i++ {
			if err := s.Send(&logsv1.TailLogsResponse{Name: "bench", Offset: i, Text: text}); err != nil {
				return err
			}
		}
		return nil
	}}
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPathSSE: loopback backend -> gateway -> HTTP client, as SSE.
func BenchmarkPathSSE(b *testing.B) { benchHTTP(b, "text/event-stream", "\n\n") }

// BenchmarkPathNDJSON: the same path served as grpc-gateway's NDJSON.
func BenchmarkPathNDJSON(b *testing.B) { benchHTTP(b, "application/json", "\n") }

func benchHTTP(b *testing.B, accept, sep string) {
	conn := startBackendB(b, benchBackend())
	srv := startGateway(b, conn, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/logs/bench/events?afterOffset="+strconv.Itoa(b.N), nil)
	req.Header.Set("Accept", accept)
	b.ResetTimer()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	events := 0
	for {
		line, err := r.ReadSlice('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if sep == "\n" || len(line) == 1 {
			events++
		}
	}
	reportRate(b, start)
	if sep == "\n\n" {
		events-- // the final end event
	}
	if events != b.N {
		b.Fatalf("got %d events, want %d", events, b.N)
	}
}

// BenchmarkPathDirectGRPC: the same backend read by a gRPC client.
func BenchmarkPathDirectGRPC(b *testing.B) {
	conn := startBackendB(b, benchBackend())
	client := logsv1.NewLogServiceClient(conn)
	b.ResetTimer()
	start := time.Now()
	s, err := client.TailLogs(context.Background(), &logsv1.TailLogsRequest{Name: "bench", AfterOffset: uint64(b.N)})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		if _, err := s.Recv(); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, start)
	if n != b.N {
		b.Fatalf("got %d, want %d", n, b.N)
	}
}
