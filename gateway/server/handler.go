package server

import (
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/ssegate/ssegate/apidocs"
	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/health"
	"github.com/ssegate/ssegate/gateway/requestid"
	"github.com/ssegate/ssegate/gateway/session"
)

// handler assembles what the server answers on its public port: health
// and readiness for the infrastructure (no cookie, no Origin or Host
// check), and behind the Host check and the session middleware the docs,
// the extra handlers and the gateway's routes; every request gets an id
// and an access log line. Metrics are on a listener of their own.
func (s *Server) handler(hosts *session.Hosts) http.Handler {
	mux := http.NewServeMux()
	for _, h := range s.opts.handlers {
		mux.Handle(h.pattern, h.h)
	}
	// Always routed, since a reload may turn the docs on or off; while
	// they are off, these paths are the gateway's like any other.
	docs := s.withDocs(apidocs.Handler())
	mux.Handle("GET "+apidocs.Page, docs)
	mux.Handle("GET "+apidocs.Page+"/", docs)
	mux.Handle("GET /openapi.json", s.withDocs(http.HandlerFunc(s.serveDocument)))
	mux.Handle("/", s.Gateway)
	inner := reached(mux)
	if s.sessions != nil {
		inner = s.sessions.Wrap(inner)
	}
	top := http.NewServeMux()
	top.Handle("GET /healthz", health.Live())
	top.Handle("GET /readyz", health.Ready(s.checks))
	top.Handle("/", hosts.Wrap(inner))
	return requestid.Handler(observe(top, s.Metrics, s.logger))
}

// metricsHandler serves the metrics and the Go profiler, for the metrics
// listener only, behind the Host check: a page whose name rebinds to a
// loopback listener would read them otherwise (the profiler's cmdline
// holds the flags, secrets among them).
func (s *Server) metricsHandler(hosts *session.Hosts) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return hosts.Wrap(mux)
}

// allowedHosts are the names a listener at addr answers for: the
// configured ones and addr's host (unless it is every address).
func allowedHosts(cfg config.Config, addr string) (*session.Hosts, error) {
	names := append([]string(nil), cfg.AllowedHosts...)
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			names = append(names, host)
		}
	}
	return session.NewHosts(names...)
}

// withDocs serves h while the routes being served have docs, and passes
// the request to the gateway's routes otherwise.
func (s *Server) withDocs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.current.Load().doc == nil {
			s.Gateway.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveDocument serves the OpenAPI document of the routes being served.
func (s *Server) serveDocument(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.current.Load().doc)
}
