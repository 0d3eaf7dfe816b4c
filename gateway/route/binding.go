package route

import (
	"fmt"
	"net/http"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Binding is one way a method is reached over HTTP: its google.api.http
// rule, one of the rule's additional bindings, or the default of a method
// without a rule.
type Binding struct {
	// Method is the HTTP method: GET, POST, … or a custom rule's kind.
	Method string
	// Template is the path template, e.g. "/v1/jobs/{id}:cancel".
	Template string
	// Body is the rule's body: "" (none), "*" (the whole request less the
	// path parameters) or a field name.
	Body string
	// ResponseBody names the response field sent as the body; "" sends the
	// whole response.
	ResponseBody string
	// Default is true for the binding of a method without a rule (see
	// Bindings).
	Default bool
}

// Bindings returns the bindings of md, in the order of its rule and then
// its additional bindings. A method without a rule gets a default binding,
// as grpc-gateway's generate_unbound_methods gives it: a unary method is
// POST /{package.Service}/{Method} with the request message as the body,
// and a server-streaming method is GET at its ssegate.v1.stream path, or
// at /{package.Service}/{Method}, with the request fields from the query
// string. Client-streaming and bidirectional methods have no binding
// without a rule, nor has a method marked internal (ssegate.v1.route);
// Served tells which methods the gateway serves at all.
func Bindings(md protoreflect.MethodDescriptor) []Binding {
	if options(md).GetInternal() {
		return nil
	}
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return defaultBinding(md)
	}
	var out []Binding
	for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		b := Binding{Body: r.GetBody(), ResponseBody: r.GetResponseBody()}
		switch p := r.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			b.Method, b.Template = http.MethodGet, p.Get
		case *annotations.HttpRule_Put:
			b.Method, b.Template = http.MethodPut, p.Put
		case *annotations.HttpRule_Post:
			b.Method, b.Template = http.MethodPost, p.Post
		case *annotations.HttpRule_Delete:
			b.Method, b.Template = http.MethodDelete, p.Delete
		case *annotations.HttpRule_Patch:
			b.Method, b.Template = http.MethodPatch, p.Patch
		case *annotations.HttpRule_Custom:
			b.Method, b.Template = p.Custom.GetKind(), p.Custom.GetPath()
		}
		if b.Method != "" && b.Template != "" {
			out = append(out, b)
		}
	}
	return out
}

func defaultBinding(md protoreflect.MethodDescriptor) []Binding {
	path := FullMethod(md)
	switch {
	case md.IsStreamingClient():
		return nil
	case md.IsStreamingServer():
		opts, _ := proto.GetExtension(md.Options(), ssegatev1.E_Stream).(*ssegatev1.StreamOptions)
		if p := opts.GetPath(); p != "" {
			path = p
		}
		return []Binding{{Method: http.MethodGet, Template: path, Default: true}}
	}
	return []Binding{{Method: http.MethodPost, Template: path, Body: "*", Default: true}}
}

// FullMethod is md's gRPC method name, "/package.Service/Method".
func FullMethod(md protoreflect.MethodDescriptor) string {
	return fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name())
}

// Served reports whether the gateway serves md: unary and server-streaming
// methods are; client-streaming and bidirectional ones, which neither
// REST/JSON nor SSE can carry, are not.
func Served(md protoreflect.MethodDescriptor) bool { return !md.IsStreamingClient() }

// Public reports whether md is marked public (ssegate.v1.route): served
// without a session.
func Public(md protoreflect.MethodDescriptor) bool { return options(md).GetPublic() }

// MaxBodyBytes is md's own limit on request bodies (ssegate.v1.route
// max_body_bytes), or 0 for the gateway's.
func MaxBodyBytes(md protoreflect.MethodDescriptor) int64 {
	return int64(options(md).GetMaxBodyBytes())
}

func options(md protoreflect.MethodDescriptor) *ssegatev1.RouteOptions {
	o, _ := proto.GetExtension(md.Options(), ssegatev1.E_Route).(*ssegatev1.RouteOptions)
	return o
}

// PublicRoutes lists the bindings of sd's methods marked public, as
// "METHOD /template": the form the session middleware and the OpenAPI
// generator read.
func PublicRoutes(sd protoreflect.ServiceDescriptor) []string {
	var out []string
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if !Served(md) || !Public(md) {
			continue
		}
		for _, b := range Bindings(md) {
			out = append(out, b.Method+" "+b.Template)
		}
	}
	return out
}
