package rest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/ssegate/ssegate/gateway/rest"
	"github.com/ssegate/ssegate/gateway/rest/internal/resttestpb"
)

// unlinkedLibrary is resttest.v1.Library renamed unlinked.v1.Library: the
// same methods, rules and fields, but no Go type anywhere for its messages
// and enums, so protoregistry.GlobalTypes knows none of them. edit may
// change the file before it is built.
func unlinkedLibrary(t *testing.T, edit func(*descriptorpb.FileDescriptorProto)) protoreflect.ServiceDescriptor {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(resttestpb.File_resttest_v1_library_proto)
	const from, to = "resttest.v1", "unlinked.v1"
	rename := func(s *string) {
		if s != nil && strings.HasPrefix(*s, "."+from+".") {
			*s = "." + to + strings.TrimPrefix(*s, "."+from)
		}
	}
	var renameMessage func(m *descriptorpb.DescriptorProto)
	renameMessage = func(m *descriptorpb.DescriptorProto) {
		for _, f := range m.GetField() {
			rename(f.TypeName)
		}
		for _, n := range m.GetNestedType() {
			renameMessage(n)
		}
	}
	fdp.Name = proto.String("unlinked/v1/library.proto")
	fdp.Package = proto.String(to)
	for _, m := range fdp.GetMessageType() {
		renameMessage(m)
	}
	for _, s := range fdp.GetService() {
		for _, m := range s.GetMethod() {
			rename(m.InputType)
			rename(m.OutputType)
		}
	}
	if edit != nil {
		edit(fdp)
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protoregistry.GlobalTypes.FindEnumByName("unlinked.v1.Genre"); err == nil {
		t.Fatal("unlinked.v1.Genre has a Go type")
	}
	return fd.Services().Get(0)
}

// withMethod adds a method to the Library of fdp.
func withMethod(name, input, output string, rule *annotations.HttpRule) func(*descriptorpb.FileDescriptorProto) {
	return func(fdp *descriptorpb.FileDescriptorProto) {
		opts := &descriptorpb.MethodOptions{}
		if rule != nil {
			proto.SetExtension(opts, annotations.E_Http, rule)
		}
		svc := fdp.GetService()[0]
		svc.Method = append(svc.Method, &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(input), OutputType: proto.String(output), Options: opts,
		})
	}
}

// serveDynamic serves sd's unary methods under each of names (the service's
// own full name when none) with dynamic messages: each answer echoes the
// request as the typed library backend does (echo field, x-echo and
// x-echo-md header metadata, a trailer, x-fail), and some carry content.
func serveDynamic(t *testing.T, sd protoreflect.ServiceDescriptor, names ...string) *grpc.ClientConn {
	t.Helper()
	if len(names) == 0 {
		names = []string{string(sd.FullName())}
	}
	return serve(t, func(s *grpc.Server) {
		for _, name := range names {
			desc := &grpc.ServiceDesc{ServiceName: name, HandlerType: (*any)(nil)}
			methods := sd.Methods()
			for i := range methods.Len() {
				md := methods.Get(i)
				if md.IsStreamingClient() || md.IsStreamingServer() {
					desc.Streams = append(desc.Streams, grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: true,
						Handler: func(any, grpc.ServerStream) error { return status.Error(codes.Unimplemented, "no streams") }})
					continue
				}
				desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: string(md.Name()),
					Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
						in := dynamicpb.NewMessage(md.Input())
						if err := dec(in); err != nil {
							return nil, err
						}
						return answerDynamic(ctx, md, in)
					}})
			}
			s.RegisterService(desc, struct{}{})
		}
	})
}

