package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/gateway/route"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// streamRoute serves one SSE path template.
type streamRoute struct {
	g        *Gateway
	routes   *Routes // the set it belongs to
	rt       *route.Route
	mapper   *mapping.Mapper
	conn     *grpc.ClientConn
	template string
	// retry is the route's reconnection delay, or the gateway's.
	retry time.Duration
	// share says which browsers share an upstream stream.
	share ssegatev1.Share
	// msgs recycles response messages across the route's streams: no
	// allocation per message, and nothing held per idle stream.
	msgs sync.Pool
	// hooks are the relay's callbacks, made once for the route rather
	// than for each of its streams.
	hooks relay.Config
}

// newStreamRoute fills in s's hooks.
func newStreamRoute(s *streamRoute) *streamRoute {
	g, obs := s.g, s.g.cfg.observer
	s.hooks = relay.Config{
		NewMessage:     s.newMessage,
		ReleaseMessage: func(m proto.Message) { s.msgs.Put(m) },
		ReconnectRetry: func() time.Duration { return s.retry + jitter(g.cfg.reconnectJitter) },
		OnWrite:        func(p relay.Progress) { obs.StreamProgress(s.template, p) },
	}
	return s
}

var streamDesc = &grpc.StreamDesc{ServerStreams: true}

func (s *streamRoute) newMessage() proto.Message {
	if m, ok := s.msgs.Get().(proto.Message); ok {
		return m
	}
	return s.rt.NewResponse()
}

// call is one admitted stream: what serving it takes, held on the heap.
// A stream's handler goroutine stays parked in its frames for the whole
// stream, so they are kept small: frames that must be large (binding,
// admission, the header write) return before the stream settles, and the
// stack of an idle stream stays at the size net/http's own handlers need.
type call struct {
	ctx context.Context // the request's
	r   *http.Request
	// cancel ends the upstream call of a stream of its own; a browser of
	// a shared upstream has none.
	cancel    context.CancelFunc
	req       proto.Message
	lastID    string
	principal identity.Principal
	sse       bool
	revoked   <-chan struct{}
	cfg       relay.Config
	info      StreamInfo
	start     time.Time
	// undo runs when the stream ends, last added first.
	undo []func()
}

func (s *streamRoute) serve(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
	c := s.admitCall(w, r, pathParams)
	if c == nil {
		return // answered
	}
	defer s.endCall(c)
	c.info.Result = s.relay(w, r, c)
}

// admitCall binds the request, checks the session, admits the stream and
// prepares its upstream call. It returns nil when it answered the request
// instead.
//
//go:noinline
func (s *streamRoute) admitCall(w http.ResponseWriter, r *http.Request, pathParams map[string]string) *call {
	g := s.g
	c := &call{sse: wantsEventStream(r.Header.Get("Accept"))}
	req, err := s.rt.Request(r, pathParams)
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, err.Error())
		return nil
	}
	lastID, err := resume.FromRequest(r)
	if err == nil && lastID != "" && s.rt.LastEventIDField != nil {
		err = resume.Apply(req, s.rt.LastEventIDField, lastID)
	}
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, strings.TrimPrefix(err.Error(), "resume: "))
		return nil
	}
	c.req, c.lastID = req, lastID

	principal, signedIn := identity.FromContext(r.Context())
	if signedIn && !principal.Expiry.IsZero() && !g.cfg.clock.Now().Before(principal.Expiry) {
		httperr.Write(w, codes.Unauthenticated, "session expired")
		return nil
	}
	c.principal = principal
	release, ok := g.admit(w, r, s.template, s.retry, principal.Subject, c.sse)
	if !ok {
		return nil
	}
	c.undo = append(c.undo, release)
	s.routes.open.Add(1)
	c.undo = append(c.undo, func() { s.routes.open.Add(-1) })
	c.start = g.cfg.clock.Now()
	c.info = StreamInfo{Route: s.template, Method: s.rt.FullMethod, Subject: principal.Subject, Context: r.Context(), NDJSON: !c.sse}

	// The context of the browser's upstream call, if it makes one, comes
	// later (upstreamContext): a browser of a shared upstream makes none,
	// or only its access check, and an idle one would hold the metadata
	// for its whole life.
	c.ctx, c.r = r.Context(), r

	if rv := g.cfg.revocations; rv != nil && principal.Session != "" {
		var stop func()
		c.revoked, stop = rv.Watch(principal.Session)
		c.undo = append(c.undo, stop)
	}
	var deadline time.Time
	if g.cfg.maxLifetime > 0 {
		deadline = c.start.Add(g.cfg.maxLifetime - jitter(g.cfg.lifetimeJitter))
	}
	c.cfg = relay.Config{
		Mapper:         s.mapper,
		NewMessage:     s.hooks.NewMessage,
		ReleaseMessage: s.hooks.ReleaseMessage,
		Retry:          s.retry,
		Heartbeat:      g.cfg.heartbeat,
		HeaderWait:     g.cfg.headerWait,
		WriteTimeout:   g.cfg.writeTimeout,
		Expiry:         principal.Expiry,
		Revoked:        c.revoked,
		Deadline:       deadline,
		Drain:          g.draining.Done(),
		ReconnectRetry: s.hooks.ReconnectRetry,
		Queue:          g.cfg.queue,
		QueueBytes:     g.cfg.queueBytes,
		OnWrite:        s.hooks.OnWrite,
		Clock:          g.cfg.clock,
		Logger:         g.cfg.logger,
	}
	return c
}

