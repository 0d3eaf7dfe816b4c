package gateway

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// incomingHeader is grpc-gateway's default header forwarding less every
// header that carries credentials or could spoof an identity: the raw
// Cookie and Authorization never reach a backend, and identity metadata is
// set by the gateway alone.
func incomingHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case "traceparent", "tracestate": // W3C trace context, for backends' spans
		return k, true
	}
	md, ok := runtime.DefaultHeaderMatcher(key)
	if !ok {
		return "", false
	}
	switch k := strings.TrimPrefix(strings.ToLower(md), runtime.MetadataPrefix); {
	case k == "authorization", k == "cookie", strings.HasPrefix(k, "x-ssegate-"):
		return "", false
	}
	return md, true
}

// withoutCredentials returns r without the browser's credentials: r itself
// when it has none, else a shallow copy with its own headers, so that the
// caller's request is left as it was.
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
