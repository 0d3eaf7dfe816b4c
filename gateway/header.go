package gateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
)

// The gateway's header policy, in one place: what crosses from a client to
// a backend, and back. gateway.New installs it last, whatever other
// options say.

// incomingHeader is grpc-gateway's default header forwarding less every
// header that carries credentials or could spoof an identity (see
// identity.CredentialHeader), plus the W3C trace context for backends'
// spans.
func incomingHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case "traceparent", "tracestate":
		return k, true
	}
	if identity.CredentialHeader(key) {
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}

// outgoingHeader forwards backend header metadata as Grpc-Metadata-*
// except the gateway's own keys and gRPC's own (content-type: the answer
// is JSON, not application/grpc).
func outgoingHeader(key string) (string, bool) {
	if !backendKey(key) {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// outgoingTrailer is outgoingHeader for trailers.
func outgoingTrailer(key string) (string, bool) {
	if !backendKey(key) {
		return "", false
	}
	return runtime.MetadataTrailerPrefix + key, true
}

// backendKey reports whether a metadata key is the backend's own, to pass
// on to the client.
func backendKey(key string) bool {
	k := strings.ToLower(key)
	return !strings.HasPrefix(k, identity.GatewayPrefix) && k != "content-type" && !strings.HasPrefix(k, "grpc-")
}

// principalMetadata is the runtime.WithMetadata annotator: the metadata of
// the principal the session middleware verified, or nothing on a public
// route without one. That is the session token (identity.MetadataToken),
// the user (identity.MetadataSubject) and the forwarded claims, as one
// JSON object (identity.MetadataClaims) when the token holds any. Backends
// verify the token, which holds the same claims signed, and must not trust
// the claims key alone; a later change replaces the session token with a
// short-lived token the gateway signs for each upstream.
func principalMetadata(ctx context.Context, r *http.Request) metadata.MD {
	p, ok := identity.FromContext(ctx)
	if !ok && r != nil {
		p, ok = identity.FromContext(r.Context())
	}
	if !ok {
		return nil
	}
	return identityMetadata(p)
}

// identityMetadata is what carries p to an upstream; nothing for a caller
// without a verified session.
func identityMetadata(p identity.Principal) metadata.MD {
	if p.Token == "" {
		return nil
	}
	return p.Metadata()
}

// withoutCredentials returns r without the browser's credentials: r itself
// when it has none, else a shallow copy with its own headers, so that the
// caller's request is left as it was. (grpc-gateway would pass an
// Authorization header on whatever its header matcher says.)
func withoutCredentials(r *http.Request) *http.Request {
	_, auth := r.Header["Authorization"]
	_, cookie := r.Header["Cookie"]
	if !auth && !cookie {
		return r
	}
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	r.Header.Del("Authorization")
	r.Header.Del("Cookie")
	return r
}
