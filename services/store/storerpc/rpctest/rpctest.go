// Package rpctest helps tests of the backend services: it stands in for the
// identity interceptor, trusting the identity metadata that Principal's
// Metadata writes, which is enough to test what a service does with a
// principal and that it forwards one. Never use it outside tests.
package rpctest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ssegate/ssegate/gateway/identity"
)

// ServerOptions returns interceptors that put the principal named by the
// incoming identity metadata in the context of every call.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(withPrincipal(ctx), req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, stream{ss, withPrincipal(ss.Context())})
		}),
	}
}

// As returns a context whose calls carry user's identity, with a token made
// up from the name.
func As(ctx context.Context, user string) context.Context {
	return metadata.NewOutgoingContext(ctx, identity.Principal{Subject: user, Token: "token-of-" + user}.Metadata())
}

func withPrincipal(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	sub := md.Get(identity.MetadataSubject)
	if len(sub) != 1 || sub[0] == "" {
		return ctx
	}
	p := identity.Principal{Subject: sub[0]}
	if tok := md.Get(identity.MetadataToken); len(tok) > 0 {
		p.Token = tok[0]
	}
	return identity.NewContext(ctx, p)
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stream) Context() context.Context { return s.ctx }
