package gateway

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway/relay"
)

// serveNDJSON answers with grpc-gateway's own streaming JSON, as its
// generated handler for this method would, and tells how it ended.
func (s *streamRoute) serveNDJSON(ctx context.Context, w http.ResponseWriter, r *http.Request, stream grpc.ClientStream, progress func(relay.Progress)) relay.Result {
	mux := s.routes.mux
	_, outbound := runtime.MarshalerForRequest(mux, r)
	header, err := stream.Header()
	if err != nil {
		runtime.HTTPError(ctx, mux, outbound, w, r, err)
		return relay.Result{Outcome: relay.Refused, Code: status.Code(err)}
	}
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header})
	cw := &countingWriter{ResponseWriter: w, progress: progress}
	var end error
	runtime.ForwardResponseStream(ctx, mux, outbound, cw, r, func() (proto.Message, error) {
		msg := s.rt.NewResponse()
		if err := stream.RecvMsg(msg); err != nil {
			end = err
			return nil, err
		}
		cw.events++
		return msg, nil
	}, mux.GetForwardResponseOptions()...)
	cw.report() // an error chunk is written without a flush
	res := relay.Result{Events: cw.events, Bytes: cw.bytes, WriteErr: cw.err}
	switch {
	case cw.err != nil || r.Context().Err() != nil:
		res.Outcome, res.Code = relay.ClientGone, codes.Canceled
	case end == nil:
		// A response option or the marshaler refused a message, and
		// grpc-gateway wrote an error chunk.
		res.Outcome, res.Code = relay.Failed, codes.Internal
	default:
		res.Outcome, res.Code = relay.Classify(end)
	}
	if cw.wrote {
		res.Committed = s.g.cfg.clock.Now()
	}
	return res
}

// countingWriter counts what grpc-gateway writes to an NDJSON stream and
// reports it at each flush, which ends each message.
type countingWriter struct {
	http.ResponseWriter
	progress func(relay.Progress)
	events   int // messages received
	bytes    int
	reported relay.Progress
	wrote    bool
	err      error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.wrote = true
	n, err := c.ResponseWriter.Write(p)
	c.bytes += n
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// FlushError is what http.ResponseController.Flush calls.
func (c *countingWriter) FlushError() error {
	err := http.NewResponseController(c.ResponseWriter).Flush()
	if err != nil && c.err == nil {
		c.err = err
	}
	c.report()
	return err
}

func (c *countingWriter) report() {
	now := relay.Progress{Events: c.events, Bytes: c.bytes}
	if now != c.reported {
		c.progress(relay.Progress{Events: now.Events - c.reported.Events, Bytes: now.Bytes - c.reported.Bytes})
		c.reported = now
	}
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
