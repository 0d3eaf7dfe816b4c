// Package auth verifies who is calling: the session cookie a browser sends,
// the Origin it comes from, and the signed token that carries the verified
// identity on to backends.
package identity

import (
	"context"
	"time"

	"google.golang.org/grpc/metadata"
)

// Metadata keys that carry a verified identity to backends. The gateway sets
// them from a verified session only; client-sent values are dropped before
// any upstream call, and backends verify the token again.
const (
	// MetadataToken holds the signed session token (not the raw Cookie).
	MetadataToken = "x-ssegate-token"
	// MetadataSubject holds the verified user name, for logs and tracing.
	MetadataSubject = "x-ssegate-subject"
	// MetadataClaims holds the forwarded claims (Principal.Claims) as one
	// JSON object in printable ASCII, absent when there are none. It is
	// for convenience only: a backend must not trust it without verifying
	// MetadataToken, which holds the same claims signed (an Interceptor
	// whose verifier names the same Config.Claims puts them in its
	// principal). A later change replaces the forwarded session token
	// with a short-lived token the gateway signs for each upstream.
	MetadataClaims = "x-ssegate-claims"
)

// Principal is a verified identity.
type Principal struct {
	// Subject is the user name.
	Subject string
	// Expiry is when the session ends; the zero time means never.
	Expiry time.Time
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

// Metadata returns the gRPC metadata that carries p to a backend: the
// token, the subject and, when there are any, the claims. Claims that do
// not encode within MaxClaimsSize are left out (Verify never returns
// such a principal).
func (p Principal) Metadata() metadata.MD {
	md := metadata.Pairs(MetadataToken, p.Token, MetadataSubject, p.Subject)
	if c, err := encodeClaims(p.Claims); err == nil && c != "" {
		md.Set(MetadataClaims, c)
	}
	return md
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
