// Package rpctest helps tests of the backend services: it stands in for the
// identity interceptor and the identity tokens, trusting the subject
// metadata (identity.MetadataSubject) alone, which is enough to test what
// a service does with a principal and that it calls others as one. Never
// use it outside tests.
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

// As returns a context whose calls carry user's identity.
func As(ctx context.Context, user string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(identity.MetadataSubject, user))
}

// DialOptions stand in for identity.Minter's: every call carries the
// subject of the principal in its context (see identity.NewContext).
func DialOptions() []grpc.DialOption {
	outgoing := func(ctx context.Context) context.Context {
		if p, ok := identity.FromContext(ctx); ok {
			return As(ctx, p.Subject)
		}
		return ctx
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(outgoing(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(outgoing(ctx), desc, cc, method, opts...)
		}),
	}
}

func withPrincipal(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	sub := md.Get(identity.MetadataSubject)
	if len(sub) != 1 || sub[0] == "" {
		return ctx
	}
	return identity.NewContext(ctx, identity.Principal{Subject: sub[0]})
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stream) Context() context.Context { return s.ctx }
