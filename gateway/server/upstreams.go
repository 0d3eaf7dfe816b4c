package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/openapi"
	"github.com/ssegate/ssegate/gateway/route"
	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/gateway/upstream"
)

// WithDialOptions adds options to every upstream's dial, after those cfg
// implies.
func WithDialOptions(opts ...upstream.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// WithLoadOptions adds options to the loading of every upstream's
// descriptors.
func WithLoadOptions(opts ...upstream.LoadOption) Option {
	return func(o *options) { o.loadOpts = append(o.loadOpts, opts...) }
}

// upstreams is one loaded configuration: the connections, the routes made
// from their descriptors and the document that describes them. A reload
// makes a new one and swaps it in whole.
type upstreams struct {
	list     []*conn
	routes   *gateway.Routes
	services []protoreflect.ServiceDescriptor
	public   []string // the routes of methods marked public
	doc      []byte   // nil with docs off
}

// conn is one upstream's connection and what it exposes.
type conn struct {
	cfg      upstream.Config
	conn     *grpc.ClientConn
	services []protoreflect.ServiceDescriptor
	closed   atomic.Bool // a shutdown and a close may both close it
}

// load dials each upstream (or reuses the connection of prev when its
// settings are unchanged), loads its descriptors and registers its
// services on new routes.
func (s *Server) load(ctx context.Context, cfgs []upstream.Config, prev ...*conn) (up *upstreams, err error) {
	up = &upstreams{routes: s.Gateway.NewRoutes()}
	defer func() {
		if err != nil {
			_ = up.closeExcept(prev)
		}
	}()
	dialOpts := append([]upstream.DialOption{
		upstream.WithKeepalive(s.cfg.GRPCKeepalive),
		upstream.WithMaxMessageBytes(s.cfg.GRPCMaxMessageBytes),
	}, s.opts.dialOpts...)
	servedBy := map[protoreflect.FullName]string{} // service → upstream
	for _, cfg := range cfgs {
		c := &conn{cfg: cfg}
		if old := reusable(prev, cfg); old != nil {
			c.conn = old.conn
		} else if c.conn, err = upstream.Dial(cfg, dialOpts...); err != nil {
			return nil, err
		}
		up.list = append(up.list, c)
		desc, err := upstream.Load(ctx, cfg, c.conn, s.opts.loadOpts...)
		if err != nil {
			return nil, err
		}
		c.services = desc.Services
		for _, sd := range desc.Services {
			// Routes would take the second registration of a method as
			// the same method and let it win: refuse it, naming both.
			if other, ok := servedBy[sd.FullName()]; ok {
				return nil, fmt.Errorf("upstream %q: %s: upstream %q serves it too (narrow one with services)", cfg.Name, sd.FullName(), other)
			}
			servedBy[sd.FullName()] = cfg.Name
			s.logSkipped(cfg.Name, sd)
			if err := up.routes.Register(ctx, sd, c.conn, nil, gateway.Audience(cfg.Name)); err != nil {
				return nil, fmt.Errorf("upstream %q: %s: %w", cfg.Name, sd.FullName(), err)
			}
			up.services = append(up.services, sd)
			up.public = append(up.public, route.PublicRoutes(sd)...)
		}
	}
	if s.cfg.Docs {
		if up.doc, err = s.document(up); err != nil {
			return nil, err
		}
	}
	return up, nil
}

// reusable returns the connection in prev dialled with exactly cfg.
func reusable(prev []*conn, cfg upstream.Config) *conn {
	for _, c := range prev {
		if reflect.DeepEqual(c.cfg, cfg) {
			return c
		}
	}
	return nil
}

// logSkipped names the methods of sd that the gateway does not serve.
func (s *Server) logSkipped(name string, sd protoreflect.ServiceDescriptor) {
	methods := sd.Methods()
	for i := range methods.Len() {
		if md := methods.Get(i); !route.Served(md) {
			s.logger.Info("skipping a client-streaming or bidirectional method: REST and SSE cannot carry it",
				"upstream", name, "method", route.FullMethod(md))
		}
	}
}

// publicRoutes are the routes served without a session: the gateway's own
// (docs, health), those of methods marked public, and those configured.
func (s *Server) publicRoutes(up *upstreams) []string {
	return slices.Concat(session.DefaultPublicRoutes(), up.public, s.cfg.PublicRoutes, s.opts.public)
}

// document is the OpenAPI document of up's routes.
func (s *Server) document(up *upstreams) ([]byte, error) {
	opts := []openapi.Option{openapi.WithCookieName(s.cfg.CookieName()), openapi.WithPublicRoutes(s.publicRoutes(up)...)}
	if s.sessions == nil {
		opts = append(opts, openapi.WithoutSessions())
	}
	return openapi.Generate(up.services, opts...)
}

// closeExcept closes up's connections but those that keep (a reload's
// other side) also uses.
func (up *upstreams) closeExcept(keep []*conn) error {
	if up == nil {
		return nil
	}
	var errs []error
	for _, c := range up.list {
		if c.conn != nil && !slices.ContainsFunc(keep, func(k *conn) bool { return k.conn == c.conn }) && !c.closed.Swap(true) {
			errs = append(errs, c.conn.Close())
		}
	}
	return errors.Join(errs...)
}

// closeWhenIdle closes the connections of up that next does not use, once
// no stream is open on up's routes any more or at the latest after wait:
// streams that a reload left on the old routes finish on their own
// connections.
func (up *upstreams) closeWhenIdle(next *upstreams, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for up.routes.OpenStreams() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	_ = up.closeExcept(next.list)
}
