// Package auth is the AuthService backend: it checks passwords against
// bcrypt hashes, signs session tokens and hands them to the gateway in
// response header metadata, which the gateway turns into the session cookie.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
)

// maxPassword is bcrypt's limit: it ignores bytes past 72, so a longer
// password would match on its prefix alone.
const maxPassword = 72

// The one answer to wrong credentials, whether or not the user exists.
const msgWrongCredentials = "wrong username or password"

// PublicMethods are the methods that run without a session, for
// identity.WithPublicMethods: signing in, and signing out with a session
// that may already have expired.
func PublicMethods() []string {
	return []string{authv1.AuthService_Login_FullMethodName, authv1.AuthService_Logout_FullMethodName}
}

// Option configures a Service.
type Option func(*Service)

// WithClock injects the clock tokens are issued at (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger for sign-ins (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithRevocations revokes a session when it signs out, in r, which every
// gateway in front watches: a copy of its cookie is refused from then on,
// and its open streams end. Without it, signing out only clears the cookie.
func WithRevocations(r *Revocations) Option { return func(s *Service) { s.revocations = r } }

// Service implements authv1.AuthServiceServer.
type Service struct {
	authv1.UnimplementedAuthServiceServer

	users       Users
	issuer      *identity.Issuer
	revocations *Revocations // nil: signing out only clears the cookie
	dummy       []byte       // compared against for unknown users, so they cost as much
	now         func() time.Time
	log         *slog.Logger
	// byUser and byAddr slow down failed sign-ins per user name and per
	// client address.
	byUser, byAddr *limiter
}

// Limits of failed sign-ins: a user may fail this many times, and a client
// address (which many people may share) more, before every further attempt
// waits; the wait starts at a second and doubles, up to a quarter of an
// hour.
const (
	freeUserFailures = 5
	freeAddrFailures = 20
	firstWait        = time.Second
	longestWait      = 15 * time.Minute
)

// New returns the service for users, signing sessions with issuer.
func New(users Users, issuer *identity.Issuer, opts ...Option) (*Service, error) {
	if issuer == nil {
		return nil, errors.New("auth: nil issuer")
	}
	if len(users) == 0 {
		return nil, errors.New("auth: no users")
	}
	cost := bcrypt.MinCost
	for name, h := range users {
		c, err := bcrypt.Cost(h)
		if err != nil {
			return nil, errors.New("auth: user " + strconv.Quote(name) + ": not a bcrypt hash")
		}
		cost = max(cost, c)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, err
	}
	s := &Service{users: users, issuer: issuer, dummy: dummy, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("auth: nil clock")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.byUser = newLimiter(freeUserFailures, firstWait, longestWait, s.now)
	s.byAddr = newLimiter(freeAddrFailures, firstWait, longestWait, s.now)
	return s, nil
}

// Login checks the credentials and sends a new session token in the
// response header metadata (identity.MetadataSetSession).
func (s *Service) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	name, password := req.GetUsername(), req.GetPassword()
	if name == "" || password == "" {
		return nil, status.Error(codes.InvalidArgument, "username and password are required")
	}
	addr := clientAddr(ctx)
	if wait := max(s.byUser.wait(name), s.byAddr.wait(addr)); wait > 0 {
		return nil, tooManyFailures(wait)
	}
	hash, known := s.users[name]
	if !known {
		hash = s.dummy
	}
	// Always one bcrypt comparison, so an unknown name takes as long as a
	// wrong password; the length check comes after it for the same reason.
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !known || err != nil || len(password) > maxPassword {
		s.log.InfoContext(ctx, "auth: sign-in refused", "user", truncate(name, 64), "addr", addr)
		s.byUser.fail(name)
		s.byAddr.fail(addr)
		return nil, status.Error(codes.Unauthenticated, msgWrongCredentials)
	}
	s.byUser.reset(name)
	token, exp, err := s.issuer.Issue(name, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "auth: issue token", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	md := metadata.Pairs(identity.MetadataSetSession, token, identity.MetadataSessionExpires, strconv.FormatInt(exp.Unix(), 10))
	if err := grpc.SetHeader(ctx, md); err != nil {
		s.log.ErrorContext(ctx, "auth: set session header", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	s.log.InfoContext(ctx, "auth: signed in", "user", name)
	return &authv1.LoginResponse{Principal: principal(name, exp)}, nil
}

// Logout revokes the caller's session (see WithRevocations), then asks the
// gateway to clear the cookie (identity.MetadataClearSession). A sign-out
// whose revocation cannot be recorded fails, cookie kept, so the user can
// try again rather than believe a copied cookie dead.
func (s *Service) Logout(ctx context.Context, _ *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	if p, ok := identity.FromContext(ctx); ok && p.Session != "" && s.revocations != nil {
		// Kept while any token of the session could still verify.
		until := p.SessionExpiry
		if until.IsZero() {
			until = s.now().Add(s.issuer.Lifetime())
		}
		if err := s.revocations.Revoke(ctx, p.Session, until.Add(identity.DefaultClockSkew)); err != nil {
			s.log.ErrorContext(ctx, "auth: revoke session", "user", p.Subject, "err", err)
			return nil, status.Error(codes.Unavailable, "signing out failed, try again")
		}
	}
	if err := grpc.SetHeader(ctx, metadata.Pairs(identity.MetadataClearSession, "1")); err != nil {
		s.log.ErrorContext(ctx, "auth: set clear header", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	if p, ok := identity.FromContext(ctx); ok {
		s.log.InfoContext(ctx, "auth: signed out", "user", p.Subject)
	}
	return &authv1.LogoutResponse{}, nil
}

// WhoAmI returns the principal the identity interceptor verified.
func (s *Service) WhoAmI(ctx context.Context, _ *authv1.WhoAmIRequest) (*authv1.WhoAmIResponse, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "sign in required")
	}
	// The identity token ends in minutes; the session it was made from
	// later.
	exp := p.SessionExpiry
	if exp.IsZero() {
		exp = p.Expiry
	}
	return &authv1.WhoAmIResponse{Principal: principal(p.Subject, exp)}, nil
}

// clientAddr is the client address the gateway sends; calls without one
// (straight over gRPC) share one key.
func clientAddr(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(identity.MetadataClientIP); len(v) == 1 {
		return v[0]
	}
	return "unknown"
}

// tooManyFailures is the answer to an attempt that must wait: 429 through
// the gateway, with Retry-After from the RetryInfo.
func tooManyFailures(wait time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, "too many failed sign-ins, try again later").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many failed sign-ins, try again later")
	}
	return st.Err()
}

func principal(name string, exp time.Time) *authv1.Principal {
	p := &authv1.Principal{Username: name}
	if !exp.IsZero() {
		p.ExpireTime = timestamppb.New(exp)
	}
	return p
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
