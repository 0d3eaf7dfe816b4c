// Package route turns protobuf service descriptors into the gateway's
// routes: the HTTP bindings of every method (its google.api.http rule, or a
// default for a method without one), and the SSE routes of the
// server-streaming methods bound to GET, each knowing how to build its
// request message from an HTTP request the way grpc-gateway does.
package route

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway/resume"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// ErrNoRoutes is returned for a service without any server-streaming method
// that can be served as SSE (every such method has a GET binding unless its
// rule names other methods only).
var ErrNoRoutes = errors.New("route: service has no server-streaming GET method")

// Route is one SSE endpoint.
type Route struct {
	// Method is the gRPC method served.
	Method protoreflect.MethodDescriptor
	// FullMethod is the method's gRPC path, "/pkg.Service/Method".
	FullMethod string
	// Templates are the HTTP path templates the method is served at, for
	// example "/v1/jobs/{id}/events" (the rule and its additional bindings).
	Templates []string
	// Retry is the method's reconnection delay from its options; zero means
	// the gateway default.
	Retry time.Duration
	// LastEventIDField is the request field that receives Last-Event-ID, or
	// nil when Last-Event-ID travels as metadata.
	LastEventIDField protoreflect.FieldDescriptor
	// Share is the method's share option: which browsers share one
	// upstream stream.
	Share ssegatev1.Share

	request  protoreflect.MessageType
	response protoreflect.MessageType
}

// ForService returns the routes of every server-streaming method of sd
// with a GET binding (see Bindings: a method without a rule has one).
func ForService(sd protoreflect.ServiceDescriptor) ([]*Route, error) {
	var routes []*Route
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if !md.IsStreamingServer() || md.IsStreamingClient() {
			continue
		}
		r, err := forMethod(md)
		if err != nil {
			return nil, fmt.Errorf("route: %s: %w", md.FullName(), err)
		}
		if r != nil {
			routes = append(routes, r)
		}
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRoutes, sd.FullName())
	}
	return routes, nil
}

func forMethod(md protoreflect.MethodDescriptor) (*Route, error) {
	opts, _ := proto.GetExtension(md.Options(), ssegatev1.E_Stream).(*ssegatev1.StreamOptions)
	var templates []string
	for _, b := range Bindings(md) {
		if b.Method == http.MethodGet {
			templates = append(templates, b.Template)
		}
	}
	if len(templates) == 0 {
		return nil, nil
	}
	r := &Route{
		Method:     md,
		FullMethod: FullMethod(md),
		Templates:  templates,
		Retry:      time.Duration(opts.GetRetryMs()) * time.Millisecond,
		Share:      opts.GetShare(),
		request:    MessageType(md.Input()),
		response:   MessageType(md.Output()),
	}
	// The request type's own descriptor: a generated type's is not the
	// one loaded at run time, and its messages take only their own fields.
	fields := r.request.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		fo, _ := proto.GetExtension(fd.Options(), ssegatev1.E_Field).(*ssegatev1.FieldOptions)
		if !fo.GetLastEventId() {
			continue
		}
		if r.LastEventIDField != nil {
			return nil, errors.New("more than one last_event_id field")
		}
		if fd.IsList() || fd.IsMap() || fd.Message() != nil {
			return nil, fmt.Errorf("last_event_id field %s must be a scalar", fd.Name())
		}
		r.LastEventIDField = fd
	}
	return r, nil
}

// MessageType prefers the generated Go type, registered when the generated
// package is linked in, and falls back to a dynamic message. Use the type's
// own descriptor (MessageType(d).Descriptor()) with the messages it makes:
// a generated type's is not d when d was loaded at run time.
func MessageType(d protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName()); err == nil {
		return mt
	}
	return dynamicpb.NewMessageType(d)
}

// ResponseType is the type of the messages the method streams: the
// generated Go type when it is linked in, else a dynamic one.
func (r *Route) ResponseType() protoreflect.MessageType { return r.response }

// NewResponse returns an empty response message.
func (r *Route) NewResponse() proto.Message { return r.response.New().Interface() }

// Request builds the request message from the path parameters and the query
// string, with grpc-gateway's own helpers so that binding is exactly the one
// of its generated handlers: path parameters first, then every query
// parameter that does not name a path-bound field. The query parameter
// lastEventId is the gateway's own and is not bound.
func (r *Route) Request(req *http.Request, pathParams map[string]string) (proto.Message, error) {
	msg := r.request.New().Interface()
	var bound [][]string
	for name, value := range pathParams {
		if err := runtime.PopulateFieldFromPath(msg, name, value); err != nil {
			return nil, fmt.Errorf("path parameter %q: %w", name, err)
		}
		bound = append(bound, strings.Split(name, "."))
	}
	query := req.URL.Query()
	query.Del(LastEventIDParam)
	if len(query) > 0 {
		filter := utilities.NewDoubleArray(bound)
		if err := runtime.PopulateQueryParameters(msg, query, filter); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// LastEventIDParam is the query parameter that carries a Last-Event-ID on a
// first connect, for clients that cannot set the header.
const LastEventIDParam = resume.Param
