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

	principal, signedIn := identity.FromContext(r.Context())
	if signedIn && !principal.Expiry.IsZero() && !g.cfg.clock.Now().Before(principal.Expiry) {
		httperr.Write(w, codes.Unauthenticated, "session expired")
		return
	}
	release, ok := g.admit(w, r, s.template, s.retry, principal.Subject, sse)
	if !ok {
		return
	}
	defer release()
	s.routes.open.Add(1)
	defer s.routes.open.Add(-1)
	obs := g.cfg.observer
	start := g.cfg.clock.Now()
	info := StreamInfo{Route: s.template, Method: s.rt.FullMethod, Subject: principal.Subject, Context: r.Context(), NDJSON: !sse}
	defer func() {
		info.Duration = g.cfg.clock.Since(start)
		if !info.Result.Committed.IsZero() {
			info.TimeToFirstByte = info.Result.Committed.Sub(start)
		}
		obs.StreamEnded(info)
	}()
	progress := func(p relay.Progress) { obs.StreamProgress(s.template, p) }

	ctx, err := runtime.AnnotateContext(r.Context(), s.routes.mux, r, s.rt.FullMethod, runtime.WithHTTPPathPattern(s.template))
	if err != nil {
		info.Result = relay.Result{Outcome: relay.Refused, Code: codes.InvalidArgument}
		httperr.Write(w, codes.InvalidArgument, err.Error())
		return
	}
	if lastID != "" && s.rt.LastEventIDField == nil {
		ctx = metadata.AppendToOutgoingContext(ctx, resume.MetadataKey, lastID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the upstream call whenever this handler returns

	var revoked <-chan struct{}
	if rv := g.cfg.revocations; rv != nil && principal.Session != "" {
		var stop func()
		revoked, stop = rv.Watch(principal.Session)
		defer stop()
	}
	var deadline time.Time
	if g.cfg.maxLifetime > 0 {
		deadline = start.Add(g.cfg.maxLifetime - jitter(g.cfg.lifetimeJitter))
	}
	cfg := relay.Config{
		Mapper:         s.mapper,
		NewMessage:     s.newMessage,
		ReleaseMessage: func(m proto.Message) { s.msgs.Put(m) },
		Retry:          s.retry,
		Heartbeat:      g.cfg.heartbeat,
		HeaderWait:     g.cfg.headerWait,
		WriteTimeout:   g.cfg.writeTimeout,
		Expiry:         principal.Expiry,
		Revoked:        revoked,
		Deadline:       deadline,
		Drain:          g.draining.Done(),
		ReconnectRetry: func() time.Duration {
			return s.retry + jitter(g.cfg.reconnectJitter)
		},
		Queue:      g.cfg.queue,
		QueueBytes: g.cfg.queueBytes,
		OnWrite:    progress,
		Clock:      g.cfg.clock,
		Logger:     g.cfg.logger,
	}
	if sse && s.share != ssegatev1.Share_SHARE_UNSPECIFIED {
		if res, served := s.serveShared(ctx, w, req, lastID, principal, cfg); served {
			info.Result = res
			return
		}
	}
	stream := s.openOffStack(ctx, req)
	if !sse {
		// NDJSON has no reconnect protocol: a drain just ends it, and so
		// does a revocation.
		stop := context.AfterFunc(g.draining, cancel)
		defer stop()
		if revoked != nil {
			go func() {
				select {
				case <-revoked:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		info.Result = s.serveNDJSON(ctx, w, r, stream, progress)
		return
	}
	info.Result = relay.Serve(ctx, w, stream, cfg)
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
