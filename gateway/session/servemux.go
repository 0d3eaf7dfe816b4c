package session

import (
	"context"
	"net/http"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ServeMuxOptions are the grpc-gateway options the middleware needs: turning
// a backend's session metadata into Set-Cookie. The gateway itself installs
// the rest, whatever options it is given (see gateway.New): header matchers
// that let no identity or cookie through either way, and the verified
// identity as metadata on every upstream call.
func (m *Middleware) ServeMuxOptions() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{runtime.WithForwardResponseOption(m.ForwardSession)}
}

// ForwardSession is the runtime.WithForwardResponseOption hook that turns
// identity.MetadataSetSession and identity.MetadataClearSession into Set-Cookie. The token is
// verified first, so a misconfigured backend cannot plant a cookie that
// every later request would fail on.
func (m *Middleware) ForwardSession(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return nil
	}
	secure, ok := ctx.Value(secureKey{}).(bool)
	if !ok {
		secure = m.tls
	}
	set := md.HeaderMD.Get(identity.MetadataSetSession)
	switch {
	case len(set) > 0:
		if len(set) != 1 {
			m.log.ErrorContext(ctx, "session: backend sent several session tokens")
			return status.Error(codes.Internal, "internal error")
		}
		now := m.now()
		p, err := m.verifier.Verify(set[0], now)
		if err != nil {
			m.log.ErrorContext(ctx, "session: backend sent a token this gateway cannot verify", "err", err)
			return status.Error(codes.Internal, "internal error")
		}
		maxAge := int(p.Expiry.Sub(now) / time.Second)
		if maxAge < 1 {
			maxAge = 1
		}
		http.SetCookie(w, &http.Cookie{
			Name:     m.cookie,
			Value:    p.Token,
			Path:     "/",
			MaxAge:   maxAge,
			Expires:  p.Expiry.UTC(),
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Cache-Control", "no-store")
	case len(md.HeaderMD.Get(identity.MetadataClearSession)) > 0:
		// The issuer's revocation reaches this gateway through its watch a
		// moment later; until then a copy of the cookie would still pass
		// here. Revoke the caller's session at once.
		if p, ok := identity.FromContext(ctx); ok && p.Session != "" && m.revoked != nil {
			m.revoked.Revoke(p.Session, p.Expiry)
		}
		http.SetCookie(w, m.clearCookie(secure))
		w.Header().Set("Cache-Control", "no-store")
	}
	return nil
}

func (m *Middleware) clearCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     m.cookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1, // written as Max-Age=0
		Expires:  time.Unix(1, 0).UTC(),
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}
