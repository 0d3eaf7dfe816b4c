package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/resume"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Shared streams. Browsers of a route marked shareable (ssegate.v1.stream
// share, or WithShare) that make the same request attach to one upstream
// stream, a hub: it maps and encodes each message once, keeps a window of
// recent events, and hands each event to every browser's queue without
// ever waiting for one. Each browser is served by its own handler, as any
// stream is (relay.ServeFeed): its heartbeat, write deadline, lifetime,
// session expiry and drain are its own, and one that falls behind is
// evicted (closed without a final event, so it reconnects and resumes).

// hubs holds the hubs of one set of routes, by share key.
type hubs struct {
	mu sync.Mutex
	m  map[string]*hub
}

// hub is one shared upstream stream and the browsers it feeds.
type hub struct {
	s   *streamRoute
	key string
	req proto.Message // the request, without its resume point
	// caller is whom the upstream is called as: the first browser's user
	// for PER_USER, the gateway itself (identity.GatewaySubject) for
	// PUBLIC.
	caller identity.Principal
	ctx    context.Context
	cancel context.CancelFunc
	// opened is closed once the upstream's outcome before any event is
	// known; refused is then the error that ended it (io.EOF: no events
	// after the resume point), or nil when it is live.
	opened  chan struct{}
	refused error

	mu     sync.Mutex
	subs   map[*relay.Queue]struct{} // each browser's queue
	window []*relay.Encoded
	bytes  int // of the window's events
	// base is the resume point the window starts after: every event after
	// it is in the window. baseKnown is false once an event without an id
	// has left the window, after which only ids in the window serve.
	base      string
	baseKnown bool
	lastID    string // the last event id received, to reopen from
	ended     bool
	linger    *time.Timer
}

// shareKey identifies the requests that share an upstream: the method and
// the request message without its resume point, and the user for
// PER_USER.
func (s *streamRoute) shareKey(req proto.Message, p identity.Principal) (string, proto.Message, error) {
	m := proto.Clone(req)
	if f := s.rt.LastEventIDField; f != nil {
		m.ProtoReflect().Clear(f)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", nil, err
	}
	key := s.rt.FullMethod + "\x00" + string(b)
	if s.share == ssegatev1.Share_SHARE_PER_USER {
		key += "\x00" + p.Subject
	}
	return key, m, nil
}

// serveShared serves one SSE stream of a shared route. It reports false
// when the stream cannot be shared (its resume point lies outside the
// window of the hub for its request): the caller then serves it with an
// upstream of its own.
func (s *streamRoute) serveShared(w http.ResponseWriter, c *call) (relay.Result, bool) {
	key, bare, err := s.shareKey(c.req, c.principal)
	if err != nil {
		return relay.Result{}, false
	}
	if s.share == ssegatev1.Share_SHARE_PUBLIC {
		// The backend decides whether this browser may see the stream,
		// as if it were its own: its headers say yes.
		if res, done := s.checkAccess(w, c); done {
			return res, true
		}
	}
	h, replay, me, ok := s.routes.hubs.attach(s, key, bare, c.lastID, c.principal)
	obs := s.g.cfg.observer
	obs.ShareWindow(s.template, ok)
	if !ok {
		return relay.Result{}, false
	}
	defer h.detach(me)
	obs.SharedBrowsers(s.template, 1)
	defer obs.SharedBrowsers(s.template, -1)
	select {
	case <-h.opened:
	case <-c.ctx.Done():
		return relay.Result{Outcome: relay.ClientGone}, true
	}
	if h.refused != nil {
		return relay.Answer(c.ctx, w, h.refused, &c.cfg), true
	}
	return relay.ServeFeed(c.ctx, w, replay, me, &c.cfg), true
}

// checkAccess opens the browser's own stream and waits for the backend's
// verdict: headers (accepted: the stream is closed again and the browser
// may attach), or an end or error before any (answered here, done). A
// backend that says nothing within the header wait keeps the browser on
// that stream of its own (done).
//
//go:noinline
func (s *streamRoute) checkAccess(w http.ResponseWriter, c *call) (relay.Result, bool) {
	ctx, err := s.upstreamContext(w, c)
	if err != nil {
		return relay.Result{Outcome: relay.Refused, Code: codes.InvalidArgument}, true
	}
	pctx, cancel := context.WithCancel(ctx)
	stream := s.openOffStack(pctx, c.req)
	h, err := relay.AwaitHeader(c.ctx, stream, s.g.cfg.headerWait, s.g.cfg.clock)
	switch {
	case err != nil:
		cancel()
		return relay.Result{Outcome: relay.ClientGone}, true
	case h.TimedOut:
		defer cancel()
		return relay.Serve(pctx, w, stream, &c.cfg), true
	case h.Ended:
		// Ended before any header: the status says how.
		defer cancel()
		err := stream.RecvMsg(s.rt.NewResponse())
		if err == nil {
			err = status.Error(codes.Internal, "internal error") // a message without headers
		}
		return relay.Answer(c.ctx, w, err, &c.cfg), true
	}
	cancel()
	return relay.Result{}, false
}

