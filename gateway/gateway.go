// Package gateway serves server-streaming gRPC methods as Server-Sent Events
// and unary methods as REST/JSON (through grpc-gateway), on one
// http.Handler. Routes come from protobuf descriptors: every server-streaming
// method with a google.api.http GET rule is an SSE endpoint at that path,
// which answers grpc-gateway's NDJSON to clients that do not ask for
// text/event-stream.
//
//	gw, err := gateway.New(gateway.WithHeartbeat(15 * time.Second))
//	err = gw.Register(ctx, jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0),
//		conn, jobsv1.RegisterJobServiceHandler)
//	http.ListenAndServe(addr, gw)
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/route"
	"github.com/ssegate/ssegate/gateway/session"
)

// RESTHandler registers grpc-gateway's generated REST handlers of one
// service, such as jobsv1.RegisterJobServiceHandler.
type RESTHandler func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// StreamInfo describes one finished stream, SSE or NDJSON.
type StreamInfo struct {
	// Route is the matched path template, e.g. "/v1/jobs/{id}/events".
	Route string
	// Method is the gRPC method, "/pkg.Service/Method".
	Method   string
	Subject  string
	Result   relay.Result
	Duration time.Duration
	// TimeToFirstByte is the time from admission to the flushed first
	// comment; zero when the stream was answered with a status instead.
	TimeToFirstByte time.Duration
	// Context is the request's context, for logging with its values.
	Context context.Context
	// NDJSON is true for a stream served as grpc-gateway's NDJSON.
	NDJSON bool
}

// Gateway is an http.Handler for the REST and SSE routes of the registered
// services.
type Gateway struct {
	cfg config
	mux *runtime.ServeMux

	open         atomic.Int64
	perPrincipal *streamCounter
	perClientIP  *streamCounter
	draining     context.Context // done once Drain is called
	startDrain   context.CancelFunc
}

// New returns a Gateway with no services registered.
func New(opts ...Option) (*Gateway, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	muxOpts := append([]runtime.ServeMuxOption{
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	}, cfg.muxOptions...)
	// Last, so that no option can undo them: credentials and identity never
	// cross the gateway from clients, the gateway's own metadata never leaks
	// out as response headers, and the verified principal goes to every
	// upstream call, REST and SSE alike.
	muxOpts = append(muxOpts,
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(session.OutgoingHeaderMatcher),
		runtime.WithOutgoingTrailerMatcher(session.OutgoingTrailerMatcher),
		runtime.WithMetadata(session.PrincipalMetadata),
	)
	g := &Gateway{
		cfg:          cfg,
		mux:          runtime.NewServeMux(muxOpts...),
		perPrincipal: newStreamCounter(),
		perClientIP:  newStreamCounter(),
	}
	g.draining, g.startDrain = context.WithCancel(context.Background())
	if cfg.openAPI != nil {
		doc := cfg.openAPI
		err := g.mux.HandlePath(http.MethodGet, "/openapi.json", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
		})
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Register serves the methods of service sd, reached through conn: its
// server-streaming GET methods as SSE, and, when rest is not nil, every
// method grpc-gateway's generated handlers serve. SSE routes take precedence
// over generated handlers for the same path.
func (g *Gateway) Register(ctx context.Context, sd protoreflect.ServiceDescriptor, conn *grpc.ClientConn, rest RESTHandler) error {
	if conn == nil {
		return errors.New("gateway: nil connection")
	}
	if rest != nil {
		if err := rest(ctx, g.mux, conn); err != nil {
			return fmt.Errorf("gateway: registering REST handlers of %s: %w", sd.FullName(), err)
		}
	}
	routes, err := route.ForService(sd)
	if errors.Is(err, route.ErrNoRoutes) && rest != nil {
		return nil // a unary-only service
	}
	if err != nil {
		return err
	}
	for _, rt := range routes {
		mapper, err := mapping.New(rt.Method.Output())
		if err != nil {
			return err
		}
		retry := rt.Retry
		if retry == 0 {
			retry = g.cfg.retry
		}
		for _, tmpl := range rt.Templates {
			s := &streamRoute{g: g, rt: rt, mapper: mapper, conn: conn, template: tmpl, retry: retry}
			// Registered after the generated handlers, so this one wins.
			if err := g.mux.HandlePath(http.MethodGet, tmpl, s.serve); err != nil {
				return fmt.Errorf("gateway: %s: %w", rt.FullMethod, err)
			}
			g.cfg.observer.RouteAdded(tmpl)
		}
	}
	return nil
}

// ServeHTTP serves the REST, SSE and OpenAPI routes. Credentials the
// browser sent are dropped first: authentication happens in front of the
// gateway (see package auth), and grpc-gateway would otherwise pass an
// Authorization header on to backends whatever its header matcher says.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withoutCredentials(r)
	if r.Method == http.MethodGet && r.ContentLength != 0 {
		var cancel context.CancelFunc
		r, cancel = watchUnwantedBody(w, r)
		defer cancel()
	}
	g.mux.ServeHTTP(w, r)
}

// Drain ends every open stream at an event boundary with a reconnect event
// whose retry is jittered, and waits until the streams have ended or ctx is
// done. New SSE streams get the same reconnect event at once (a status
// would stop EventSource for good); other requests for streams get 503. Call it on shutdown before
// http.Server.Shutdown, which would otherwise wait for streams that never
// go idle.
func (g *Gateway) Drain(ctx context.Context) error {
	g.startDrain()
	// Polling keeps admission lock-free; a drain happens once per process.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for g.open.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Draining reports whether Drain was called, for readiness checks.
func (g *Gateway) Draining() bool { return g.draining.Err() != nil }

// OpenStreams returns the number of streams being served.
func (g *Gateway) OpenStreams() int { return int(g.open.Load()) }
