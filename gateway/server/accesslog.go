package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/metrics"
	"github.com/ssegate/ssegate/gateway/requestid"
)

// record is what the access log and the metrics learn about one request
// from the layers it passes through. Only the request's goroutine writes it.
type record struct {
	reached bool   // the session middleware let the request through
	route   string // the matched path template, for REST and SSE routes
	rpc     string // the gRPC method called
	subject string // the verified user, if any
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

// observe logs one line per request with its id and counts the requests
// the session middleware refused. (Evictions are counted by the metrics'
// stream observer, from the relay's own write error.)
func observe(next http.Handler, m *metrics.Metrics, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &record{}
		rw := &recorder{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), recordKey{}, rec)
		next.ServeHTTP(rw, r.WithContext(ctx))
		if rw.status == 0 {
			rw.status = http.StatusOK // nothing written: net/http sends 200
		}

		if m != nil && !rec.reached && (rw.status == http.StatusUnauthorized || rw.status == http.StatusForbidden) {
			m.AuthFailure(rw.status)
		}
		level := slog.LevelInfo
		switch {
		case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
			level = slog.LevelDebug // probes would drown the rest
		case rw.status >= 500 && rw.status != http.StatusServiceUnavailable:
			level = slog.LevelWarn // 503 is a cap or a drain, which metrics count
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("proto", r.Proto),
			slog.Int("status", rw.status),
			slog.Int64("bytes", rw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		}
		if rec.route != "" {
			attrs = append(attrs, slog.String("route", rec.route), slog.String("rpc", rec.rpc))
		}
		if rec.subject != "" {
			attrs = append(attrs, slog.String("user", rec.subject))
		}
		if strings.HasPrefix(rw.contentType, "text/event-stream") {
			attrs = append(attrs, slog.Bool("stream", true))
		}
		if rw.err != nil {
			attrs = append(attrs, slog.String("write_error", rw.err.Error()))
		}
		logger.LogAttrs(ctx, level, "http request", attrs...)
	})
}

// reached marks the requests that got past the session middleware.
func reached(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := recordFrom(r.Context()); rec != nil {
			rec.reached = true
		}
		next.ServeHTTP(w, r)
	})
}

// annotate is a runtime.WithMetadata annotator. grpc-gateway calls it for
// every upstream call, REST or SSE, with the matched route and method in
// ctx: it notes them for the access log, and forwards the request id.
func annotate(ctx context.Context, r *http.Request) metadata.MD {
	if rec := recordFrom(r.Context()); rec != nil {
		rec.route, _ = runtime.HTTPPathPattern(ctx)
		rec.rpc, _ = runtime.RPCMethod(ctx)
		if p, ok := identity.FromContext(r.Context()); ok {
			rec.subject = p.Subject
		}
	}
	return requestid.Metadata(ctx, r)
}

// recorder notes the status, size, content type and first write error of
// a response. Unwrap lets http.ResponseController reach the connection's
// write deadlines.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	contentType string
	err         error
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
		rw.contentType = rw.Header().Get("Content-Type")
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	rw.fail(err)
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (rw *recorder) FlushError() error {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	err := http.NewResponseController(rw.ResponseWriter).Flush()
	rw.fail(err)
	return err
}

// Flush is for code that asserts http.Flusher, as grpc-gateway's
// streaming does.
func (rw *recorder) Flush() { _ = rw.FlushError() }

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *recorder) fail(err error) {
	if err != nil && rw.err == nil {
		rw.err = err
	}
}

// ClientIP returns the gateway's client address function: the connection's
// address, or behind trusted proxies the nearest address in
// X-Forwarded-For that is not one of them.
func ClientIP(trusted []netip.Prefix) gateway.ClientIPFunc {
	if len(trusted) == 0 {
		return gateway.DefaultClientIP
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		remote := gateway.DefaultClientIP(r)
		addr, err := netip.ParseAddr(remote)
		if err != nil || !isTrusted(addr) {
			return remote
		}
		// Proxies append: the right end was written by the nearest one.
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			if host, _, err := net.SplitHostPort(hop); err == nil {
				hop = host
			}
			a, err := netip.ParseAddr(hop)
			if err != nil {
				return remote // a malformed hop: believe no further
			}
			if !isTrusted(a) {
				return a.Unmap().String()
			}
		}
		return remote
	}
}