// openOffStack opens an upstream call on a short-lived goroutine: grpc-go's
// call path is deep, and run on a stream's own goroutine it would grow
// that stack for the whole life of the stream.
func (s *streamRoute) openOffStack(ctx context.Context, req proto.Message) grpc.ClientStream {
	opened := make(chan grpc.ClientStream, 1)
	go func() { opened <- s.open(ctx, req) }()
	return <-opened
}

// attach joins a browser that resumes after lastID to the hub of key: the
// events of the window after lastID, and a queue for those that follow.
// Without a hub it makes one, whose upstream starts after lastID. It
// reports false when the hub's window does not reach back to lastID.
//
//go:noinline
func (hs *hubs) attach(s *streamRoute, key string, req proto.Message, lastID string, p identity.Principal) (*hub, []*relay.Encoded, *relay.Queue, bool) {
	me := relay.NewQueue(s.g.cfg.shareQueue, s.g.cfg.queueBytes)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if h := hs.m[key]; h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		replay, ok := h.after(lastID)
		if !ok {
			return nil, nil, nil, false
		}
		if h.linger != nil {
			h.linger.Stop()
			h.linger = nil
		}
		h.subs[me] = struct{}{}
		return h, replay, me, true
	}
	h := s.newHub(key, req, lastID, p)
	h.subs[me] = struct{}{}
	hs.m[key] = h
	go h.run()
	return h, nil, me, true
}

func (s *streamRoute) newHub(key string, req proto.Message, lastID string, p identity.Principal) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hub{
		s: s, key: key, req: req, ctx: ctx, cancel: cancel, opened: make(chan struct{}),
		subs: map[*relay.Queue]struct{}{}, base: lastID, baseKnown: true, lastID: lastID,
	}
	h.caller = identity.Principal{Subject: identity.GatewaySubject}
	if s.share == ssegatev1.Share_SHARE_PER_USER {
		h.caller = p
	}
	s.g.cfg.observer.SharedUpstream(s.template, 1)
	return h
}

// after returns the window's events after lastID, and whether the window
// holds every one of them.
func (h *hub) after(lastID string) ([]*relay.Encoded, bool) {
	if h.ended {
		return nil, false
	}
	if h.baseKnown && lastID == h.base {
		return append([]*relay.Encoded(nil), h.window...), true
	}
	if lastID == "" {
		return nil, false
	}
	for i := len(h.window) - 1; i >= 0; i-- {
		if h.window[i].ID == lastID {
			return append([]*relay.Encoded(nil), h.window[i+1:]...), true
		}
	}
	return nil, false
}

// detach removes a browser; the last one to leave starts the linger,
// after which the upstream closes unless another browser came.
func (h *hub) detach(me *relay.Queue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(me)
}

// remove drops a browser's queue and, when it was the last, starts the
// linger. h.mu is held.
func (h *hub) remove(me *relay.Queue) {
	delete(h.subs, me)
	if len(h.subs) == 0 && !h.ended && h.linger == nil {
		h.linger = time.AfterFunc(h.s.g.cfg.shareLinger, h.expire)
	}
}

// expire closes a hub nobody came back to.
func (h *hub) expire() {
	hs := h.s.routes.hubs
	hs.mu.Lock()
	h.mu.Lock()
	idle := len(h.subs) == 0 && h.linger != nil
	if idle && hs.m[h.key] == h {
		delete(hs.m, h.key)
	}
	h.mu.Unlock()
	hs.mu.Unlock()
	if idle {
		h.cancel()
	}
}

// closeAll stops every hub, for a gateway that has drained.
func (hs *hubs) closeAll() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for k, h := range hs.m {
		h.cancel()
		delete(hs.m, k)
	}
}

