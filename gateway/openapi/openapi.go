// Package openapi generates the OpenAPI 3.2 document of what the gateway
// serves, from the same protobuf descriptors it routes from: the REST
// operations of the google.api.http rules, as grpc-gateway serves them,
// and the SSE streams of package route, each with an itemSchema that
// describes every event it sends (mapping.Mapper's rules), including the
// gateway's own end, error and reconnect events.
//
// Schemas follow protojson, as both the REST and the event data do:
// lowerCamelCase names, 64-bit integers as strings, enums by name,
// Timestamp as an RFC 3339 string. Comments in the .proto files become
// descriptions when the descriptors carry source info (a descriptor set
// from `buf build`); descriptors compiled into Go code have none.
package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/gateway/session"
)

// Version is the OpenAPI version of the documents Generate writes.
const Version = "3.2.0"

// Names in components that the generator defines itself.
const (
	// ErrorSchema is the gateway's JSON error body (package httperr).
	ErrorSchema = "ssegate.Error"
	// StatusSchema is google.rpc.Status, as grpc-gateway's NDJSON streams
	// send an error.
	StatusSchema = "google.rpc.Status"
	// SessionScheme is the name of the cookie security scheme.
	SessionScheme = "session"
)

// Option configures Generate.
type Option func(*config)

type config struct {
	title, version, description string
	cookie                      string
	public                      []string
	noSessions                  bool
}

// WithInfo sets the document's title, version and description (Markdown).
// Defaults: "ssegate", "v1" and a description of the conventions.
func WithInfo(title, version, description string) Option {
	return func(c *config) { c.title, c.version, c.description = title, version, description }
}

// WithCookieName sets the session cookie's name (default
// session.DefaultCookieName).
func WithCookieName(name string) Option { return func(c *config) { c.cookie = name } }

// WithPublicRoutes lists the routes served without a session, in the form
// of session.WithPublicRoutes: "METHOD /path", "/path" for any method, and a
// trailing "/*" for everything below. Their operations get `security: []`.
// Default: session.DefaultPublicRoutes().
func WithPublicRoutes(routes ...string) Option {
	return func(c *config) { c.public = append([]string(nil), routes...) }
}

// WithoutSessions documents a gateway that serves every route without a
// session (ssegate -auth none): no security scheme at all.
func WithoutSessions() Option { return func(c *config) { c.noSessions = true } }

