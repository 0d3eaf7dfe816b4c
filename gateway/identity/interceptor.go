// Package identity verifies, in every backend, the identity the gateway
// forwards: the signed session token in gRPC metadata. Backends trust no
// subject they cannot verify themselves, so a backend reached around the
// gateway refuses the call just the same.
package identity

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// InterceptorOption configures an Interceptor.
type InterceptorOption func(*options)

type options struct {
	public []string
	now    func() time.Time
	log    *slog.Logger
}

// WithPublicMethods lists full method names ("/pkg.Service/Method") served
// without an identity, such as signing in. A valid token on them is still
// verified and put in the context.
func WithPublicMethods(fullMethods ...string) InterceptorOption {
	return func(o *options) { o.public = append(o.public, fullMethods...) }
}

// WithClock injects the clock tokens are checked against (default time.Now).
func WithClock(now func() time.Time) InterceptorOption { return func(o *options) { o.now = now } }

// WithLogger sets the logger for refused calls (default: discard).
func WithLogger(l *slog.Logger) InterceptorOption { return func(o *options) { o.log = l } }

// Interceptor verifies the token in incoming metadata and puts the
// principal in the context with NewContext.
type Interceptor struct {
	verifier *Verifier
	public   map[string]bool
	now      func() time.Time
	log      *slog.Logger
}

// NewInterceptor builds an Interceptor around v.
func NewInterceptor(v *Verifier, opts ...InterceptorOption) (*Interceptor, error) {
	if v == nil {
		return nil, errors.New("identity: nil verifier")
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		return nil, errors.New("identity: nil clock")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	i := &Interceptor{verifier: v, public: make(map[string]bool, len(o.public)), now: o.now, log: o.log}
	for _, m := range o.public {
		if len(m) < 3 || m[0] != '/' {
			return nil, errors.New("identity: public method " + m + " is not a full method name")
		}
		i.public[m] = true
	}
	return i, nil
}

// ServerOptions chains the unary and stream interceptors into a server.
func (i *Interceptor) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(i.Unary()),
		grpc.ChainStreamInterceptor(i.Stream()),
	}
}

// Unary returns the unary server interceptor.
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor.
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := i.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

var errNoToken = errors.New("identity: no token")

// authenticate returns ctx with the verified principal, or an
// UNAUTHENTICATED status that says no more than the browser may hear.
func (i *Interceptor) authenticate(ctx context.Context, method string) (context.Context, error) {
	p, err := i.verify(ctx)
	if err == nil {
		return NewContext(ctx, p), nil
	}
	if i.public[method] {
		return ctx, nil
	}
	i.log.DebugContext(ctx, "identity: call refused", "method", method, "err", err)
	if errors.Is(err, ErrTokenExpired) {
		return nil, status.Error(codes.Unauthenticated, "session expired")
	}
	return nil, status.Error(codes.Unauthenticated, "sign in required")
}

func (i *Interceptor) verify(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataToken)
	switch len(vals) {
	case 0:
		return Principal{}, errNoToken
	case 1:
	default:
		// Two tokens mean someone added one: trust neither.
		return Principal{}, errors.New("identity: several tokens")
	}
	return i.verifier.Verify(vals[0], i.now())
}

// Outgoing returns ctx with the identity of the principal it carries in
// outgoing metadata, for a call from one backend to another on behalf of
// the same user. Identity metadata already in ctx is replaced; without a
// principal, ctx is returned as it is.
func Outgoing(ctx context.Context) context.Context {
	p, ok := FromContext(ctx)
	if !ok || p.Token == "" {
		return ctx
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	for k, vs := range p.Metadata() {
		md[k] = vs
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// UnaryClientInterceptor applies Outgoing to every unary call.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(Outgoing(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor applies Outgoing to every stream.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(Outgoing(ctx), desc, cc, method, opts...)
	}
}

// DialOptions chains both client interceptors into a connection.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(StreamClientInterceptor()),
	}
}