// run is the hub's upstream: opened after the hub's resume point, read
// until it ends, and reopened after the last id received when it fails
// for a moment, so that browsers see no break.
func (h *hub) run() {
	s := h.s
	defer s.g.cfg.observer.SharedUpstream(s.template, -1)
	defer h.cancel()
	first := true
	backoff := 100 * time.Millisecond
	for {
		stream := s.openOffStack(h.callContext(), h.request())
		if first {
			first = false
			pending, err := h.awaitOpen(stream)
			h.refused = err
			close(h.opened)
			if err != nil {
				h.end(relay.Item{Err: err})
				return
			}
			if pending != nil && !h.publish(pending) {
				return
			}
		}
		err := h.read(stream)
		if h.ctx.Err() != nil || h.idle() {
			// The last browser left (or the gateway drained): nobody to
			// reopen it for.
			h.end(relay.Item{Err: err})
			return
		}
		outcome, _ := relay.Classify(err)
		if outcome != relay.Interrupted || (h.lastIDOrBase() == "" && h.receivedAny()) {
			// Done, or failed for good; or a stream without ids, which
			// could not be reopened without repeating events.
			h.end(relay.Item{Err: err})
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-h.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// awaitOpen waits a bounded time for the upstream's headers, as a stream
// of its own does. It returns the first event when the upstream sent one
// before its headers, and the error that ended the upstream before it was
// live (io.EOF included).
func (h *hub) awaitOpen(stream grpc.ClientStream) (*relay.Encoded, error) {
	s := h.s
	hd, err := relay.AwaitHeader(h.ctx, stream, s.g.cfg.headerWait, s.g.cfg.clock)
	switch {
	case err != nil:
		return nil, err
	case hd.Ended:
		msg := s.rt.NewResponse()
		if err := stream.RecvMsg(msg); err != nil {
			return nil, err
		}
		e, err := relay.Encode(s.mapper, msg)
		if err != nil {
			return nil, status.Error(codes.Internal, "internal error")
		}
		return e, nil
	}
	if oldest := hd.MD.Get(resume.MetadataReset); len(oldest) == 1 {
		return relay.EncodeReset(oldest[0]), nil
	}
	return nil, nil
}

// read publishes the upstream's events until it ends, and returns why.
func (h *hub) read(stream grpc.ClientStream) error {
	s := h.s
	for {
		msg := s.rt.NewResponse()
		if err := stream.RecvMsg(msg); err != nil {
			return err
		}
		e, err := relay.Encode(s.mapper, msg)
		if err != nil {
			s.g.cfg.logger.Error("backend message cannot be sent as an event", "method", s.rt.FullMethod, "err", err)
			return status.Error(codes.Internal, "internal error")
		}
		if !h.publish(e) {
			return context.Canceled
		}
	}
}

// callContext is the upstream call's context: the hub's, with a fresh
// identity token of its caller and its resume point as metadata when the
// request has no field for it.
func (h *hub) callContext() context.Context {
	md := h.s.routes.upstreamIdentity(h.ctx, h.caller, h.s.rt.FullMethod)
	if id := h.lastIDOrBase(); id != "" && h.s.rt.LastEventIDField == nil {
		md = metadata.Join(md, metadata.Pairs(resume.MetadataKey, id))
	}
	return metadata.NewOutgoingContext(h.ctx, md)
}

// request is the upstream request, resuming after the last id received.
func (h *hub) request() proto.Message {
	req := proto.Clone(h.req)
	if id, f := h.lastIDOrBase(), h.s.rt.LastEventIDField; id != "" && f != nil {
		_ = resume.Apply(req, f, id) // checked when the browser sent it, or sent by the backend
	}
	return req
}

// idle reports whether no browser is attached.
func (h *hub) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

func (h *hub) lastIDOrBase() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastID
}

func (h *hub) receivedAny() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.window) > 0 || !h.baseKnown
}

// publish adds e to the window and hands it to every browser; a browser
// whose queue is full, or holds more than the gateway's queue bytes, is
// evicted. It reports false once the hub has ended.
func (h *hub) publish(e *relay.Encoded) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false
	}
	h.window = append(h.window, e)
	h.bytes += len(e.Wire)
	cfg := h.s.g.cfg
	for len(h.window) > 1 && (len(h.window) > cfg.shareWindow || h.bytes > cfg.shareWindowBytes) {
		old := h.window[0]
		h.window[0] = nil
		h.window = h.window[1:]
		h.bytes -= len(old.Wire)
		h.base, h.baseKnown = old.ID, old.ID != ""
	}
	if e.ID != "" {
		h.lastID = e.ID
	}
	for me := range h.subs {
		if !me.Offer(relay.Item{Event: e}) {
			h.evict(me)
		}
	}
	return true
}

// evict closes a browser's queue: its handler ends the stream without a
// final event, and the browser comes back with Last-Event-ID.
func (h *hub) evict(me *relay.Queue) {
	h.remove(me)
	me.Close()
}

// end hands the upstream's end to every browser and retires the hub: new
// browsers get an upstream of their own, so a reconnect after an end is
// answered by the backend (204).
func (h *hub) end(last relay.Item) {
	h.mu.Lock()
	h.ended = true
	for me := range h.subs {
		if !me.Offer(last) {
			me.Close() // behind: it reconnects and hears the end from the backend
		}
		delete(h.subs, me)
	}
	h.mu.Unlock()
	hs := h.s.routes.hubs
	hs.mu.Lock()
	if hs.m[h.key] == h {
		delete(hs.m, h.key)
	}
	hs.mu.Unlock()
}
