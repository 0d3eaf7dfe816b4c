package gateway

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

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
