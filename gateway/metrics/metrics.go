// Package metrics exposes ssegate's Prometheus metrics: what the gateway
// tells its stream observer (streams by route, events, bytes, heartbeats,
// time to first byte, duration, how streams ended, refusals), evictions of
// clients that could not be written to, and refused sessions.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/relay"
)

// Namespace prefixes every metric name.
const Namespace = "ssegate"

// Metrics holds the collectors in their own registry. Its methods are safe
// for concurrent use. It is a gateway.Observer.
type Metrics struct {
	reg *prometheus.Registry

	active     *prometheus.GaugeVec
	started    *prometheus.CounterVec
	ended      *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	events     *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	heartbeats *prometheus.CounterVec
	ttfb       *prometheus.HistogramVec
	duration   *prometheus.HistogramVec
	evictions  *prometheus.CounterVec
	authFailed *prometheus.CounterVec
	// Shared upstreams: how many are open, how many browsers they feed
	// (browsers per upstream is their ratio), and resume lookups.
	sharedUpstreams *prometheus.GaugeVec
	sharedBrowsers  *prometheus.GaugeVec
	shareWindow     *prometheus.CounterVec
}

var _ gateway.Observer = (*Metrics)(nil)

// New returns Metrics registered in a new registry together with the Go
// runtime and process collectors.
func New() *Metrics {
	route := []string{"route"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "streams_active",
			Help: "SSE streams being served, by route.",
		}, route),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "streams_started_total",
			Help: "SSE streams admitted, by route.",
		}, route),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "streams_ended_total",
			Help: "SSE streams ended, by route, outcome (ended, failed, interrupted, reconnect, client_gone, refused, no_content, expired, revoked) and gRPC code.",
		}, []string{"route", "outcome", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "streams_rejected_total",
			Help: "SSE streams refused before any upstream call, by route and reason (global_cap, client_ip_cap, principal_cap, draining).",
		}, []string{"route", "reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stream_events_total",
			Help: "Events sent on streams, by route, counted as they are written.",
		}, route),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stream_bytes_total",
			Help: "Bytes of stream bodies written, by route, counted as they are written.",
		}, route),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stream_heartbeats_total",
			Help: "Heartbeat comments sent on idle streams, by route, counted as they are written.",
		}, route),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "stream_time_to_first_byte_seconds",
			Help:    "Time from admitting an SSE stream to its flushed first comment, by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13), // 1 ms to 4 s
		}, route),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "stream_duration_seconds",
			Help:    "Lifetime of SSE streams, by route.",
			Buckets: []float64{0.01, 0.1, 1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600},
		}, route),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stream_evictions_total",
			Help: "SSE streams ended because a write to the client failed or missed its deadline, by route.",
		}, route),
		sharedUpstreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "shared_upstreams",
			Help: "Shared upstream streams open, by route.",
		}, route),
		sharedBrowsers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "shared_browsers",
			Help: "Browsers attached to shared upstream streams, by route; divided by ssegate_shared_upstreams, the browsers per upstream.",
		}, route),
		shareWindow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "share_window_total",
			Help: "Browsers of shared routes by result: hit (served by a shared upstream, from its window) or miss (their resume point was outside it: an upstream of their own).",
		}, []string{"route", "result"}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "auth_failures_total",
			Help: "Requests the session middleware refused, by HTTP status (401: no valid session, 403: foreign origin).",
		}, []string{"status"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.active, m.started, m.ended, m.rejected, m.events, m.bytes, m.heartbeats,
		m.ttfb, m.duration, m.evictions, m.authFailed,
		m.sharedUpstreams, m.sharedBrowsers, m.shareWindow,
	)
	return m
}

// Registry is where the collectors are registered, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RouteAdded implements gateway.Observer: every series of the route exists
// from the start, at zero. (Those also labelled by outcome and code appear
// with their first stream.)
func (m *Metrics) RouteAdded(route string) {
	m.active.WithLabelValues(route)
	m.started.WithLabelValues(route)
	m.events.WithLabelValues(route)
	m.bytes.WithLabelValues(route)
	m.heartbeats.WithLabelValues(route)
	m.ttfb.WithLabelValues(route)
	m.duration.WithLabelValues(route)
	m.evictions.WithLabelValues(route)
	for _, reason := range gateway.RejectReasons {
		m.rejected.WithLabelValues(route, reason)
	}
}

// StreamStarted implements gateway.Observer.
func (m *Metrics) StreamStarted(route string) {
	m.active.WithLabelValues(route).Inc()
	m.started.WithLabelValues(route).Inc()
}

// StreamEnded implements gateway.Observer.
func (m *Metrics) StreamEnded(info gateway.StreamInfo) {
	r, route := info.Result, info.Route
	m.active.WithLabelValues(route).Dec()
	m.ended.WithLabelValues(route, r.Outcome.String(), httperr.CodeName(r.Code)).Inc()
	m.duration.WithLabelValues(route).Observe(info.Duration.Seconds())
	if !r.Committed.IsZero() {
		m.ttfb.WithLabelValues(route).Observe(info.TimeToFirstByte.Seconds())
	}
	if r.WriteErr != nil {
		// A write that failed or missed its deadline: the client was
		// evicted (or vanished mid-write) and its upstream cancelled.
		m.evictions.WithLabelValues(route).Inc()
	}
}

// StreamProgress implements gateway.Observer.
func (m *Metrics) StreamProgress(route string, p relay.Progress) {
	if p.Events > 0 {
		m.events.WithLabelValues(route).Add(float64(p.Events))
	}
	if p.Bytes > 0 {
		m.bytes.WithLabelValues(route).Add(float64(p.Bytes))
	}
	if p.Heartbeats > 0 {
		m.heartbeats.WithLabelValues(route).Add(float64(p.Heartbeats))
	}
}

// SharedUpstream implements gateway.Observer.
func (m *Metrics) SharedUpstream(route string, delta int) {
	m.sharedUpstreams.WithLabelValues(route).Add(float64(delta))
}

// SharedBrowsers implements gateway.Observer.
func (m *Metrics) SharedBrowsers(route string, delta int) {
	m.sharedBrowsers.WithLabelValues(route).Add(float64(delta))
}

// ShareWindow implements gateway.Observer.
func (m *Metrics) ShareWindow(route string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.shareWindow.WithLabelValues(route, result).Inc()
}

// StreamRejected implements gateway.Observer.
func (m *Metrics) StreamRejected(route, reason string) {
	m.rejected.WithLabelValues(route, reason).Inc()
}

// AuthFailure counts a request the session middleware refused with status.
func (m *Metrics) AuthFailure(status int) {
	m.authFailed.WithLabelValues(strconv.Itoa(status)).Inc()
}
