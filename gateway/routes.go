package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/rest"
	"github.com/ssegate/ssegate/gateway/route"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Routes is one set of registered services, served as a whole: a gateway
// serves the routes it was built with until Serve swaps in others, as a
// reload does. A stream keeps the routes it started on until it ends.
type Routes struct {
	g   *Gateway
	mux *runtime.ServeMux

	mu      sync.Mutex
	claimed map[string]string // "METHOD pattern" → the gRPC method served there
	// bodyLimits are the routes' own body limits, by "METHOD pattern" as
	// grpc-gateway's Pattern.String writes the pattern; read by limitBody
	// while serving, written only before.
	bodyLimits map[string]int64
	// audiences are the audiences of the identity tokens of calls to each
	// service, by full name.
	audiences map[string]string

	open atomic.Int64 // streams being served on these routes
	hubs *hubs        // shared upstreams
}

// OpenStreams returns the number of streams being served on r, which may
// no longer be the gateway's routes.
func (r *Routes) OpenStreams() int { return int(r.open.Load()) }

// NewRoutes returns an empty set of routes for g.
func (g *Gateway) NewRoutes() *Routes {
	r := &Routes{g: g, claimed: map[string]string{}, bodyLimits: map[string]int64{}, audiences: map[string]string{}, hubs: &hubs{m: map[string]*hub{}}}
	r.mux = runtime.NewServeMux(append(g.muxOpts, runtime.WithMiddlewares(r.limitBody), runtime.WithMetadata(r.identityMetadata))...)
	return r
}

// Serve makes r the routes g serves. Requests already being served, and
// open streams, finish on the routes they started on.
func (g *Gateway) Serve(r *Routes) error {
	if r.g != g {
		return errors.New("gateway: routes of another gateway")
	}
	g.routes.Store(r)
	return nil
}

// RegisterOption changes how Register serves one service.
type RegisterOption func(*registration)

type registration struct {
	audience string
}

// Audience names the upstream that serves the service, as the audience
// of the identity tokens its calls carry (see WithIdentity): a backend
// accepts only the tokens made for it. Default: the service's full name,
// such as "acme.greeter.v1.GreeterService".
func Audience(name string) RegisterOption {
	return func(r *registration) { r.audience = name }
}

// ErrRouteConflict is returned when two methods claim one route.
var ErrRouteConflict = errors.New("gateway: route claimed twice")

// Register serves the methods of service sd, reached through conn: its
// server-streaming GET bindings as SSE (and grpc-gateway's NDJSON for
// other clients), and its unary methods as REST/JSON: through rest, the
// service's generated grpc-gateway handlers, when it is not nil, else from
// the descriptors alone (package rest). Methods without an HTTP rule are
// served at their default bindings either way (see route.Bindings);
// client-streaming and bidirectional methods are not served. A route that
// another method already claims is an error (ErrRouteConflict).
func (r *Routes) Register(ctx context.Context, sd protoreflect.ServiceDescriptor, conn *grpc.ClientConn, restHandler RESTHandler, opts ...RegisterOption) error {
	if conn == nil {
		return errors.New("gateway: nil connection")
	}
	reg := registration{audience: string(sd.FullName())}
	for _, o := range opts {
		o(&reg)
	}
	if reg.audience == "" {
		return errors.New("gateway: empty audience")
	}
	if err := r.claim(sd); err != nil {
		return err
	}
	r.mu.Lock()
	r.audiences[string(sd.FullName())] = reg.audience
	r.mu.Unlock()
	if restHandler != nil {
		if err := restHandler(ctx, r.mux, conn); err != nil {
			return fmt.Errorf("gateway: registering REST handlers of %s: %w", sd.FullName(), err)
		}
		if err := rest.Register(r.mux, sd, conn, rest.OnlyDefaults()); err != nil {
			return err
		}
	} else if err := rest.Register(r.mux, sd, conn); err != nil {
		return err
	}
	streams, err := route.ForService(sd)
	if errors.Is(err, route.ErrNoRoutes) {
		return nil // a unary-only service
	}
	if err != nil {
		return err
	}
	g := r.g
	for _, rt := range streams {
		mapper, err := mapping.New(rt.ResponseType().Descriptor())
		if err != nil {
			return err
		}
		retry := rt.Retry
		if retry == 0 {
			retry = g.cfg.retry
		}
		for _, tmpl := range rt.Templates {
			s := newStreamRoute(&streamRoute{g: g, routes: r, rt: rt, mapper: mapper, conn: conn, template: tmpl, retry: retry, share: g.shareOf(rt)})
			// Registered after the REST handlers, so this one wins.
			if err := r.mux.HandlePath(http.MethodGet, tmpl, s.serve); err != nil {
				return fmt.Errorf("gateway: %s: %w", rt.FullMethod, err)
			}
			g.cfg.observer.RouteAdded(tmpl)
		}
	}
	return nil
}

// claim records the bindings of sd's methods, refusing one that another
// method holds. Templates that differ only in their variables' names are
// one route to grpc-gateway's router.
func (r *Routes) claim(sd protoreflect.ServiceDescriptor) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	type claim struct{ key, method string }
	var mine []claim
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if !route.Served(md) {
			continue
		}
		full := route.FullMethod(md)
		for _, b := range route.Bindings(md) {
			key := b.Method + " " + varName.ReplaceAllString(b.Template, "{")
			if other, ok := r.claimed[key]; ok && other != full {
				return fmt.Errorf("%w: %s %s by %s and %s", ErrRouteConflict, b.Method, b.Template, other, full)
			}
			mine = append(mine, claim{key, full})
		}
	}
	for _, c := range mine {
		r.claimed[c.key] = c.method
	}
	for i := range methods.Len() {
		md := methods.Get(i)
		if limit := route.MaxBodyBytes(md); limit > 0 {
			for _, b := range route.Bindings(md) {
				r.bodyLimits[b.Method+" "+patternString(b.Template)] = limit
			}
		}
	}
	return nil
}

// varName matches the name of a path variable, "{name" in "{name=*}".
var varName = regexp.MustCompile(`\{[^=}]*`)

// shareOf is how a route's streams are shared: by the gateway's override
// for its method, else by its ssegate.v1.stream share option.
func (g *Gateway) shareOf(rt *route.Route) ssegatev1.Share {
	if mode, ok := g.cfg.shareOverrides[rt.FullMethod]; ok {
		return mode
	}
	return rt.Share
}
