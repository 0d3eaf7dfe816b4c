package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MetadataIdentity carries, on every call to a backend, the identity
// token made for that backend: a JWT the gateway (or a service acting for
// a user) signs with its own key, whose audience is the backend's name,
// valid for minutes. Backends verify it with the signer's public key
// (Interceptor does). The browser's session token never leaves the
// gateway.
const MetadataIdentity = GatewayPrefix + "identity"

// GatewayIssuer is the "iss" of the identity tokens the ssegate gateway
// signs.
const GatewayIssuer = "ssegate"

// DefaultIdentityLifetime is how long an identity token is valid unless
// its Issuer's Config says otherwise.
const DefaultIdentityLifetime = 5 * time.Minute

// maxIdentityLifetime bounds the lifetime of identity tokens: a token a
// backend leaked is good for no longer.
const maxIdentityLifetime = time.Hour

// maxMinted bounds the tokens a Minter keeps for reuse.
const maxMinted = 10_000

// Minter signs identity tokens: one per principal and audience, kept and
// reused for the first half of its life, so that signing is not a cost of
// every call and a backend always gets a token with half its lifetime
// left. Safe for concurrent use.
type Minter struct {
	issuer *Issuer
	now    func() time.Time

	mu     sync.Mutex
	minted map[mintKey]minted
}

// mintKey identifies what a token says: the session token it was made
// from (at the gateway), else the subject and session, and the audience.
type mintKey struct{ token, subject, session, audience string }

type minted struct {
	token   string
	refresh time.Time // when to sign a new one
}

// NewMinter returns a Minter that signs with issuer (its Config holds the
// key, the iss, the lifetime and, for a service acting for users, the
// actor) at the times now returns.
func NewMinter(issuer *Issuer, now func() time.Time) (*Minter, error) {
	if issuer == nil || now == nil {
		return nil, errors.New("identity: minter needs an issuer and a clock")
	}
	if issuer.Lifetime() > maxIdentityLifetime {
		return nil, fmt.Errorf("identity: identity tokens live minutes, not %s (at most %s)", issuer.Lifetime(), maxIdentityLifetime)
	}
	return &Minter{issuer: issuer, now: now, minted: make(map[mintKey]minted)}, nil
}

// Token returns an identity token for p, for the backend named audience:
// p's subject, session and forwarded claims, expiring after the issuer's
// lifetime or with p's session, whichever comes first.
func (m *Minter) Token(p Principal, audience string) (string, error) {
	if audience == "" {
		return "", errors.New("identity: identity token without an audience")
	}
	now := m.now()
	key := mintKey{token: p.Token, subject: p.Subject, session: p.Session, audience: audience}
	// Without a session token, claims are not in the key: sign afresh.
	cache := p.Token != "" || len(p.Claims) == 0
	if cache {
		m.mu.Lock()
		got, ok := m.minted[key]
		m.mu.Unlock()
		if ok && now.Before(got.refresh) {
			return got.token, nil
		}
	}
	tok, exp, err := m.issuer.Sign(Grant{Subject: p.Subject, Audience: audience, Session: p.Session, Claims: p.Claims, NotAfter: p.Expiry}, now)
	if err != nil {
		return "", err
	}
	if cache {
		m.mu.Lock()
		m.keep(key, minted{token: tok, refresh: now.Add(exp.Sub(now) / 2)}, now)
		m.mu.Unlock()
	}
	return tok, nil
}

// keep stores t under key, first dropping the tokens due for renewal
// when the cache is full, and all of them if that is not enough. m.mu is
// held.
func (m *Minter) keep(key mintKey, t minted, now time.Time) {
	if len(m.minted) >= maxMinted {
		for k, v := range m.minted {
			if !now.Before(v.refresh) {
				delete(m.minted, k)
			}
		}
		if len(m.minted) >= maxMinted {
			clear(m.minted)
		}
	}
	m.minted[key] = t
}

// Metadata returns the metadata that carries p to the backend named
// audience: its identity token (MetadataIdentity), and the subject
// (MetadataSubject) for logs and tracing.
func (m *Minter) Metadata(p Principal, audience string) (metadata.MD, error) {
	tok, err := m.Token(p, audience)
	if err != nil {
		return nil, err
	}
	return metadata.Pairs(MetadataIdentity, tok, MetadataSubject, p.Subject), nil
}

// Outgoing returns ctx with p's identity for audience in its outgoing
// metadata, replacing identity metadata already there.
func (m *Minter) Outgoing(ctx context.Context, p Principal, audience string) (context.Context, error) {
	add, err := m.Metadata(p, audience)
	if err != nil {
		return nil, err
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	for k, vs := range add {
		md[k] = vs
	}
	return metadata.NewOutgoingContext(ctx, md), nil
}

// DialOptions are client interceptors that give every call on the
// connection, to the backend named audience, the identity of the
// principal in the call's context (see NewContext): a call from one
// service to another on behalf of that user. A call whose context holds
// no principal goes without one.
func (m *Minter) DialOptions(audience string) []grpc.DialOption {
	outgoing := func(ctx context.Context) (context.Context, error) {
		p, ok := FromContext(ctx)
		if !ok {
			return ctx, nil
		}
		out, err := m.Outgoing(ctx, p, audience)
		if err != nil {
			return nil, status.Error(codes.Internal, "identity: "+err.Error())
		}
		return out, nil
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			ctx, err := outgoing(ctx)
			if err != nil {
				return err
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			ctx, err := outgoing(ctx)
			if err != nil {
				return nil, err
			}
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}
