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
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/auth"
	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/gateway/route"
)

// RESTHandler registers grpc-gateway's generated REST handlers of one
// service, such as jobsv1.RegisterJobServiceHandler.
type RESTHandler func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// StreamInfo describes one finished SSE stream.
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
		runtime.WithOutgoingHeaderMatcher(auth.OutgoingHeaderMatcher),
		runtime.WithOutgoingTrailerMatcher(auth.OutgoingTrailerMatcher),
		runtime.WithMetadata(auth.PrincipalMetadata),
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
		for _, tmpl := range rt.Templates {
			s := &streamRoute{g: g, rt: rt, mapper: mapper, conn: conn, template: tmpl}
			// Registered after the generated handlers, so this one wins.
			if err := g.mux.HandlePath(http.MethodGet, tmpl, s.serve); err != nil {
				return fmt.Errorf("gateway: %s: %w", rt.FullMethod, err)
			}
		}
	}
	return nil
}

// ServeHTTP serves the REST, SSE and OpenAPI routes. Credentials the
// browser sent are dropped first: authentication happens in front of the
// gateway (see package auth), and grpc-gateway would otherwise pass an
// Authorization header on to backends whatever its header matcher says.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Header.Del("Authorization")
	r.Header.Del("Cookie")
	if r.Method == http.MethodGet && r.ContentLength != 0 {
		var cancel context.CancelFunc
		r, cancel = watchUnwantedBody(w, r)
		defer cancel()
	}
	g.mux.ServeHTTP(w, r)
}

// maxGETBody bounds the body a GET may carry before the gateway gives up on
// the request.
const maxGETBody = 64 << 10

// watchUnwantedBody handles a GET that announces a body (say,
// Transfer-Encoding: chunked) that it may never send. Two net/http behaviours
// would hurt: an HTTP/1.1 server reads an unread body before writing the
// response header, stalling the stream, and it notices a client that went
// away only once the body has been read to its end. So the body is read
// here, beside the response (full duplex), and the request is cancelled if
// the client disconnects or sends too much.
func watchUnwantedBody(w http.ResponseWriter, r *http.Request) (*http.Request, context.CancelFunc) {
	// HTTP/2 needs none of this and answers ErrNotSupported.
	_ = http.NewResponseController(w).EnableFullDuplex()
	ctx, cancel := context.WithCancel(r.Context())
	body := r.Body
	go func() {
		n, err := io.Copy(io.Discard, io.LimitReader(body, maxGETBody+1))
		if err != nil || n > maxGETBody {
			cancel()
		}
	}()
	return r.WithContext(ctx), cancel
}

// streamRoute serves one SSE path template.
type streamRoute struct {
	g        *Gateway
	rt       *route.Route
	mapper   *mapping.Mapper
	conn     *grpc.ClientConn
	template string
	// msgs recycles response messages across the route's streams: no
	// allocation per message, and nothing held per idle stream.
	msgs sync.Pool
}

var streamDesc = &grpc.StreamDesc{ServerStreams: true}

func (s *streamRoute) newMessage() proto.Message {
	if m, ok := s.msgs.Get().(proto.Message); ok {
		return m
	}
	return s.rt.NewResponse()
}

