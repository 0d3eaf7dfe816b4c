package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ssegate/ssegate/gateway/identity"

	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/gateway/httperr"
)

// DefaultCookieName is the session cookie's name unless WithCookieName says
// otherwise. Under TLS, "__Host-ssegate_session" is stronger: browsers then
// refuse the cookie from sibling subdomains and over plain HTTP.
const DefaultCookieName = "ssegate_session"

// CORS answers given to a listed origin's preflight request.
const (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders = "Last-Event-ID, Content-Type"
	corsMaxAge       = 10 * time.Minute
)

// Messages of the 401 answers: a browser learns only whether to sign in
// again, never what was wrong with its cookie.
const (
	msgSignIn  = "sign in required"
	msgExpired = "session expired"
	msgEnded   = "session ended"
	msgOrigin  = "origin not allowed"
)

// DefaultPublicRoutes lists the gateway's own routes served without a
// session: the API docs and the health checks. Add the routes of methods
// marked public, and pages, with WithPublicRoutes.
func DefaultPublicRoutes() []string {
	return []string{
		"GET /docs",
		"GET /docs/*",
		"GET /openapi.json",
		"GET /healthz",
		"GET /readyz",
	}
}

// Option configures a Middleware.
type Option func(*options)

type options struct {
	cookie  string
	origins []string
	public  []string
	tls     bool
	revoked Revocations
	now     func() time.Time
	log     *slog.Logger
}

// Revocations tells which sessions were revoked (signed out) before their
// tokens expired, by the session id the tokens carry (identity.Principal's
// Session), and takes the sign-outs this gateway answers itself;
// *revocation.Set is one.
type Revocations interface {
	Revoked(session string) bool
	// Revoke records that session was revoked, until expire.
	Revoke(session string, expire time.Time)
}

// ErrRevoked is the error of a session token whose session was revoked.
var ErrRevoked = errors.New("session: session revoked")

// WithCookieName sets the session cookie's name (default DefaultCookieName).
func WithCookieName(name string) Option { return func(o *options) { o.cookie = name } }

// WithAllowedOrigins lists the cross origins allowed to call with
// credentials, each exactly "scheme://host[:port]". Same-origin requests are
// always allowed.
func WithAllowedOrigins(origins ...string) Option {
	return func(o *options) { o.origins = append(o.origins, origins...) }
}

// WithPublicRoutes replaces DefaultPublicRoutes. Each route is "METHOD /path"
// or "/path" (any method); a path ending in "/*" matches everything below
// it, and a path template as google.api.http writes them matches as the
// gateway routes it ("/v1/feeds/{name}", "/v1/{name=shelves/*}:watch",
// "/v1/files/{path=**}"). GET routes also match HEAD.
func WithPublicRoutes(routes ...string) Option {
	return func(o *options) { o.public = append([]string(nil), routes...) }
}

// WithTLS says browsers reach the gateway over HTTPS, directly or through a
// proxy that terminates TLS: cookies get Secure and the request's own origin
// is https. A request that arrives over TLS is treated so anyway.
func WithTLS(on bool) Option { return func(o *options) { o.tls = on } }

// WithRevocations refuses the cookies of the sessions r says were
// revoked, with 401 "session ended", as if they had expired.
func WithRevocations(r Revocations) Option { return func(o *options) { o.revoked = r } }

// WithClock injects the clock tokens are checked against (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger for rejected requests (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Middleware checks Origin, answers CORS, drops client-sent identity
// headers and turns the session cookie into an identity.Principal.
type Middleware struct {
	verifier *identity.Verifier
	cookie   string
	origins  map[string]bool
	public   atomic.Pointer[[]route]
	tls      bool
	revoked  Revocations
	now      func() time.Time
	log      *slog.Logger
}

