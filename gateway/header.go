package gateway

import (
	"context"
	"errors"
	"log/slog"
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

// identityMetadata is the runtime.WithMetadata annotator of r's routes:
// for a call on behalf of the principal the session middleware verified,
// an identity token the gateway signs for the upstream that serves the
// method (identity.MetadataIdentity, audience: the name the service was
// registered with) and the user (identity.MetadataSubject); nothing
// without a principal (a public route) or without WithIdentity. The
// browser's session token, and its claims apart from those forwarded
// inside the identity token, never reach a backend.
func (r *Routes) identityMetadata(ctx context.Context, req *http.Request) metadata.MD {
	m := r.g.cfg.identity
	if m == nil {
		return nil
	}
	p, ok := identity.FromContext(ctx)
	if !ok && req != nil {
		p, ok = identity.FromContext(req.Context())
	}
	if !ok {
		return nil
	}
	method, _ := runtime.RPCMethod(ctx)
	return r.upstreamIdentity(ctx, p, method)
}

// upstreamIdentity is the metadata that carries p to the upstream of
// method: an identity token for it (see identityMetadata); nothing when
// the gateway signs none, or cannot.
func (r *Routes) upstreamIdentity(ctx context.Context, p identity.Principal, method string) metadata.MD {
	m := r.g.cfg.identity
	if m == nil {
		return nil
	}
	aud := r.audience(method)
	md, err := m.Metadata(p, aud)
	if err != nil {
		// The backend refuses the call without one: the browser gets 401.
		// A session past its end (the cookie's verifier allows some clock
		// skew) is no fault.
		level := slog.LevelError
		if errors.Is(err, identity.ErrTokenExpired) {
			level = slog.LevelDebug
		}
		r.g.cfg.logger.Log(ctx, level, "gateway: sign identity token", "method", method, "audience", aud, "err", err)
		return nil
	}
	return md
}

// audience is the audience of the identity token for a call of method
// ("/pkg.Service/Method"): the audience its service was registered with.
func (r *Routes) audience(method string) string {
	service := strings.TrimPrefix(method, "/")
	if i := strings.LastIndexByte(service, '/'); i >= 0 {
		service = service[:i]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.audiences[service]
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