func (s *streamRoute) serve(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
	g := s.g
	sse := wantsEventStream(r.Header.Get("Accept"))
	req, err := s.rt.Request(r, pathParams)
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, err.Error())
		return
	}
	lastID, err := resume.FromRequest(r)
	if err == nil && lastID != "" && s.rt.LastEventIDField != nil {
		err = resume.Apply(req, s.rt.LastEventIDField, lastID)
	}
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, strings.TrimPrefix(err.Error(), "resume: "))
		return
	}

	principal, signedIn := auth.FromContext(r.Context())
	if signedIn && !principal.Expiry.IsZero() && !g.cfg.clock.Now().Before(principal.Expiry) {
		httperr.Write(w, codes.Unauthenticated, "session expired")
		return
	}
	release, ok := g.admit(w, r, s.template, principal.Subject, sse)
	if !ok {
		return
	}
	defer release()

	ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, s.rt.FullMethod, runtime.WithHTTPPathPattern(s.template))
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, err.Error())
		return
	}
	if lastID != "" && s.rt.LastEventIDField == nil {
		ctx = metadata.AppendToOutgoingContext(ctx, resume.MetadataKey, lastID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the upstream call whenever this handler returns

	// Open the upstream call on a short-lived goroutine: grpc-go's call
	// path is deep, and run here it would grow this goroutine's stack for
	// the whole life of the stream (measured: 8 KiB per idle HTTP/2 stream).
	opened := make(chan grpc.ClientStream, 1)
	go func() { opened <- s.open(ctx, req) }()
	stream := <-opened
	if !sse {
		// NDJSON has no reconnect protocol: a drain just ends it.
		stop := context.AfterFunc(g.draining, cancel)
		defer stop()
		s.serveNDJSON(ctx, w, r, stream)
		return
	}
	start := g.cfg.clock.Now()
	retry := s.rt.Retry
	if retry == 0 {
		retry = g.cfg.retry
	}
	var deadline time.Time
	if g.cfg.maxLifetime > 0 {
		deadline = start.Add(g.cfg.maxLifetime - jitter(g.cfg.lifetimeJitter))
	}
	res := relay.Serve(ctx, w, stream, relay.Config{
		Mapper:         s.mapper,
		NewMessage:     s.newMessage,
		ReleaseMessage: func(m proto.Message) { s.msgs.Put(m) },
		Retry:          retry,
		Heartbeat:      g.cfg.heartbeat,
		HeaderWait:     g.cfg.headerWait,
		WriteTimeout:   g.cfg.writeTimeout,
		Expiry:         principal.Expiry,
		Deadline:       deadline,
		Drain:          g.draining.Done(),
		ReconnectRetry: func() time.Duration {
			return retry + jitter(g.cfg.reconnectJitter)
		},
		Queue:  g.cfg.queue,
		Clock:  g.cfg.clock,
		Logger: g.cfg.logger,
	})
	if g.cfg.observer != nil {
		info := StreamInfo{
			Route: s.template, Method: s.rt.FullMethod, Subject: principal.Subject,
			Result: res, Duration: g.cfg.clock.Since(start), Context: r.Context(),
		}
		if !res.Committed.IsZero() {
			info.TimeToFirstByte = res.Committed.Sub(start)
		}
		g.cfg.observer.StreamEnded(info)
	}
}

// open starts the upstream call. A failure to start becomes a stream that
// fails with that error, so every path ends in the same place.
func (s *streamRoute) open(ctx context.Context, req any) grpc.ClientStream {
	stream, err := s.conn.NewStream(ctx, streamDesc, s.rt.FullMethod)
	if err != nil {
		return failedStream{err: err}
	}
	// An io.EOF from SendMsg means the stream already ended; RecvMsg then
	// tells how, so only other errors are kept.
	if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return failedStream{err: err}
	}
	if err := stream.CloseSend(); err != nil {
		return failedStream{err: err}
	}
	return stream
}

// serveNDJSON answers with grpc-gateway's own streaming JSON, as its
// generated handler for this method would.
func (s *streamRoute) serveNDJSON(ctx context.Context, w http.ResponseWriter, r *http.Request, stream grpc.ClientStream) {
	mux := s.g.mux
	_, outbound := runtime.MarshalerForRequest(mux, r)
	header, err := stream.Header()
	if err != nil {
		runtime.HTTPError(ctx, mux, outbound, w, r, err)
		return
	}
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header})
	runtime.ForwardResponseStream(ctx, mux, outbound, w, r, func() (proto.Message, error) {
		msg := s.rt.NewResponse()
		if err := stream.RecvMsg(msg); err != nil {
			return nil, err
		}
		return msg, nil
	}, mux.GetForwardResponseOptions()...)
}

// failedStream is a stream that could not be started.
type failedStream struct {
	grpc.ClientStream
	err error
}

func (f failedStream) Header() (metadata.MD, error) { return nil, nil }
func (f failedStream) RecvMsg(any) error            { return f.err }

