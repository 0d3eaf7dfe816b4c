package gateway

import (
	"context"
	"net/http"

	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
)

// clientMetadata is the runtime.WithMetadata annotator that tells every
// upstream call the client's address, as the gateway's ClientIPFunc
// determines it (identity.MetadataClientIP).
func (g *Gateway) clientMetadata(_ context.Context, r *http.Request) metadata.MD {
	if r == nil {
		return nil
	}
	ip := g.cfg.clientIP(r)
	if ip == "" {
		return nil
	}
	return metadata.Pairs(identity.MetadataClientIP, ip)
}