func answerDynamic(ctx context.Context, md protoreflect.MethodDescriptor, in *dynamicpb.Message) (proto.Message, error) {
	b, err := protojson.Marshal(in)
	if err != nil {
		return nil, err
	}
	e := compact(string(b))
	imd, _ := metadata.FromIncomingContext(ctx)
	var pairs []string
	for k, vs := range imd {
		if k != ":authority" && k != "user-agent" {
			pairs = append(pairs, k+"="+strings.Join(vs, ","))
		}
	}
	slices.Sort(pairs)
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-echo", e, "x-echo-md", strings.Join(pairs, ";"))); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "done")); err != nil {
		return nil, err
	}
	if fail := imd.Get("x-fail"); len(fail) > 0 {
		code, _ := strconv.Atoi(fail[0])
		st, err := status.New(codes.Code(code), "failed on purpose").WithDetails(&errdetails.ErrorInfo{Reason: "ON_PURPOSE", Domain: "resttest"})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	out := dynamicpb.NewMessage(md.Output())
	get := func(name string) protoreflect.Value {
		return in.Get(md.Input().Fields().ByName(protoreflect.Name(name)))
	}
	content := ""
	switch md.Name() {
	case "GetShelf":
		if !get("missing").Bool() {
			content = `{"shelf":{"name":` + strconv.Quote(get("name").String()) + `,"theme":"verse & <prose>"}}`
		}
	case "ListBooks":
		if !get("empty").Bool() {
			content = `{"books":[{"name":"b1","title":"Odes","genre":"GENRE_POETRY"},{"name":"b2","title":"Annals","genre":"GENRE_HISTORY","tags":["old"]}],
				"titles":["Odes","Annals <&>"],"total":"9007199254740993","genres":["GENRE_POETRY","GENRE_HISTORY",7],
				"counts":{"poetry":"1","big":"9007199254740993"},"topGenre":"GENRE_HISTORY","nextPageToken":"page-2"}`
		}
	case "Download":
		content = `{"contentType":"text/plain; charset=utf-8","data":"` + b64("contents of "+get("name").String()+"\n") + `"}`
	case "Preview":
		if !get("empty").Bool() {
			content = `{"body":{"contentType":"image/svg+xml","data":"` + b64(`<svg xmlns="http://www.w3.org/2000/svg"/>`) + `"}}`
		}
	}
	if content != "" {
		if err := protojson.Unmarshal([]byte(content), out); err != nil {
			return nil, err
		}
	}
	if fd := md.Output().Fields().ByName("echo"); fd != nil {
		out.Set(fd, protoreflect.ValueOfString(e))
	}
	return out, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestUnlinkedEquivalence is TestLibraryEquivalence for a Library whose
// enums and messages have no Go type at all: the generated handlers of
// resttest.v1.Library and rest.Register's of unlinked.v1.Library call one
// dynamic backend that serves both names. Answers differ in two ways only,
// both replaced before comparing: messages that name a type name it in its
// own package, and the JSONPb decoder's errors for a non-numeric enum body
// name the enum's Go type, where an enum without one is decoded into
// rest's stand-in.
func TestUnlinkedEquivalence(t *testing.T) {
	t.Parallel()
	sd := unlinkedLibrary(t, nil)
	conn := serveDynamic(t, sd, "resttest.v1.Library", "unlinked.v1.Library")
	for optName, muxOpts := range muxOptions {
		t.Run(optName, func(t *testing.T) {
			t.Parallel()
			generated := runtime.NewServeMux(muxOpts()...)
			if err := resttestpb.RegisterLibraryHandler(context.Background(), generated, conn); err != nil {
				t.Fatal(err)
			}
			descriptor := runtime.NewServeMux(muxOpts()...)
			if err := rest.Register(descriptor, sd, conn); err != nil {
				t.Fatal(err)
			}
			for _, r := range libraryRequests {
				if strings.HasPrefix(r.path, "/resttest.v1.Library/") {
					continue // the default path has the service's name
				}
				g, d := do(t, generated, r), do(t, descriptor, r)
				g.body = strings.ReplaceAll(g.body, "resttestpb.Genre", "rest.enumNumber")
				d.body = strings.ReplaceAll(d.body, "unlinked.v1.", "resttest.v1.")
				same(t, r, g, d)
			}
		})
	}
}

// withSearchMethods adds to the Library what generated code cannot have:
// Find, at the custom HTTP method SEARCH, and a map of enums in
// SearchRequest.
func withSearchMethods(fdp *descriptorpb.FileDescriptorProto) {
	withMethod("Find", ".unlinked.v1.SearchRequest", ".unlinked.v1.SearchResponse", &annotations.HttpRule{
		Pattern: &annotations.HttpRule_Custom{Custom: &annotations.CustomHttpPattern{Kind: "SEARCH", Path: "/v1/books:find"}},
		Body:    "*",
	})(fdp)
	for _, m := range fdp.GetMessageType() {
		if m.GetName() != "SearchRequest" {
			continue
		}
		m.NestedType = append(m.NestedType, &descriptorpb.DescriptorProto{
			Name:    proto.String("RanksEntry"),
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("key"), JsonName: proto.String("key"), Number: proto.Int32(1),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: proto.String("value"), JsonName: proto.String("value"), Number: proto.Int32(2),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_ENUM.Enum(), TypeName: proto.String(".unlinked.v1.Genre")},
			},
		})
		m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{
			Name: proto.String("ranks"), JsonName: proto.String("ranks"), Number: proto.Int32(20),
			Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
			TypeName: proto.String(".unlinked.v1.SearchRequest.RanksEntry"),
		})
	}
}

