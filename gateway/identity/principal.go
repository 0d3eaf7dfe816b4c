package identity

import (
	"context"
	"time"
)

// MetadataSubject holds, beside MetadataIdentity, the verified user name
// for logs and tracing. Trust it no more than any other metadata: the
// principal is what the identity token names.
const MetadataSubject = GatewayPrefix + "subject"

// Principal is a verified identity.
type Principal struct {
	// Subject is the user name.
	Subject string
	// Expiry is when the token ends: the session token's at the gateway,
	// the identity token's (minutes) at a backend; the zero time means
	// never.
	Expiry time.Time
	// SessionExpiry is, at a backend, when the session the identity token
	// was made from ends (its "session_exp" claim), for telling the user;
	// zero when the token does not say. Nothing is enforced by it.
	SessionExpiry time.Time
	// Token is the signed token the identity was verified from: the
	// session token at the gateway, the identity token at a backend.
	Token string
	// Session is the id of the session (the token's "sid" claim), which a
	// revocation names; empty when the token has none.
	Session string
	// Actor is the service that acts on the user's behalf (the token's
	// "act" claim, RFC 8693), such as the jobs service shipping a job's
	// log as its owner; empty when the user calls through the gateway.
	Actor string
	// Claims are the forwarded claims (Config.Claims) the token holds, by
	// name, with their values as the JWT holds them (numbers as
	// json.Number); nil when it holds none. Copies of a Principal share
	// the map: treat it as read-only.
	Claims map[string]any
}

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Header metadata with which the auth service asks the gateway to set or
// clear the session cookie. The gateway turns them into Set-Cookie and never
// forwards them (nor any other x-ssegate-* key) to the browser.
const (
	// MetadataSetSession holds a freshly signed token for the cookie.
	MetadataSetSession = "x-ssegate-set-session"
	// MetadataSessionExpires holds the token's expiry in Unix seconds, for
	// gRPC clients that read it; the gateway takes the expiry from the token.
	MetadataSessionExpires = "x-ssegate-session-expires"
	// MetadataClearSession, with any value, clears the cookie.
	MetadataClearSession = "x-ssegate-clear-session"
)

// GatewaySubject is the subject of the identity tokens with which the
// gateway calls an upstream as itself: a stream shared by every browser
// (share PUBLIC), whose browsers the backend has each let in on a stream
// of their own first. It carries no session. A backend serves it what
// every browser that may call the method may see.
const GatewaySubject = "ssegate:gateway"

// IsGateway reports whether p is the gateway calling as itself: a token
// the gateway signed for GatewaySubject, with no session and no actor.
// The gateway refuses sessions whose user has that name, so no browser's
// principal is one.
func (p Principal) IsGateway() bool {
	return p.Subject == GatewaySubject && p.Session == "" && p.Actor == ""
}