// Generate returns the OpenAPI 3.2 document, as indented JSON, of the REST
// and SSE routes of services. The output depends only on the descriptors
// and options, so it can be committed and checked.
func Generate(services []protoreflect.ServiceDescriptor, opts ...Option) ([]byte, error) {
	cfg := config{title: "ssegate", version: "v1", description: defaultDescription,
		cookie: session.DefaultCookieName, public: session.DefaultPublicRoutes()}
	for _, o := range opts {
		o(&cfg)
	}
	if len(services) == 0 {
		return nil, errors.New("openapi: no services")
	}
	g := &generator{cfg: cfg, schemas: &schemas{defs: map[string]*Schema{}}, paths: map[string]*pathItem{}, ids: map[string]bool{}}
	doc := &document{
		OpenAPI:  Version,
		Info:     info{Title: cfg.title, Version: cfg.version, Description: cfg.description},
		Security: []securityRequirement{{SessionScheme: {}}},
		Paths:    g.paths,
	}
	for _, sd := range services {
		doc.Tags = append(doc.Tags, tag{Name: string(sd.Name()), Description: comment(sd)})
		if err := g.service(sd); err != nil {
			return nil, err
		}
	}
	g.schemas.defs[ErrorSchema] = errorSchema()
	g.schemas.defs[StatusSchema] = statusSchema()
	doc.Components = components{
		Schemas:   g.schemas.defs,
		Responses: errorResponses(),
		Parameters: map[string]*parameter{
			paramLastEventIDHeader: {Name: resume.Header, In: "header", Schema: lastEventIDSchema(),
				Description: "The id of the last event the client received: the stream resumes after it. " +
					"EventSource sends it by itself when it reconnects."},
			paramLastEventIDQuery: {Name: resume.Param, In: "query", Schema: lastEventIDSchema(),
				Description: "Like the Last-Event-ID header, for a first connect from a client that cannot set headers " +
					"(EventSource). The header wins when both are sent."},
		},
		SecuritySchemes: map[string]*securityScheme{
			SessionScheme: {Type: "apiKey", In: "cookie", Name: cfg.cookie,
				Description: "The session: an HttpOnly cookie holding a signed token, set by signing in and cleared by " +
					"signing out. Browsers send it by themselves, EventSource included (with credentials for a " +
					"listed cross origin). A request from a foreign Origin is refused with 403."},
		},
	}
	if cfg.noSessions {
		doc.Security, doc.Components.SecuritySchemes = nil, nil
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return append(b, '\n'), nil
}

const defaultDescription = `REST and Server-Sent Events API of ssegate.

Unary methods are REST/JSON (grpc-gateway). JSON follows protojson: field names in lowerCamelCase, 64-bit integers as strings, enums by name, timestamps as RFC 3339 strings. Responses carry every field, zero values included, and ` + "`null`" + ` for an unset message; requests may leave any field out.

Server-streaming methods are Server-Sent Events for clients that send ` + "`Accept: text/event-stream`" + ` (EventSource does), and grpc-gateway's newline-delimited JSON for other clients, at the same URL. Each event's name, id and data are described by the itemSchema of the ` + "`text/event-stream`" + ` response. A stream that ends cleanly sends a final ` + "`end`" + ` event and a reconnect to it gets 204; a permanent error after the stream started is a final ` + "`error`" + ` event; a transient failure closes the stream without a final event, so EventSource reconnects with Last-Event-ID and the stream resumes after the last event received.

Errors are JSON: ` + "`{\"code\": \"NOT_FOUND\", \"message\": \"job not found\"}`" + `, with the HTTP status of the gRPC code.`

// generator accumulates paths and schemas.
type generator struct {
	cfg     config
	schemas *schemas
	paths   map[string]*pathItem
	ids     map[string]bool
}

// Document model: only what the generator writes, in the order OpenAPI
// lists it.

type document struct {
	OpenAPI    string                `json:"openapi"`
	Info       info                  `json:"info"`
	Security   []securityRequirement `json:"security,omitempty"`
	Tags       []tag                 `json:"tags"`
	Paths      map[string]*pathItem  `json:"paths"`
	Components components            `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

type securityRequirement map[string][]string

type components struct {
	Schemas         map[string]*Schema         `json:"schemas"`
	Responses       map[string]*response       `json:"responses"`
	Parameters      map[string]*parameter      `json:"parameters"`
	SecuritySchemes map[string]*securityScheme `json:"securitySchemes,omitempty"`
}

type securityScheme struct {
	Type        string `json:"type"`
	In          string `json:"in"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// pathItem holds the operations of one path by HTTP method.
type pathItem struct {
	ops map[string]*operation
}

// standardMethods have fields of their own in a Path Item; others go under
// additionalOperations (new in OpenAPI 3.2).
var standardMethods = map[string]bool{
	http.MethodGet: true, http.MethodPut: true, http.MethodPost: true, http.MethodDelete: true,
	http.MethodOptions: true, http.MethodHead: true, http.MethodPatch: true, http.MethodTrace: true,
	"QUERY": true,
}

// MarshalJSON writes the Path Item Object.
func (p *pathItem) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	extra := map[string]*operation{}
	for m, op := range p.ops {
		if standardMethods[m] {
			out[strings.ToLower(m)] = op
		} else {
			extra[m] = op
		}
	}
	if len(extra) > 0 {
		out["additionalOperations"] = extra
	}
	return json.Marshal(out)
}

type operation struct {
	Tags        []string              `json:"tags"`
	Summary     string                `json:"summary,omitempty"`
	Description string                `json:"description,omitempty"`
	OperationID string                `json:"operationId"`
	Parameters  []*parameter          `json:"parameters,omitempty"`
	RequestBody *requestBody          `json:"requestBody,omitempty"`
	Responses   map[string]*response  `json:"responses"`
	Security    []securityRequirement `json:"security,omitempty"`
	// public writes `security: []`, which omitempty cannot.
	public bool
}

// MarshalJSON writes security: [] for a public operation.
func (o *operation) MarshalJSON() ([]byte, error) {
	type plain operation
	if !o.public {
		return json.Marshal((*plain)(o))
	}
	return json.Marshal(struct {
		*plain
		Security []securityRequirement `json:"security"`
	}{(*plain)(o), []securityRequirement{}})
}

type parameter struct {
	Ref         string  `json:"$ref,omitempty"`
	Name        string  `json:"name,omitempty"`
	In          string  `json:"in,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
}

type requestBody struct {
	Description string                `json:"description,omitempty"`
	Content     map[string]*mediaType `json:"content"`
	Required    bool                  `json:"required,omitempty"`
}

type response struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Headers     map[string]*header    `json:"headers,omitempty"`
	Content     map[string]*mediaType `json:"content,omitempty"`
}

type header struct {
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema"`
}

type mediaType struct {
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
	ItemSchema  *Schema `json:"itemSchema,omitempty"`
}

// errorSchema is httperr.Body.
func errorSchema() *Schema {
	var names []string
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		names = append(names, httperr.CodeName(c))
	}
	return &Schema{
		Type:        "object",
		Description: "The gateway's error body, whatever the error's origin: routing, auth, a cap or a backend.",
		Properties: Properties{
			{Name: "code", Schema: &Schema{Type: "string", Enum: names, Description: "The gRPC code's name."}},
			{Name: "message", Schema: &Schema{Type: "string", Description: "A message for people; never anything internal."}},
		},
		Required: []string{"code", "message"},
	}
}