// admit applies the drain and the caps to a new stream. On success it
// returns the function that releases the stream's places.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, route, subject string, sse bool) (func(), bool) {
	reject := func(reason string, status int, code codes.Code, msg string) (func(), bool) {
		if g.cfg.observer != nil {
			g.cfg.observer.StreamRejected(route, reason)
		}
		httperr.WriteRetry(w, status, code, msg, g.cfg.retry+jitter(g.cfg.reconnectJitter))
		return nil, false
	}
	if g.draining.Err() != nil {
		if sse {
			if g.cfg.observer != nil {
				g.cfg.observer.StreamRejected(route, "draining")
			}
			relay.SendReconnect(w, g.cfg.retry+jitter(g.cfg.reconnectJitter))
			return nil, false
		}
		return reject("draining", http.StatusServiceUnavailable, codes.Unavailable, "server is restarting, try again")
	}
	if n := g.open.Add(1); g.cfg.maxStreams > 0 && n > int64(g.cfg.maxStreams) {
		g.open.Add(-1)
		return reject("global_cap", http.StatusServiceUnavailable, codes.Unavailable, "server is busy, try again")
	}
	ip := g.cfg.clientIP(r)
	if g.cfg.perClientIP > 0 && !g.perClientIP.acquire(ip, g.cfg.perClientIP) {
		g.open.Add(-1)
		return reject("client_ip_cap", http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams from this address")
	}
	if subject != "" && g.cfg.perPrincipal > 0 && !g.perPrincipal.acquire(subject, g.cfg.perPrincipal) {
		g.open.Add(-1)
		if g.cfg.perClientIP > 0 {
			g.perClientIP.release(ip)
		}
		return reject("principal_cap", http.StatusTooManyRequests, codes.ResourceExhausted, "too many open streams")
	}
	if g.cfg.observer != nil {
		g.cfg.observer.StreamStarted(route)
	}
	return func() {
		g.open.Add(-1)
		if g.cfg.perClientIP > 0 {
			g.perClientIP.release(ip)
		}
		if subject != "" && g.cfg.perPrincipal > 0 {
			g.perPrincipal.release(subject)
		}
	}, true
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

// jitter returns a random duration in [0, max).
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// streamCounter counts open streams per key.
type streamCounter struct {
	mu   sync.Mutex
	open map[string]int
}

func newStreamCounter() *streamCounter { return &streamCounter{open: map[string]int{}} }

func (c *streamCounter) acquire(subject string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[subject] >= limit {
		return false
	}
	c.open[subject]++
	return true
}

func (c *streamCounter) release(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[subject] <= 1 {
		delete(c.open, subject)
		return
	}
	c.open[subject]--
}

// incomingHeader is grpc-gateway's default header forwarding less every
// header that carries credentials or could spoof an identity: the raw
// Cookie and Authorization never reach a backend, and identity metadata is
// set by the gateway alone.
func incomingHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case "traceparent", "tracestate": // W3C trace context, for backends' spans
		return k, true
	}
	md, ok := runtime.DefaultHeaderMatcher(key)
	if !ok {
		return "", false
	}
	switch k := strings.TrimPrefix(strings.ToLower(md), runtime.MetadataPrefix); {
	case k == "authorization", k == "cookie", strings.HasPrefix(k, "x-ssegate-"):
		return "", false
	}
	return md, true
}

// errorHandler writes every REST error in the gateway's JSON shape.
func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		st := status.Convert(he.Err)
		httperr.WriteStatus(w, he.HTTPStatus, st.Code(), httperr.Message(st))
		return
	}
	httperr.FromError(w, err)
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusNotFound:
		httperr.WriteStatus(w, httpStatus, codes.NotFound, "no such route")
	case http.StatusMethodNotAllowed:
		httperr.WriteStatus(w, httpStatus, codes.Unimplemented, "method not allowed")
	case http.StatusBadRequest:
		httperr.WriteStatus(w, httpStatus, codes.InvalidArgument, "bad request")
	default:
		httperr.WriteStatus(w, httpStatus, codes.Internal, "routing error")
	}
}
