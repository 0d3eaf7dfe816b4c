package gateway_test

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
)

func runtimeWithMetadata(fn func(context.Context, *http.Request) metadata.MD) runtime.ServeMuxOption {
	return runtime.WithMetadata(fn)
}
