package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/httperr"
)

// errorHandler writes every REST error in the gateway's JSON shape.
func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		httperr.FromStatus(w, he.HTTPStatus, status.Convert(he.Err))
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