// statusSchema is google.rpc.Status as protojson writes it.
func statusSchema() *Schema {
	return &Schema{
		Type:        "object",
		Description: "A gRPC status, as grpc-gateway's newline-delimited JSON streams send an error.",
		Properties: Properties{
			{Name: "code", Schema: &Schema{Type: "integer", Format: "int32", Description: "The gRPC code's number."}},
			{Name: "message", Schema: &Schema{Type: "string"}},
			{Name: "details", Schema: &Schema{Type: "array", Items: &Schema{Type: "object"}}},
		},
	}
}

// Names of the shared error responses in components.responses.
const (
	respBadRequest      = "BadRequest"
	respUnauthenticated = "Unauthenticated"
	respForbidden       = "PermissionDenied"
	respNotFound        = "NotFound"
	respTooMany         = "TooManyStreams"
	respInternal        = "Internal"
	respUnavailable     = "Unavailable"
	respDefault         = "Error"
)

func errorResponses() map[string]*response {
	body := func(description string) *response {
		return &response{Description: description, Content: map[string]*mediaType{
			"application/json": {Schema: &Schema{Ref: componentRef(ErrorSchema)}},
		}}
	}
	retryAfter := &header{Description: "Seconds to wait before trying again.", Schema: &Schema{Type: "integer", Minimum: ptr[int64](1)}}
	tooMany := body("RESOURCE_EXHAUSTED: too many open streams for this user or address, for clients that do not accept " +
		"text/event-stream (an SSE client gets a `reconnect` event instead); try again after Retry-After.")
	tooMany.Headers = map[string]*header{"Retry-After": retryAfter}
	unavailable := body("UNAVAILABLE: a backend is down, or the gateway is draining or at its stream cap (then with " +
		"Retry-After, and for SSE clients a `reconnect` event instead).")
	unavailable.Headers = map[string]*header{"Retry-After": retryAfter}
	return map[string]*response{
		respBadRequest:      body("INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE: a parameter, the body or Last-Event-ID does not parse or is refused."),
		respUnauthenticated: body("UNAUTHENTICATED: no session, or it expired; sign in again."),
		respForbidden:       body("PERMISSION_DENIED: the Origin is not allowed, or the user may not do this."),
		respNotFound:        body("NOT_FOUND: no such route, or no such resource for this user."),
		respTooMany:         tooMany,
		respInternal:        body("INTERNAL, UNKNOWN or DATA_LOSS: a fault on the server; the message says nothing more."),
		respUnavailable:     unavailable,
		respDefault:         body("Any other error, with the HTTP status of its gRPC code."),
	}
}

// errorRefs are the error responses every operation lists.
func errorRefs(stream bool) map[string]*response {
	ref := func(name string) *response { return &response{Ref: "#/components/responses/" + name} }
	m := map[string]*response{
		"400":     ref(respBadRequest),
		"401":     ref(respUnauthenticated),
		"403":     ref(respForbidden),
		"404":     ref(respNotFound),
		"500":     ref(respInternal),
		"503":     ref(respUnavailable),
		"default": ref(respDefault),
	}
	if stream {
		m["429"] = ref(respTooMany)
	}
	return m
}

// isPublic reports whether the route method+path is one of the public
// routes, matched as the auth middleware matches them.
func (c *config) isPublic(method, path string) bool {
	for _, r := range c.public {
		m, p, ok := strings.Cut(r, " ")
		if !ok {
			m, p = "", r
		}
		if m != "" && m != method && !(m == http.MethodGet && method == http.MethodHead) {
			continue
		}
		if p == path || strings.HasSuffix(p, "/*") && strings.HasPrefix(path, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// Names of the shared parameters in components.parameters.
const (
	paramLastEventIDHeader = "LastEventIDHeader"
	paramLastEventIDQuery  = "LastEventIDQuery"
)

// lastEventIDSchema is what package resume accepts: printable ASCII, at
// most resume.MaxLength bytes.
func lastEventIDSchema() *Schema {
	return &Schema{Type: "string", MaxLength: ptr(resume.MaxLength), Pattern: `^[\x20-\x7e]*$`}
}
