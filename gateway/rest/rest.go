// Package rest serves the unary methods of a gRPC service as REST/JSON from
// the service's protobuf descriptors alone, at run time, through
// grpc-gateway's runtime.
//
// Every binding of a unary method (route.Bindings: its google.api.http
// rule, the rule's additional bindings, or POST /{package.Service}/{Method}
// for a method without a rule) becomes one handler on a runtime.ServeMux.
// The handler takes the steps of the one protoc-gen-grpc-gateway generates
// for that binding, in the same order and with grpc-gateway's own helpers:
// the body (body "*" or body "field", a PATCH body's FieldMask), the path
// parameters, the query parameters not bound by either, the call with its
// header and trailer metadata, then runtime.ForwardResponseMessage with the
// response or its response_body field, or runtime.HTTPError. So a client
// gets the same statuses, headers, JSON and error bodies as from generated
// handlers, and no generated code is needed.
//
// Where generated handlers go through Go struct fields, these go through
// protoreflect, so messages may be dynamic (see WithTypes). A body field or
// response_body that is not a single message reaches the marshaler as a
// value grpc-gateway's JSONPb marshaler, the default, treats as it treats
// the generated field; other marshalers may tell them apart. Two things
// differ by necessity for enums without a linked Go type: the runtime's
// query parser refuses those, so this package sets them itself with the
// runtime's rules and errors; and the JSONPb decoder's errors for a
// non-numeric enum body name a stand-in Go type.
package rest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/route"
)

// ErrBinding is wrapped by the errors Register returns for a binding that
// cannot be served.
var ErrBinding = errors.New("rest: bad binding")

// Register adds to mux a handler for every binding of every unary method of
// sd, calling the method over conn. Streaming methods are left out (the
// gateway serves server streams as SSE), and so are methods marked internal.
// Nothing is registered when any binding is bad: an unparsable template, a
// field path that names no field, a message-typed path parameter, a GET
// rule with a body, or the same HTTP method and template twice.
//
// grpc-gateway's mux gives a request to the matching handler registered
// last, so register these after generated handlers only for bindings those
// do not serve (see OnlyDefaults).
func Register(mux *runtime.ServeMux, sd protoreflect.ServiceDescriptor, conn grpc.ClientConnInterface, opts ...Option) error {
	if mux == nil || sd == nil || conn == nil {
		return errors.New("rest: nil mux, service or connection")
	}
	o := options{types: DefaultTypes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.types == nil {
		return errors.New("rest: nil TypeFunc")
	}
	var handlers []*handler
	seen := make(map[string]bool)
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if md.IsStreamingClient() || md.IsStreamingServer() {
			continue
		}
		for _, b := range route.Bindings(md) {
			if o.onlyDefaults && !b.Default {
				continue
			}
			key := b.Method + " " + b.Template
			if seen[key] {
				return fmt.Errorf("%w: %s: %s is bound twice", ErrBinding, md.FullName(), key)
			}
			seen[key] = true
			h, err := newHandler(mux, conn, md, b, o.types)
			if err != nil {
				return fmt.Errorf("%w: %s: %s: %w", ErrBinding, md.FullName(), key, err)
			}
			handlers = append(handlers, h)
		}
	}
	// In the generated order, so that the same binding wins where two match.
	for _, h := range handlers {
		if err := mux.HandlePath(h.method, h.template, h.serve); err != nil {
			return fmt.Errorf("%w: %s %s: %w", ErrBinding, h.method, h.template, err) // parsed once already
		}
	}
	return nil
}

// checkTemplate parses a template the way mux.HandlePath will, on a mux of
// its own, so that a bad one fails Register before anything is registered.
func checkTemplate(method, template string) error {
	return runtime.NewServeMux().HandlePath(method, template, func(http.ResponseWriter, *http.Request, map[string]string) {})
}