// endCall reports the stream's end and releases what admitCall took.
//
//go:noinline
func (s *streamRoute) endCall(c *call) {
	c.info.Duration = s.g.cfg.clock.Since(c.start)
	if !c.info.Result.Committed.IsZero() {
		c.info.TimeToFirstByte = c.info.Result.Committed.Sub(c.start)
	}
	s.g.cfg.observer.StreamEnded(c.info)
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
}

// relay serves an admitted stream: from a shared upstream when its route
// shares one and it can join, else from an upstream of its own, as SSE
// or as grpc-gateway's NDJSON.
func (s *streamRoute) relay(w http.ResponseWriter, r *http.Request, c *call) relay.Result {
	if c.sse && s.share != ssegatev1.Share_SHARE_UNSPECIFIED {
		if res, served := s.serveShared(w, c); served {
			return res
		}
	}
	ctx, err := s.upstreamContext(w, c)
	if err != nil {
		return relay.Result{Outcome: relay.Refused, Code: codes.InvalidArgument}
	}
	// Cancelled whenever the stream ends: that ends the upstream call.
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	stream := s.openOffStack(c.ctx, c.req)
	if !c.sse {
		return s.relayNDJSON(w, r, c, stream)
	}
	return relay.Serve(c.ctx, w, stream, &c.cfg)
}

// upstreamContext is the context of an upstream call on behalf of c's
// browser: grpc-gateway's metadata (the identity token, the request id,
// the forwarded headers), and the resume point when the request has no
// field for it. It answers the request itself when that fails.
func (s *streamRoute) upstreamContext(w http.ResponseWriter, c *call) (context.Context, error) {
	ctx, err := runtime.AnnotateContext(c.ctx, s.routes.mux, c.r, s.rt.FullMethod, runtime.WithHTTPPathPattern(s.template))
	if err != nil {
		httperr.Write(w, codes.InvalidArgument, err.Error())
		return nil, err
	}
	if c.lastID != "" && s.rt.LastEventIDField == nil {
		ctx = metadata.AppendToOutgoingContext(ctx, resume.MetadataKey, c.lastID)
	}
	return ctx, nil
}

// relayNDJSON serves the stream as NDJSON, which has no reconnect
// protocol: a drain just ends it, and so does a revocation.
func (s *streamRoute) relayNDJSON(w http.ResponseWriter, r *http.Request, c *call, stream grpc.ClientStream) relay.Result {
	stop := context.AfterFunc(s.g.draining, c.cancel)
	defer stop()
	if c.revoked != nil {
		go func() {
			select {
			case <-c.revoked:
				c.cancel()
			case <-c.ctx.Done():
			}
		}()
	}
	return s.serveNDJSON(c.ctx, w, r, stream, c.cfg.OnWrite)
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

// failedStream is a stream that could not be started.
type failedStream struct {
	grpc.ClientStream
	err error
}

func (f failedStream) Header() (metadata.MD, error) { return nil, nil }
func (f failedStream) RecvMsg(any) error            { return f.err }