// NewMiddleware builds the middleware around v, the verifier of the session
// tokens.
func NewMiddleware(v *identity.Verifier, opts ...Option) (*Middleware, error) {
	if v == nil {
		return nil, errors.New("session: middleware needs a verifier")
	}
	o := options{cookie: DefaultCookieName, public: DefaultPublicRoutes(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if !validCookieName(o.cookie) {
		return nil, fmt.Errorf("session: invalid cookie name %q", o.cookie)
	}
	if strings.HasPrefix(o.cookie, "__Host-") || strings.HasPrefix(o.cookie, "__Secure-") {
		if !o.tls {
			return nil, fmt.Errorf("session: cookie %q needs TLS", o.cookie)
		}
	}
	if o.now == nil {
		return nil, errors.New("session: nil clock")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	m := &Middleware{
		verifier: v,
		cookie:   o.cookie,
		origins:  make(map[string]bool, len(o.origins)),
		tls:      o.tls,
		revoked:  o.revoked,
		now:      o.now,
		log:      o.log,
	}
	for _, s := range o.origins {
		n, ok := normalizeOrigin(s)
		if !ok {
			return nil, fmt.Errorf("session: allowed origin %q is not scheme://host[:port]", s)
		}
		m.origins[n] = true
	}
	if err := m.SetPublicRoutes(o.public...); err != nil {
		return nil, err
	}
	return m, nil
}

// SetPublicRoutes replaces the routes served without a session (see
// WithPublicRoutes), as a reload of the gateway's routes does; requests
// already admitted are not affected.
func (m *Middleware) SetPublicRoutes(routes ...string) error {
	public := make([]route, 0, len(routes))
	for _, s := range routes {
		rt, err := parseRoute(s)
		if err != nil {
			return err
		}
		public = append(public, rt)
	}
	m.public.Store(&public)
	return nil
}

// CookieName is the session cookie's name.
func (m *Middleware) CookieName() string { return m.cookie }

type secureKey struct{}

// Wrap returns next behind the checks, in this order: a foreign Origin gets
// 403; a listed cross origin gets CORS headers (and its preflight a 204);
// identity headers and the Cookie header are dropped; then a public route
// goes on with or without a principal, and any other route needs a valid
// session cookie or gets 401 without next being called.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure := m.tls || r.TLS != nil
		h := w.Header()
		h.Add("Vary", "Origin")

		if vals := r.Header.Values("Origin"); len(vals) > 0 {
			origin, same, ok := m.checkOrigin(vals, r.Host, secure)
			if !ok {
				m.log.DebugContext(r.Context(), "session: origin refused", "origin", truncate(strings.Join(vals, ","), 200))
				httperr.Write(w, codes.PermissionDenied, msgOrigin)
				return
			}
			if !same {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					h.Add("Vary", "Access-Control-Request-Method")
					h.Add("Vary", "Access-Control-Request-Headers")
					h.Set("Access-Control-Allow-Methods", corsAllowMethods)
					h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
					h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}

		cookies := r.CookiesNamed(m.cookie)
		header := r.Header.Clone()
		for k := range header {
			if identity.CredentialHeader(k) {
				delete(header, k)
			}
		}

		p, err := m.authenticate(cookies)
		ctx := context.WithValue(r.Context(), secureKey{}, secure)
		if err == nil {
			ctx = identity.NewContext(ctx, p)
		}
		if err != nil && !m.isPublic(r) {
			msg := msgSignIn
			switch {
			case errors.Is(err, identity.ErrTokenExpired):
				msg = msgExpired
			case errors.Is(err, ErrRevoked):
				msg = msgEnded
			}
			m.log.DebugContext(r.Context(), "session: session refused", "method", r.Method, "path", truncate(r.URL.Path, 200), "err", err)
			httperr.Write(w, codes.Unauthenticated, msg)
			return
		}
		r = r.WithContext(ctx)
		r.Header = header
		next.ServeHTTP(w, r)
	})
}

var errNoSession = errors.New("session: no session cookie")

// authenticate returns the principal of the first valid cookie whose
// session was not revoked. A browser
// may send several cookies of one name (one set by a sibling subdomain);
// none of them may lock the user out while a good one is there.
func (m *Middleware) authenticate(cookies []*http.Cookie) (identity.Principal, error) {
	err := errNoSession
	now := m.now()
	for _, c := range cookies {
		p, verr := m.verifier.Verify(c.Value, now)
		if verr == nil && p.Subject == identity.GatewaySubject {
			// The gateway's own name: its identity tokens would pass for the
			// gateway's, which may read what every browser of a shared
			// stream may.
			verr = fmt.Errorf("%w: a session in the gateway's own name", identity.ErrTokenInvalid)
		}
		if verr == nil && p.Session != "" && m.revoked != nil && m.revoked.Revoked(p.Session) {
			verr = ErrRevoked
		}
		if verr == nil {
			return p, nil
		}
		if err == errNoSession || errors.Is(verr, identity.ErrTokenExpired) || errors.Is(verr, ErrRevoked) {
			err = verr
		}
	}
	return identity.Principal{}, err
}

// checkOrigin reports the normalized origin, whether it is the request's own,
// and whether it may call at all.
func (m *Middleware) checkOrigin(vals []string, host string, secure bool) (origin string, same, ok bool) {
	if len(vals) != 1 {
		return "", false, false
	}
	origin, ok = normalizeOrigin(vals[0])
	if !ok {
		return "", false, false
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	if self, selfOK := normalizeOrigin(scheme + "://" + host); selfOK && self == origin {
		return origin, true, true
	}
	// Echo the browser's spelling: it compares Access-Control-Allow-Origin
	// with its own serialization byte for byte.
	return vals[0], false, m.origins[origin]
}

func (m *Middleware) isPublic(r *http.Request) bool {
	// An escaped or unclean path could mean one thing here and another to
	// the router behind; such a path is never public.
	if r.URL.RawPath != "" || !cleanPath(r.URL.Path) {
		return false
	}
	for _, rt := range *m.public.Load() {
		if rt.match(r.Method, r.URL.Path) {
			return true
		}
	}
	return false
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
