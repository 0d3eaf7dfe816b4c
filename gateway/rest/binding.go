package rest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/route"
)

// handler serves one binding of one method.
type handler struct {
	mux        *runtime.ServeMux
	conn       grpc.ClientConnInterface
	method     string // HTTP
	template   string
	fullMethod string
	request    protoreflect.MessageType
	response   protoreflect.MessageType
	body       *body // nil: the body is not read
	params     []param
	// query filters out the path- and body-bound fields; nil when no field
	// is left for the query string, which is then not read at all.
	query *utilities.DoubleArray
	// responseField is the response_body field; nil sends the response.
	responseField protoreflect.FieldDescriptor
}

// body is how the request body binds: to the whole request (path nil) or
// to the field at path.
type body struct {
	path []protoreflect.FieldDescriptor
	// mask is the request's FieldMask field that a PATCH body fills with
	// the paths it sets when the client sends none (grpc-gateway's
	// allow_patch_feature, on by default); nil otherwise.
	mask protoreflect.FieldDescriptor
}

const (
	httpBodyName  = "google.api.HttpBody"
	fieldMaskName = "google.protobuf.FieldMask"
)

// messageType is types(d), but the generated HttpBody for google.api.HttpBody:
// the runtime's HTTPBodyMarshaler, and raw-body marshalers users register,
// recognise only that Go type.
func messageType(types TypeFunc, d protoreflect.MessageDescriptor) protoreflect.MessageType {
	if d.FullName() == httpBodyName {
		return (&httpbody.HttpBody{}).ProtoReflect().Type()
	}
	return types(d)
}

// newHandler compiles binding b of md, checking it as protoc-gen-grpc-gateway
// checks a rule before it generates a handler.
func newHandler(mux *runtime.ServeMux, conn grpc.ClientConnInterface, md protoreflect.MethodDescriptor, b route.Binding, types TypeFunc) (*handler, error) {
	if err := checkTemplate(b.Method, b.Template); err != nil {
		return nil, err
	}
	if b.Method == http.MethodGet && b.Body != "" {
		return nil, errors.New("a GET rule must not have a body")
	}
	h := &handler{
		mux:        mux,
		conn:       conn,
		method:     b.Method,
		template:   b.Template,
		fullMethod: route.FullMethod(md),
		request:    messageType(types, md.Input()),
		response:   messageType(types, md.Output()),
	}
	// Field paths resolve in the descriptors of the types messages are made
	// with, which are not md's when a generated type stands for them.
	in, out := h.request.Descriptor(), h.response.Descriptor()
	var bound [][]string // the filter's sequences, in the generator's order
	switch b.Body {
	case "":
	case "*":
		h.body = &body{}
	default:
		path, err := fieldPath(in, b.Body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		h.body = &body{path: path}
		if b.Method == http.MethodPatch {
			h.body.mask = patchMask(in, path)
		}
		bound = append(bound, strings.Split(b.Body, "."))
	}
	names := templateFields(b.Template)
	for _, name := range names {
		p, err := newParam(in, name)
		if err != nil {
			return nil, fmt.Errorf("path parameter %s: %w", name, err)
		}
		h.params = append(h.params, p)
		bound = append(bound, strings.Split(name, "."))
	}
	if hasQuery(in, b.Body, names) {
		h.query = utilities.NewDoubleArray(bound)
	}
	switch b.ResponseBody {
	case "", "*":
	default:
		fd := out.Fields().ByName(protoreflect.Name(b.ResponseBody))
		if fd == nil {
			// The rule's syntax allows only a top-level field here.
			return nil, fmt.Errorf("response_body: no field %q in %s", b.ResponseBody, out.FullName())
		}
		h.responseField = fd
	}
	return h, nil
}

// fieldPath resolves a dotted path of proto field names from md, through
// singular message fields.
func fieldPath(md protoreflect.MessageDescriptor, path string) ([]protoreflect.FieldDescriptor, error) {
	var out []protoreflect.FieldDescriptor
	for i, name := range strings.Split(path, ".") {
		if i > 0 {
			prev := out[i-1]
			if prev.Message() == nil || prev.IsList() || prev.IsMap() {
				return nil, fmt.Errorf("%s in %q is not a message", prev.Name(), path)
			}
			md = prev.Message()
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("no field %q in %s", name, md.FullName())
		}
		out = append(out, fd)
	}
	return out, nil
}

// templateFields returns the field paths of a template's variables, in
// order: "/v1/{parent=shelves/*}/books/{book.id}" has parent and book.id.
// The template has been parsed already; this only finds the names.
func templateFields(template string) []string {
	var out []string
	for {
		i := strings.IndexByte(template, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(template[i:], '}')
		if j < 0 {
			return out
		}
		v := template[i+1 : i+j]
		if k := strings.IndexByte(v, '='); k >= 0 {
			v = v[:k]
		}
		out = append(out, v)
		template = template[i+j+1:]
	}
}

// hasQuery is the generator's HasQueryParam: whether any top-level field
// is left once the body field and the path parameters' own names are taken
// out. A nested path parameter ("thing.id") takes no top-level field out.
func hasQuery(md protoreflect.MessageDescriptor, bodyPath string, params []string) bool {
	if bodyPath == "*" {
		return false
	}
	left := make(map[string]bool)
	fields := md.Fields()
	for i := range fields.Len() {
		left[string(fields.Get(i).Name())] = true
	}
	delete(left, bodyPath)
	for _, p := range params {
		delete(left, p)
	}
	return len(left) > 0
}

// patchMask returns the request's one top-level FieldMask field when the
// body is a message field, or nil: the generator fills the mask only when
// the request has exactly one.
func patchMask(md protoreflect.MessageDescriptor, bodyPath []protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
	last := bodyPath[len(bodyPath)-1]
	if last.Message() == nil || last.IsList() || last.IsMap() {
		return nil
	}
	var mask protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() == nil || fd.Message().FullName() != fieldMaskName {
			continue
		}
		if mask != nil {
			return nil
		}
		mask = fd
	}
	if mask != nil && mask.IsList() {
		return nil
	}
	return mask
}
