package server

import (
	"net/http"

	"github.com/ssegate/ssegate/apidocs"
	"github.com/ssegate/ssegate/gateway/health"
	"github.com/ssegate/ssegate/gateway/requestid"
)

// handler assembles what the server answers: health, readiness and
// metrics for the infrastructure (no cookie, no Origin check), and behind
// the session middleware the docs, the extra handlers and the gateway's
// routes; every request gets an id and an access log line.
func (s *Server) handler() http.Handler {
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
	if s.Metrics != nil {
		top.Handle("GET /metrics", s.Metrics.Handler())
	}
	top.Handle("/", inner)
	return requestid.Handler(observe(top, s.Metrics, s.logger))
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
