package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/server"
	benchv1 "github.com/ssegate/ssegate/gen/ssegate/bench/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/internal/bench/backend"
)

// GeneratedPrefix is where the gateway process serves grpc-gateway's
// generated handler alone, with no ssegate in front: the NDJSON baseline.
const GeneratedPrefix = "/grpc-gateway"

// serveBackend runs the BenchService on a loopback address and prints
// "listening ADDR" on stdout once it accepts connections.
func serveBackend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve-backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	maxDuration := fs.Duration("max-duration", 10*time.Minute, "longest any stream may last")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := listenLoopback(ctx, *addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	bs := &backend.Server{MaxDuration: *maxDuration}
	benchv1.RegisterBenchServiceServer(srv, bs)
	// The streams it served, for the shared scenario: how many upstreams
	// the gateway opened.
	backend.RegisterCounts(srv, bs)
	fmt.Fprintln(stdout, "listening", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return srv.Serve(ln)
}

// serveGateway runs the gateway under test: ssegate with the bench service
// registered (SSE, and NDJSON for other Accept values), grpc-gateway's
// generated handler alone under GeneratedPrefix, and debug endpoints under
// /debug/ (goroutine count, forced GC, memory stats, pprof, and the shared
// upstreams and their browsers when -share shares the bench stream).
func serveGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	backendAddr := fs.String("backend", "", "loopback address of the bench backend")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "SSE heartbeat interval")
	share := fs.String("share", "", `share the bench stream's upstreams: "public" or "per-user" (none when empty)`)
	shareQueue := fs.Int("share-queue", 0, "events queued per browser of a shared upstream (gateway.WithShareQueue; the gateway's default when 0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []gateway.Option{gateway.WithHeartbeat(*heartbeat)}
	counts := &shareCounts{}
	if *share != "" {
		mode, ok := shareModes[*share]
		if !ok {
			return fmt.Errorf("share: %q is neither public nor per-user", *share)
		}
		opts = append(opts, gateway.WithShare(benchv1.BenchService_Stream_FullMethodName, mode), gateway.WithObserver(counts))
	}
	if *shareQueue > 0 {
		opts = append(opts, gateway.WithShareQueue(*shareQueue))
	}
	if err := checkLoopback(*backendAddr); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	// grpc-gateway logs every client that leaves mid-stream as an error;
	// under load that is most of them.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	conn, err := grpc.NewClient(*backendAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	gw, err := gateway.New(opts...)
	if err != nil {
		return err
	}
	sd := benchv1.File_ssegate_bench_v1_bench_proto.Services().Get(0)
	if err := gw.Register(ctx, sd, conn, benchv1.RegisterBenchServiceHandler); err != nil {
		return err
	}
	generated := gwruntime.NewServeMux()
	if err := benchv1.RegisterBenchServiceHandler(ctx, generated, conn); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/", gw)
	mux.Handle(GeneratedPrefix+"/", http.StripPrefix(GeneratedPrefix, generated))
	// Floors: what an idle stream costs in this process without ssegate,
	// to tell the gateway's own share from net/http's and grpc-go's.
	mux.HandleFunc("GET /floor/http", commitAndWait)
	client := benchv1.NewBenchServiceClient(conn)
	mux.HandleFunc("GET /floor/grpc", func(w http.ResponseWriter, r *http.Request) {
		s, err := client.Stream(r.Context(), &benchv1.StreamRequest{Idle: true})
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		go func() {
			var msg benchv1.StreamResponse
			for s.RecvMsg(&msg) == nil {
			}
		}()
		commitAndWait(w, r)
	})
	mux.HandleFunc("GET /debug/goroutines", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, runtime.NumGoroutine())
	})
	mux.HandleFunc("GET /debug/shared", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"upstreams":%d,"browsers":%d,"windowMisses":%d}`+"\n",
			counts.upstreams.Load(), counts.browsers.Load(), counts.misses.Load())
	})
	mux.HandleFunc("POST /debug/gc", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory() // another GC, and the freed pages back to the OS
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, `{"heapInuse":%d,"stackInuse":%d,"sys":%d,"heapObjects":%d}`+"\n",
			m.HeapInuse, m.StackInuse, m.Sys, m.HeapObjects)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	ln, err := listenLoopback(ctx, *addr)
	if err != nil {
		return err
	}
	// No WriteTimeout: the gateway sets a deadline per write.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/1.1, and HTTP/2 without TLS (h2c with prior knowledge) for the
	// idle scenario's HTTP/2 measurement.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// The HTTP/2 the gateway serves with, floors included.
	if err := server.ConfigureHTTP2(srv); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "listening", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var shareModes = map[string]ssegatev1.Share{
	"public":   ssegatev1.Share_SHARE_PUBLIC,
	"per-user": ssegatev1.Share_SHARE_PER_USER,
}

// shareCounts is the gateway's count of its shared upstreams, the browsers
// attached to them and the browsers that got an upstream of their own
// (their resume point outside the window), for /debug/shared.
type shareCounts struct {
	upstreams, browsers, misses atomic.Int64
}

func (*shareCounts) RouteAdded(string)                     {}
func (*shareCounts) StreamStarted(string)                  {}
func (*shareCounts) StreamProgress(string, relay.Progress) {}
func (*shareCounts) StreamEnded(gateway.StreamInfo)        {}
func (*shareCounts) StreamRejected(string, string)         {}
func (c *shareCounts) SharedUpstream(_ string, d int)      { c.upstreams.Add(int64(d)) }
func (c *shareCounts) SharedBrowsers(_ string, d int)      { c.browsers.Add(int64(d)) }
func (c *shareCounts) ShareWindow(_ string, hit bool) {
	if !hit {
		c.misses.Add(1)
	}
}

// commitAndWait answers as an SSE stream that never sends an event.
func commitAndWait(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": ok\n")
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

func listenLoopback(ctx context.Context, addr string) (net.Listener, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

// checkLoopback refuses any address that is not a loopback IP: load goes
// to this machine only.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port in %q", addr)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback IP address", addr)
	}
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard limit:
// ten thousand streams need as many sockets.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// untilStdinCloses cancels ctx when standard input reaches its end: the
// parent holds the other end, so a child never outlives it.
func untilStdinCloses(ctx context.Context, stdin *os.File) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		_, _ = io.Copy(io.Discard, stdin)
	}()
	return ctx
}
