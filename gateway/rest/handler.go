package rest

import (
	"context"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// serve is the generated Register<Service>HandlerClient's closure for one
// binding.
func (h *handler) serve(w http.ResponseWriter, req *http.Request, pathParams map[string]string) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	inbound, outbound := runtime.MarshalerForRequest(h.mux, req)
	annotated, err := runtime.AnnotateContext(ctx, h.mux, req, h.fullMethod, runtime.WithHTTPPathPattern(h.template))
	if err != nil {
		runtime.HTTPError(ctx, h.mux, outbound, w, req, err)
		return
	}
	resp, md, err := h.call(annotated, inbound, req, pathParams)
	annotated = runtime.NewServerMetadataContext(annotated, md)
	if err != nil {
		runtime.HTTPError(annotated, h.mux, outbound, w, req, err)
		return
	}
	if h.responseField != nil {
		resp = newResponseBody(resp, h.responseField, outbound)
	}
	runtime.ForwardResponseMessage(annotated, h.mux, outbound, w, req, resp, h.mux.GetForwardResponseOptions()...)
}

// call is the generated request_<Service>_<Method>_<n>: body, then path
// parameters, then the query string, then the call.
func (h *handler) call(ctx context.Context, marshaler runtime.Marshaler, req *http.Request, pathParams map[string]string) (proto.Message, runtime.ServerMetadata, error) {
	var md runtime.ServerMetadata
	in := h.request.New()
	if h.body != nil {
		if err := h.body.decode(in, marshaler, req); err != nil {
			return nil, md, err
		}
	}
	for _, p := range h.params {
		val, ok := pathParams[p.name]
		if !ok {
			return nil, md, status.Errorf(codes.InvalidArgument, "missing parameter %s", p.name)
		}
		if err := p.bind(in, val); err != nil {
			return nil, md, err
		}
	}
	if h.query != nil {
		if err := req.ParseForm(); err != nil {
			return nil, md, status.Errorf(codes.InvalidArgument, "%v", err)
		}
		if err := populateQuery(in, req.Form, h.query); err != nil {
			return nil, md, status.Errorf(codes.InvalidArgument, "%v", err)
		}
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	out := h.response.New().Interface()
	// StaticMethod first, as generated clients pass it: the method is one of
	// a fixed set, fit for a metrics label.
	err := h.conn.Invoke(ctx, h.fullMethod, in.Interface(), out, grpc.StaticMethod(), grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
	if err != nil {
		return nil, md, err
	}
	return out, md, nil
}
