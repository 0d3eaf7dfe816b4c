package openapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/route"
)

// service adds the operations of sd: one per HTTP binding, and one per SSE
// route that has no binding (an ssegate.v1.stream path).
func (g *generator) service(sd protoreflect.ServiceDescriptor) error {
	routes, err := route.ForService(sd)
	if err != nil && !errors.Is(err, route.ErrNoRoutes) {
		return fmt.Errorf("openapi: %w", err)
	}
	type key struct{ method, template string }
	streams := map[key]*route.Route{}
	for _, rt := range routes {
		for _, t := range rt.Templates {
			streams[key{rt.FullMethod, t}] = rt
		}
	}
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		full := fmt.Sprintf("/%s/%s", sd.FullName(), md.Name())
		for j, b := range route.Bindings(md) {
			var rt *route.Route
			if b.Method == http.MethodGet {
				k := key{full, b.Template}
				rt = streams[k]
				delete(streams, k)
			}
			if err := g.operation(sd, md, b, j, rt); err != nil {
				return err
			}
		}
	}
	for _, rt := range routes {
		for j, t := range rt.Templates {
			if _, ok := streams[key{rt.FullMethod, t}]; ok {
				if err := g.operation(sd, rt.Method, route.Binding{Method: http.MethodGet, Template: t}, j, rt); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// operation adds the operation of one binding of md. rt is the SSE route
// served at the same method and path, if any.
func (g *generator) operation(sd protoreflect.ServiceDescriptor, md protoreflect.MethodDescriptor, b route.Binding, index int, rt *route.Route) error {
	in, out := md.Input(), md.Output()
	path, vars, err := openAPIPath(b.Template, in)
	if err != nil {
		return fmt.Errorf("openapi: %s: %w", md.FullName(), err)
	}
	id := fmt.Sprintf("%s_%s", sd.Name(), md.Name())
	if index > 0 {
		id = fmt.Sprintf("%s_%d", id, index+1)
	}
	if g.ids[id] {
		return fmt.Errorf("openapi: operationId %s used twice", id)
	}
	g.ids[id] = true

	desc := comment(md)
	op := &operation{
		Tags:        []string{string(sd.Name())},
		Summary:     summary(desc),
		OperationID: id,
		Responses:   errorRefs(rt != nil),
		public:      g.cfg.isPublic(b.Method, b.Template),
	}

	if desc != op.Summary {
		op.Description = desc
	}

	bound := map[string]bool{}
	for _, v := range vars {
		s := g.schemas.single(v.field)
		s.Description = joinText(comment(v.field), v.note)
		op.Parameters = append(op.Parameters, &parameter{Name: v.name, In: "path", Required: true, Schema: s})
		bound[v.protoPath] = true
	}
	switch b.Body {
	case "":
		op.Parameters = append(op.Parameters, g.queryParams(in, "", "", bound, nil)...)
	case "*":
		op.RequestBody = g.wholeBody(in, bound, md.IsStreamingClient())
	default:
		fd, _, err := fieldByPath(in, b.Body)
		if err != nil {
			return fmt.Errorf("openapi: %s: body: %w", md.FullName(), err)
		}
		op.RequestBody = g.body(g.selected(fd), comment(fd), md.IsStreamingClient())
		bound[b.Body] = true
		op.Parameters = append(op.Parameters, g.queryParams(in, "", "", bound, nil)...)
	}

	result := g.schemas.message(out)
	if b.ResponseBody != "" {
		fd, _, err := fieldByPath(out, b.ResponseBody)
		if err != nil {
			return fmt.Errorf("openapi: %s: response_body: %w", md.FullName(), err)
		}
		result = g.selected(fd)
	}
	switch {
	case rt != nil:
		op.Description = joinText(op.Description, streamDescription(rt))
		op.Parameters = append(op.Parameters,
			&parameter{Ref: "#/components/parameters/" + paramLastEventIDHeader},
			&parameter{Ref: "#/components/parameters/" + paramLastEventIDQuery})
		events, err := g.events(rt)
		if err != nil {
			return err
		}
		op.Responses["200"] = &response{
			Description: "The stream. Its headers are sent at once, before the first event.",
			Content: map[string]*mediaType{
				"text/event-stream":    events,
				"application/x-ndjson": ndjson(result),
			},
		}
		op.Responses["204"] = &response{Description: "The stream has already ended (a reconnect after its `end` event): EventSource stops."}
	case md.IsStreamingServer():
		op.Responses["200"] = &response{
			Description: "The stream, as grpc-gateway's newline-delimited JSON.",
			Content:     map[string]*mediaType{"application/x-ndjson": ndjson(result)},
		}
	default:
		op.Responses["200"] = &response{
			Description: "OK.",
			Content:     map[string]*mediaType{"application/json": {Schema: result}},
		}
	}

	item := g.paths[path]
	if item == nil {
		item = &pathItem{ops: map[string]*operation{}}
		g.paths[path] = item
	}
	if prev := item.ops[b.Method]; prev != nil {
		return fmt.Errorf("openapi: %s %s is bound by both %s and %s", b.Method, b.Template, prev.OperationID, id)
	}
	item.ops[b.Method] = op
	return nil
}

// selected is the schema of a field that a rule's body or response_body
// selects: the field's value stands alone, so a message is not null.
func (g *generator) selected(fd protoreflect.FieldDescriptor) *Schema {
	if fd.IsList() || fd.IsMap() {
		return g.schemas.field(fd)
	}
	return g.schemas.single(fd)
}

// ndjson describes grpc-gateway's streaming JSON.
func ndjson(result *Schema) *mediaType {
	return &mediaType{
		Description: "For clients that do not ask for text/event-stream (curl's `*/*` included): grpc-gateway's " +
			"stream, one JSON object per line, sent with `Content-Type: application/json`. An error ends it " +
			"with an `error` line. No ids, heartbeats or resume.",
		ItemSchema: &Schema{OneOf: []*Schema{
			{Type: "object", Properties: Properties{{Name: "result", Schema: result}}, Required: []string{"result"}},
			{Type: "object", Properties: Properties{{Name: "error", Schema: &Schema{Ref: componentRef(StatusSchema)}}}, Required: []string{"error"}},
		}},
	}
}

// body is a JSON request body; a client stream is newline-delimited.
func (g *generator) body(s *Schema, description string, stream bool) *requestBody {
	if stream {
		return &requestBody{Description: description, Content: map[string]*mediaType{
			"application/x-ndjson": {ItemSchema: s},
		}}
	}
	return &requestBody{Description: description, Content: map[string]*mediaType{
		"application/json": {Schema: s},
	}}
}

// wholeBody is the body of `body: "*"`: the request message less the
// fields bound from the path.
func (g *generator) wholeBody(in protoreflect.MessageDescriptor, bound map[string]bool, stream bool) *requestBody {
	if len(bound) == 0 {
		return g.body(g.schemas.message(in), "", stream)
	}
	s := &Schema{Type: "object", Description: comment(in)}
	fields := in.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if bound[string(fd.Name())] {
			continue
		}
		fs := g.schemas.field(fd)
		fs.Description = joinText(comment(fd), fs.Description)
		s.Properties = append(s.Properties, Property{Name: fd.JSONName(), Schema: fs})
	}
	return g.body(s, "", stream)
}

// queryFields are the well-known types grpc-gateway parses from one query
// parameter.
var queryFields = []protoreflect.FullName{
	"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
	"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
	"google.protobuf.Int32Value", "google.protobuf.UInt64Value", "google.protobuf.UInt32Value",
	"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
	"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.Empty",
}

// queryParams lists the fields of md that grpc-gateway binds from the
// query string: every scalar, enum and parseable well-known type not bound
// elsewhere, with nested messages flattened to dotted names (by JSON name;
// grpc-gateway accepts the proto name too). Maps and repeated messages are
// not bound from a query.
func (g *generator) queryParams(md protoreflect.MessageDescriptor, protoPrefix, jsonPrefix string, bound map[string]bool, seen []protoreflect.FullName) []*parameter {
	var out []*parameter
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		pp, jp := protoPrefix+string(fd.Name()), jsonPrefix+fd.JSONName()
		if bound[pp] || fd.IsMap() {
			continue
		}
		if m := fd.Message(); m != nil && !slices.Contains(queryFields, m.FullName()) {
			if fd.IsList() || slices.Contains(seen, m.FullName()) || m.FullName() == md.FullName() {
				continue
			}
			out = append(out, g.queryParams(m, pp+".", jp+".", bound, append(seen, md.FullName()))...)
			continue
		}
		s := g.schemas.single(fd)
		if fd.IsList() {
			s = &Schema{Type: "array", Items: s}
		}
		s.Description = comment(fd)
		if fd.IsList() {
			s.Description = joinText(s.Description, "Repeat the parameter for each value.")
		}
		out = append(out, &parameter{Name: jp, In: "query", Schema: s})
	}
	return out
}

// pathVar is one variable of a path template.
type pathVar struct {
	name      string // the OpenAPI parameter: JSON names, dotted
	protoPath string // the field path in the template: proto names, dotted
	field     protoreflect.FieldDescriptor
	note      string // the segments it matches, when not one
}

// openAPIPath turns a google.api.http path template into an OpenAPI path:
// "/v1/{name=shelves/*}/books/{book_id}:publish" becomes
// "/v1/{name}/books/{bookId}:publish". Variables take the JSON names of
// their fields, as the rest of the document does.
func openAPIPath(tmpl string, in protoreflect.MessageDescriptor) (string, []pathVar, error) {
	var b strings.Builder
	var vars []pathVar
	for rest := tmpl; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		closing := strings.IndexByte(rest[open:], '}')
		if closing < 0 {
			return "", nil, fmt.Errorf("template %q: unclosed variable", tmpl)
		}
		b.WriteString(rest[:open])
		spec := rest[open+1 : open+closing]
		rest = rest[open+closing+1:]
		fieldPath, segments, _ := strings.Cut(spec, "=")
		fd, jsonPath, err := fieldByPath(in, fieldPath)
		if err != nil {
			return "", nil, fmt.Errorf("template %q: %w", tmpl, err)
		}
		v := pathVar{name: jsonPath, protoPath: fieldPath, field: fd}
		if segments != "" && segments != "*" {
			v.note = fmt.Sprintf("Matches `%s`.", segments)
		}
		vars = append(vars, v)
		b.WriteString("{" + jsonPath + "}")
	}
	return b.String(), vars, nil
}

// fieldByPath finds the field at a dotted path of proto names and returns
// it with its path in JSON names.
func fieldByPath(md protoreflect.MessageDescriptor, path string) (protoreflect.FieldDescriptor, string, error) {
	var fd protoreflect.FieldDescriptor
	var names []string
	for i, name := range strings.Split(path, ".") {
		if i > 0 {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return nil, "", fmt.Errorf("field path %q: %s is not a message", path, fd.Name())
			}
			md = fd.Message()
		}
		if fd = md.Fields().ByName(protoreflect.Name(name)); fd == nil {
			return nil, "", fmt.Errorf("field path %q: %s has no field %s", path, md.FullName(), name)
		}
		names = append(names, fd.JSONName())
	}
	return fd, strings.Join(names, "."), nil
}