// TestUnlinkedBindings states what each kind of binding does, on the
// unlinked Library: the answers the equivalence tests require to be the
// generated handlers', and those of what generated code cannot have.
func TestUnlinkedBindings(t *testing.T) {
	t.Parallel()
	sd := unlinkedLibrary(t, withSearchMethods)
	conn := serveDynamic(t, sd)
	plain := &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}
	numbers := &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseEnumNumbers: true}}}
	muxes := make(map[string]*runtime.ServeMux)
	for name, m := range map[string]runtime.Marshaler{"plain": plain, "numbers": numbers} {
		muxes[name] = runtime.NewServeMux(
			runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
			runtime.WithMarshalerOption("application/octet-stream", &rawBody{runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}}),
		)
		if err := rest.Register(muxes[name], sd, conn); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		mux  string // "plain" unless set
		request
		status      int
		contentType string // application/json unless set
		body        string // compacted when JSON
		echo        string // the request the backend got, when the body does not show it
	}{
		{name: "message response_body, {name=shelves/*}", request: request{method: "GET", path: "/v1/shelves/s1"},
			status: 200, body: `{"name":"shelves/s1","theme":"verse & <prose>"}`, echo: `{"name":"shelves/s1"}`},
		{name: "unset message response_body", request: request{method: "GET", path: "/v1/shelves/s1?missing=true"},
			status: 200, body: `{}`},
		{name: "path-bound field not read from the query", request: request{method: "GET", path: "/v1/shelves/s1?name=elsewhere"},
			status: 200, body: `{"name":"shelves/s1","theme":"verse & <prose>"}`, echo: `{"name":"shelves/s1"}`},
		{name: "{name=shelves/*} matches one segment", request: request{method: "GET", path: "/v1/shelves/s1/more"},
			status: 404, body: `{"code":5,"message":"Not Found"}`},
		{name: "additional binding, whole response", request: request{method: "GET", path: "/v1/shelf/s1"},
			status: 200, body: `{"shelf":{"name":"s1","theme":"verse & <prose>"},"echo":"{\"name\":\"s1\"}"}`},
		{name: "repeated message response_body", request: request{method: "GET", path: "/v1/shelves/s1/books"},
			status: 200, body: `[{"name":"b1","title":"Odes","genre":"GENRE_POETRY"},{"name":"b2","title":"Annals","genre":"GENRE_HISTORY","tags":["old"]}]`},
		{name: "empty repeated response_body", request: request{method: "GET", path: "/v1/shelves/s1/books?empty=true"},
			status: 200, body: `null`},
		{name: "repeated scalar response_body, as encoding/json writes it", request: request{method: "GET", path: "/v1/shelves/s1/books:titles"},
			status: 200, body: `["Odes","Annals \u003c\u0026\u003e"]`},
		{name: "int64 response_body, a JSON number", request: request{method: "GET", path: "/v1/shelves/s1/books:total"},
			status: 200, body: `9007199254740993`},
		{name: "repeated enum response_body", request: request{method: "GET", path: "/v1/shelves/s1/books:genres"},
			status: 200, body: `["GENRE_POETRY","GENRE_HISTORY","7"]`},
		{name: "repeated enum response_body, UseEnumNumbers", mux: "numbers", request: request{method: "GET", path: "/v1/shelves/s1/books:genres"},
			status: 200, body: `[2,3,7]`},
		{name: "map response_body", request: request{method: "GET", path: "/v1/shelves/s1/books:counts"},
			status: 200, body: `{"big":9007199254740993,"poetry":1}`},
		{name: "enum response_body", request: request{method: "GET", path: "/v1/shelves/s1/books:top"},
			status: 200, body: `"GENRE_HISTORY"`},
		{name: "enum response_body, UseEnumNumbers", mux: "numbers", request: request{method: "GET", path: "/v1/shelves/s1/books:top"},
			status: 200, body: `3`},
		{name: "unset optional response_body", request: request{method: "GET", path: "/v1/shelves/s1/books:next?empty=true"},
			status: 200, body: `null`},
		{name: "message body field; body-bound and path-bound fields not read from the query",
			request: request{method: "POST", path: "/v1/shelves/s1/books?book.title=no&parent=no&generateId=true", body: `{"title":"Odes","genre":"GENRE_POETRY"}`},
			status:  200, body: `{"echo":"{\"parent\":\"shelves/s1\",\"book\":{\"title\":\"Odes\",\"genre\":\"GENRE_POETRY\"},\"generateId\":true}"}`},
		{name: "empty body: the body field is set, empty", request: request{method: "POST", path: "/v1/shelves/s1/books"},
			status: 200, body: `{"echo":"{\"parent\":\"shelves/s1\",\"book\":{}}"}`},
		{name: "path parameter {book.id} inside the body field wins", request: request{method: "PUT", path: "/v1/shelves/s1/books/b7", body: `{"id":"no"}`},
			status: 200, body: `{"echo":"{\"parent\":\"shelves/s1\",\"book\":{\"id\":\"b7\"}}"}`},
		{name: "custom verb, body *: the query is not read", request: request{method: "POST", path: "/v1/shelves/s1/books:import?generateId=true", body: `{"parent":"no","book":{"title":"T"}}`},
			status: 200, body: `{"echo":"{\"parent\":\"shelves/s1\",\"book\":{\"title\":\"T\"}}"}`},
		{name: "another verb", request: request{method: "POST", path: "/v1/shelves/s1/books:export", body: `{}`},
			status: 404, body: `{"code":5,"message":"Not Found"}`},
		{name: "PATCH: the FieldMask from the body", request: request{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: `{"title":"New","tags":["x"]}`},
			status: 200, body: `{"echo":"{\"book\":{\"name\":\"shelves/s1/books/b1\",\"title\":\"New\",\"tags\":[\"x\"]},\"updateMask\":\"tags,title\"}"}`},
		{name: "repeated message body field", request: request{method: "PUT", path: "/v1/notes/n1/refs", body: `[{"url":"u1"},{"url":"u2"}]`},
			status: 200, body: `{"echo":"{\"id\":\"n1\",\"refs\":[{\"url\":\"u1\"},{\"url\":\"u2\"}]}"}`},
		{name: "map of messages body field", request: request{method: "PUT", path: "/v1/notes/n1/links", body: `{"2":{"url":"v"}}`},
			status: 200, body: `{"echo":"{\"id\":\"n1\",\"links\":{\"2\":{\"url\":\"v\"}}}"}`},
		{name: "enum body field, by number", request: request{method: "PUT", path: "/v1/notes/n1/genre", body: `3`},
			status: 200, body: `{"echo":"{\"id\":\"n1\",\"genre\":\"GENRE_HISTORY\"}"}`},
		{name: "enum body field, by name: refused as the JSONPb decoder refuses it", request: request{method: "PUT", path: "/v1/notes/n1/genre", body: `"GENRE_HISTORY"`},
			status: 400, body: `{"code":3,"message":"unmarshaling of symbolic enum \"GENRE_HISTORY\" not supported: rest.enumNumber"}`},
		{name: "HttpBody response, {name=files/**} with a verb", request: request{method: "GET", path: "/v1/files/a/b/c.txt:download"},
			status: 200, contentType: "text/plain; charset=utf-8", body: "contents of files/a/b/c.txt\n"},
		{name: "HttpBody request as JSON", request: request{method: "POST", path: "/v1/files:upload", body: `{"contentType":"text/csv","data":"YSxi"}`},
			status: 200, body: `{"echo":"{\"contentType\":\"text/csv\",\"data\":\"YSxi\"}"}`},
		{name: "HttpBody request raw, through a marshaler that fills the generated type",
			request: request{method: "POST", path: "/v1/files:upload", body: "a,b", header: map[string][]string{"Content-Type": {"application/octet-stream"}}},
			status:  200, body: `{"echo":"{\"contentType\":\"application/octet-stream\",\"data\":\"YSxi\"}"}`},
		{name: "HttpBody response_body: raw, typed as the response", request: request{method: "GET", path: "/v1/previews/p1"},
			status: 200, body: `<svg xmlns="http://www.w3.org/2000/svg"/>`},
		{name: "unset HttpBody response_body", request: request{method: "GET", path: "/v1/previews/p1?empty=true"},
			status: 200, body: ``},
		{name: "enums without a Go type in the query", request: request{method: "GET", path: "/v1/search?genre=GENRE_POETRY&genres=1&genres=GENRE_HISTORY&filter.genre=3&ranks[a]=GENRE_FICTION"},
			status: 200, body: `{"echo":"{\"genre\":\"GENRE_POETRY\",\"filter\":{\"genre\":\"GENRE_HISTORY\"},\"genres\":[\"GENRE_FICTION\",\"GENRE_HISTORY\"],\"ranks\":{\"a\":\"GENRE_FICTION\"}}"}`},
		{name: "bad enum in the query", request: request{method: "GET", path: "/v1/search?genre=NOPE"},
			status: 400, body: `{"code":3,"message":"parsing field \"genre\": \"NOPE\" is not a valid value"}`},
		{name: "bad enum in a map in the query", request: request{method: "GET", path: "/v1/search?ranks[a]=9"},
			status: 400, body: `{"code":3,"message":"parsing map value \"ranks\": \"9\" is not a valid value"}`},
		{name: "enum by JSON name and proto name", request: request{method: "GET", path: "/v1/search?filter.genre=1&filter.genre=2"},
			status: 400, body: `{"code":3,"message":"too many values for field \"genre\": 1, 2"}`},
		{name: "enum path parameter", request: request{method: "GET", path: "/v1/search/GENRE_POETRY/1999/2020-01-01T00:00:00Z?genre=GENRE_FICTION"},
			status: 200, body: `{"echo":"{\"genre\":\"GENRE_POETRY\",\"year\":1999,\"since\":\"2020-01-01T00:00:00Z\"}"}`},
		{name: "bad enum path parameter", request: request{method: "GET", path: "/v1/search/NOPE/1999/2020-01-01T00:00:00Z"},
			status: 400, body: `{"code":3,"message":"type mismatch, parameter: genre, error: NOPE is not valid"}`},
		{name: "nested enum path parameter", request: request{method: "GET", path: "/v1/search/by/me/GENRE_HISTORY"},
			status: 200, body: `{"echo":"{\"filter\":{\"author\":\"me\",\"genre\":\"GENRE_HISTORY\"}}"}`},
		{name: "bad nested enum path parameter", request: request{method: "GET", path: "/v1/search/by/me/NOPE"},
			status: 400, body: `{"code":3,"message":"type mismatch, parameter: filter.genre, error: parsing field \"genre\": \"NOPE\" is not a valid value"}`},
		{name: "custom HTTP method", request: request{method: "SEARCH", path: "/v1/books:find", body: `{"query":"q","genre":"GENRE_POETRY"}`},
			status: 200, body: `{"echo":"{\"query\":\"q\",\"genre\":\"GENRE_POETRY\"}"}`},
		{name: "unbound method at POST /package.Service/Method", request: request{method: "POST", path: "/unlinked.v1.Library/Ping?text=no", body: `{"text":"hi","n":"5"}`},
			status: 200, body: `{"echo":"{\"text\":\"hi\",\"n\":\"5\"}"}`},
		{name: "unbound method, another HTTP method", request: request{method: "GET", path: "/unlinked.v1.Library/Ping"},
			status: 501, body: `{"code":12,"message":"Method Not Allowed"}`},
		{name: "server stream: not REST's", request: request{method: "GET", path: "/v1/watch/s1"},
			status: 404, body: `{"code":5,"message":"Not Found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := muxes[cmpOr(tt.mux, "plain")]
			got := do(t, mux, tt.request)
			if got.status != tt.status {
				t.Errorf("status %d, want %d", got.status, tt.status)
			}
			if ct := got.header.Get("Content-Type"); ct != cmpOr(tt.contentType, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if body := compact(got.body); body != tt.body {
				t.Errorf("body\n   %s\nwant %s", body, tt.body)
			}
			if tt.echo != "" {
				if echo := got.header.Get("Grpc-Metadata-X-Echo"); echo != tt.echo {
					t.Errorf("backend got %s, want %s", echo, tt.echo)
				}
			}
		})
	}
}

// compact removes the spaces protojson puts at random outside strings.
func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
