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
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/relay"
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
// services. Its routes can be replaced while it serves (see Routes); its
// stream caps, drain and open streams span every set of routes.
type Gateway struct {
	cfg     config
	muxOpts []runtime.ServeMuxOption
	routes  atomic.Pointer[Routes]

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
	// out as response headers. (The identity of the verified principal goes
	// to every upstream call, REST and SSE alike: see NewRoutes.)
	g := &Gateway{
		cfg:          cfg,
		perPrincipal: newStreamCounter(),
		perClientIP:  newStreamCounter(),
	}
	g.muxOpts = append(muxOpts,
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithOutgoingTrailerMatcher(outgoingTrailer),
		runtime.WithMetadata(g.clientMetadata),
	)
	g.draining, g.startDrain = context.WithCancel(context.Background())
	g.routes.Store(g.NewRoutes())
	return g, nil
}

// Register serves the methods of service sd, reached through conn, on the
// routes being served; call it before serving (to change the routes of a
// gateway that serves, build new ones with NewRoutes). See
// Routes.Register.
func (g *Gateway) Register(ctx context.Context, sd protoreflect.ServiceDescriptor, conn *grpc.ClientConn, rest RESTHandler, opts ...RegisterOption) error {
	return g.routes.Load().Register(ctx, sd, conn, rest, opts...)
}

// ServeHTTP serves the REST and SSE routes. Credentials the browser sent
// are dropped first: authentication happens in front of the gateway (see
// package session).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withoutCredentials(r)
	if r.Method == http.MethodGet && r.ContentLength != 0 {
		var done func()
		r, done = watchUnwantedBody(w, r)
		defer done()
	}
	g.routes.Load().mux.ServeHTTP(w, r)
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
	// No browser is left for a shared upstream: close them now rather than
	// after their linger.
	g.routes.Load().hubs.closeAll()
	return nil
}

// Draining reports whether Drain was called, for readiness checks.
func (g *Gateway) Draining() bool { return g.draining.Err() != nil }

// OpenStreams returns the number of streams being served.
func (g *Gateway) OpenStreams() int { return int(g.open.Load()) }
