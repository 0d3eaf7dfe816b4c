// Package identity is the one home of identity in ssegate: session tokens
// (signed by a sign-in service, verified by the gateway), the short-lived
// identity tokens the gateway signs for each backend call and services
// sign when they call another service on a user's behalf, the principals
// they name, their metadata keys, and the backends' interceptor that
// verifies them. Backends trust no identity they cannot verify
// themselves, so a backend reached around the gateway refuses the call
// just the same.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// InterceptorOption configures an Interceptor.
type InterceptorOption func(*options)

type options struct {
	public  []string
	callers []caller
	now     func() time.Time
	log     *slog.Logger
}

// caller is another service trusted to call some methods on behalf of
// users.
type caller struct {
	v       *Verifier
	methods []string
}

// WithPublicMethods lists full method names ("/pkg.Service/Method") served
// without an identity, such as signing in. A valid token on them is still
// verified and put in the context.
func WithPublicMethods(fullMethods ...string) InterceptorOption {
	return func(o *options) { o.public = append(o.public, fullMethods...) }
}

// WithCaller trusts another service to call the listed methods on behalf
// of users: identity tokens whose "iss" is v's issuer, verified by v
// (the service's public keys; this service's name as Audience; the
// service as Actor), on those methods only. The jobs service, shipping a
// job's log as the job's owner, is the logs service's caller for Append.
func WithCaller(v *Verifier, fullMethods ...string) InterceptorOption {
	return func(o *options) { o.callers = append(o.callers, caller{v: v, methods: fullMethods}) }
}

// WithClock injects the clock tokens are checked against (default time.Now).
func WithClock(now func() time.Time) InterceptorOption { return func(o *options) { o.now = now } }

// WithLogger sets the logger for refused calls (default: discard).
func WithLogger(l *slog.Logger) InterceptorOption { return func(o *options) { o.log = l } }

// Interceptor verifies the identity token in incoming metadata
// (MetadataIdentity) and puts the principal in the context with
// NewContext. It picks the verifier by the token's issuer: the gateway's,
// which may call every method, or a caller's (WithCaller), which may call
// its methods only.
type Interceptor struct {
	gateway *Verifier
	callers map[string]caller // by issuer
	allowed map[string]map[string]bool
	public  map[string]bool
	now     func() time.Time
	log     *slog.Logger
}

// NewInterceptor builds an Interceptor that accepts the identity tokens v
// verifies: the gateway's, with its public keys and this backend's name as
// Config.Audience.
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
	i := &Interceptor{
		gateway: v,
		callers: make(map[string]caller, len(o.callers)),
		allowed: make(map[string]map[string]bool, len(o.callers)),
		public:  make(map[string]bool, len(o.public)),
		now:     o.now,
		log:     o.log,
	}
	for _, m := range o.public {
		if err := checkMethod(m); err != nil {
			return nil, err
		}
		i.public[m] = true
	}
	for _, c := range o.callers {
		if c.v == nil {
			return nil, errors.New("identity: nil caller verifier")
		}
		iss := c.v.Issuer()
		if _, dup := i.callers[iss]; dup || iss == v.Issuer() {
			return nil, fmt.Errorf("identity: issuer %q trusted twice", iss)
		}
		if c.v.k.actor == "" {
			return nil, fmt.Errorf("identity: caller %q needs its Actor in the verifier's Config", iss)
		}
		allowed := make(map[string]bool, len(c.methods))
		for _, m := range c.methods {
			if err := checkMethod(m); err != nil {
				return nil, err
			}
			allowed[m] = true
		}
		i.callers[iss], i.allowed[iss] = c, allowed
	}
	return i, nil
}

func checkMethod(m string) error {
	if len(m) < 3 || m[0] != '/' {
		return errors.New("identity: method " + m + " is not a full method name")
	}
	return nil
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

var (
	errNoToken = errors.New("identity: no identity token")
	// errNotAllowed is a caller's valid token on a method it may not call.
	errNotAllowed = errors.New("identity: caller may not call this method")
)

// authenticate returns ctx with the verified principal, or an error
// status that says no more than the browser may hear.
func (i *Interceptor) authenticate(ctx context.Context, method string) (context.Context, error) {
	p, err := i.verify(ctx, method)
	if err == nil {
		return NewContext(ctx, p), nil
	}
	if i.public[method] {
		return ctx, nil
	}
	i.log.DebugContext(ctx, "identity: call refused", "method", method, "err", err)
	switch {
	case errors.Is(err, errNotAllowed):
		return nil, status.Error(codes.PermissionDenied, "this caller may not call "+method)
	case errors.Is(err, ErrTokenExpired):
		return nil, status.Error(codes.Unauthenticated, "session expired")
	}
	return nil, status.Error(codes.Unauthenticated, "sign in required")
}

func (i *Interceptor) verify(ctx context.Context, method string) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataIdentity)
	switch len(vals) {
	case 0:
		return Principal{}, errNoToken
	case 1:
	default:
		// Two tokens mean someone added one: trust neither.
		return Principal{}, errors.New("identity: several identity tokens")
	}
	tok := vals[0]
	iss, err := issuerOf(tok)
	if err != nil {
		return Principal{}, err
	}
	if iss == i.gateway.Issuer() {
		p, err := i.gateway.Verify(tok, i.now())
		if err == nil && p.Actor != "" {
			// The gateway never writes one: not a token it made.
			return Principal{}, fmt.Errorf("%w: an actor in a gateway token", ErrTokenInvalid)
		}
		return p, err
	}
	c, ok := i.callers[iss]
	if !ok {
		return Principal{}, fmt.Errorf("%w: issuer %.64q is not trusted", ErrTokenInvalid, iss)
	}
	p, err := c.v.Verify(tok, i.now())
	if err != nil {
		return Principal{}, err
	}
	if !i.allowed[iss][method] {
		return Principal{}, fmt.Errorf("%w: %q calling %s", errNotAllowed, iss, method)
	}
	return p, nil
}

// issuerOf reads a token's "iss" without verifying anything, only to pick
// the verifier that then checks all of it.
func issuerOf(tok string) (string, error) {
	if len(tok) > MaxTokenSize {
		return "", fmt.Errorf("%w: %d bytes is over the limit", ErrTokenInvalid, len(tok))
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	return c.Issuer, nil
}
