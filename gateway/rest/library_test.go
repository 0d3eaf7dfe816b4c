package rest_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ssegate/ssegate/gateway/rest"
	"github.com/ssegate/ssegate/gateway/rest/internal/resttestpb"
)

// library is the test backend: it answers with what it received, the
// request as JSON in the response (echo) and in header metadata (x-echo),
// with the metadata the gateway forwarded (x-echo-md), and a trailer.
// Incoming metadata x-fail makes it fail with that code and an ErrorInfo.
type library struct {
	resttestpb.UnimplementedLibraryServer
}

func echo(ctx context.Context, req proto.Message) (string, error) {
	b, err := protojson.Marshal(req)
	if err != nil {
		return "", err
	}
	e := compact(string(b))
	md, _ := metadata.FromIncomingContext(ctx)
	var pairs []string
	for k, vs := range md {
		if k != ":authority" && k != "user-agent" {
			pairs = append(pairs, k+"="+strings.Join(vs, ","))
		}
	}
	slices.Sort(pairs)
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-echo", e, "x-echo-md", strings.Join(pairs, ";"))); err != nil {
		return "", err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "done")); err != nil {
		return "", err
	}
	if fail := md.Get("x-fail"); len(fail) > 0 {
		code, _ := strconv.Atoi(fail[0])
		st, err := status.New(codes.Code(code), "failed on purpose").WithDetails(&errdetails.ErrorInfo{Reason: "ON_PURPOSE", Domain: "resttest"})
		if err != nil {
			return "", err
		}
		return "", st.Err()
	}
	return e, nil
}

func (library) GetShelf(ctx context.Context, req *resttestpb.GetShelfRequest) (*resttestpb.GetShelfResponse, error) {
	e, err := echo(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &resttestpb.GetShelfResponse{Echo: e}
	if !req.GetMissing() {
		resp.Shelf = &resttestpb.Shelf{Name: req.GetName(), Theme: "verse & <prose>"}
	}
	return resp, nil
}

func (library) CreateBook(ctx context.Context, req *resttestpb.CreateBookRequest) (*resttestpb.Book, error) {
	e, err := echo(ctx, req)
	if err != nil {
		return nil, err
	}
	book := proto.CloneOf(req.GetBook())
	if book == nil {
		book = &resttestpb.Book{}
	}
	if req.GetGenerateId() {
		book.Id = "generated"
	}
	book.Name, book.Echo = req.GetParent()+"/books/"+book.GetId(), e
	return book, nil
}

func (library) ListBooks(ctx context.Context, req *resttestpb.ListBooksRequest) (*resttestpb.ListBooksResponse, error) {
	if _, err := echo(ctx, req); err != nil {
		return nil, err
	}
	if req.GetEmpty() {
		return &resttestpb.ListBooksResponse{}, nil
	}
	next := "page-2"
	return &resttestpb.ListBooksResponse{
		Books: []*resttestpb.Book{
			{Name: req.GetParent() + "/books/1", Title: "Odes", Genre: resttestpb.Genre_GENRE_POETRY},
			{Name: req.GetParent() + "/books/2", Title: "Annals", Genre: resttestpb.Genre_GENRE_HISTORY, Tags: []string{"old"}},
		},
		Titles:        []string{"Odes", "Annals <&>"},
		Total:         9007199254740993, // over 2^53: a JSON number loses it, a protojson string keeps it
		Genres:        []resttestpb.Genre{resttestpb.Genre_GENRE_POETRY, resttestpb.Genre_GENRE_HISTORY, 7},
		Counts:        map[string]int64{"poetry": 1, "history": 1, "big": 9007199254740993},
		TopGenre:      resttestpb.Genre_GENRE_HISTORY,
		NextPageToken: &next,
	}, nil
}

func (library) DeleteBook(ctx context.Context, req *resttestpb.DeleteBookRequest) (*emptypb.Empty, error) {
	if _, err := echo(ctx, req); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (library) UpdateBook(ctx context.Context, req *resttestpb.UpdateBookRequest) (*resttestpb.Book, error) {
	e, err := echo(ctx, req)
	if err != nil {
		return nil, err
	}
	book := proto.CloneOf(req.GetBook())
	book.Echo = e
	return book, nil
}

func (library) SetNote(ctx context.Context, req *resttestpb.SetNoteRequest) (*resttestpb.SetNoteResponse, error) {
	e, err := echo(ctx, req)
	return &resttestpb.SetNoteResponse{Echo: e}, err
}

func (library) Download(ctx context.Context, req *resttestpb.DownloadRequest) (*httpbody.HttpBody, error) {
	if _, err := echo(ctx, req); err != nil {
		return nil, err
	}
	return &httpbody.HttpBody{ContentType: "text/plain; charset=utf-8", Data: []byte("contents of " + req.GetName() + "\n")}, nil
}

func (library) Upload(ctx context.Context, req *httpbody.HttpBody) (*resttestpb.UploadResponse, error) {
	e, err := echo(ctx, req)
	return &resttestpb.UploadResponse{Echo: e}, err
}

func (library) Preview(ctx context.Context, req *resttestpb.PreviewRequest) (*resttestpb.PreviewResponse, error) {
	e, err := echo(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &resttestpb.PreviewResponse{Echo: e}
	if !req.GetEmpty() {
		resp.Body = &httpbody.HttpBody{ContentType: "image/svg+xml", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)}
	}
	return resp, nil
}

func (library) Search(ctx context.Context, req *resttestpb.SearchRequest) (*resttestpb.SearchResponse, error) {
	e, err := echo(ctx, req)
	return &resttestpb.SearchResponse{Echo: e}, err
}

func (library) Ping(ctx context.Context, req *resttestpb.PingRequest) (*resttestpb.PingResponse, error) {
	e, err := echo(ctx, req)
	return &resttestpb.PingResponse{Echo: e}, err
}

func (library) Watch(req *resttestpb.WatchRequest, stream grpc.ServerStreamingServer[resttestpb.Book]) error {
	return stream.Send(&resttestpb.Book{Name: req.GetName()})
}

func serveLibrary(t *testing.T) *grpc.ClientConn {
	t.Helper()
	return serve(t, func(s *grpc.Server) { resttestpb.RegisterLibraryServer(s, library{}) })
}

// muxOptions are the ServeMux configurations both muxes of a comparison
// get, by name.
var muxOptions = map[string]func() []runtime.ServeMuxOption{
	// grpc-gateway's defaults, with a raw-body marshaler for uploads.
	"runtime defaults": func() []runtime.ServeMuxOption {
		return []runtime.ServeMuxOption{
			runtime.WithMarshalerOption("application/octet-stream", &rawBody{runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}}),
		}
	},
	// Proto names, enum numbers, no unpopulated fields, unknown fields
	// refused, Content-Length.
	"JSONPb options": func() []runtime.ServeMuxOption {
		return []runtime.ServeMuxOption{
			runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
				MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, UseEnumNumbers: true},
			}}),
			runtime.WithMarshalerOption("application/octet-stream", &rawBody{runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}}),
			runtime.WithWriteContentLength(),
		}
	},
}

// libraryRequests exercise every binding of the Library, good and bad.
var libraryRequests = []request{
	// {name=shelves/*}, a message response_body, an additional binding.
	{method: "GET", path: "/v1/shelves/s1"},
	{method: "GET", path: "/v1/shelves/s1?missing=true"},
	{method: "GET", path: "/v1/shelves/s1?name=elsewhere&missing=false"}, // name is path-bound: not read
	{method: "GET", path: "/v1/shelves/s1?missing=maybe"},
	{method: "GET", path: "/v1/shelves/s1?missing=true&missing=false"},
	{method: "GET", path: "/v1/shelves/s1?unknown=1"},
	{method: "GET", path: "/v1/shelf/s1"},
	{method: "GET", path: "/v1/shelf/s1?missing=true"},
	{method: "GET", path: "/v1/shelves/s1/nothing"},
	{method: "GET", path: "/v1/shelves"},
	{method: "PATCH", path: "/v1/shelves/s1"},
	{method: "GET", path: "/v1/shelves/s%2F1"},
	// Body field, a path parameter inside it, body "*" with a verb.
	{method: "POST", path: "/v1/shelves/s1/books", body: `{"title":"Odes","genre":"GENRE_POETRY","publishTime":"2020-01-02T03:04:05Z","tags":["a","b"]}`},
	{method: "POST", path: "/v1/shelves/s1/books", body: `{"title":`},
	{method: "POST", path: "/v1/shelves/s1/books", body: `{"title":1}`},
	{method: "POST", path: "/v1/shelves/s1/books", body: `{"nope":1}`},
	{method: "POST", path: "/v1/shelves/s1/books", body: `[]`},
	{method: "POST", path: "/v1/shelves/s1/books", body: `null`},
	{method: "POST", path: "/v1/shelves/s1/books", body: ``},
	{method: "POST", path: "/v1/shelves/s1/books", body: `{"title":"A"} {"title":"B"}`},
	{method: "POST", path: "/v1/shelves/s1/books?generateId=true&book.title=ignored&parent=ignored", body: `{"title":"T"}`},
	{method: "POST", path: "/v1/shelves/s1/books?generate_id=yes", body: `{"title":"T"}`},
	{method: "PUT", path: "/v1/shelves/s1/books/b7", body: `{"title":"T","id":"not-this"}`},
	{method: "PUT", path: "/v1/shelves/s1/books/b7?book.id=nor-this", body: ``},
	{method: "POST", path: "/v1/shelves/s1/books:import", body: `{"parent":"overridden","book":{"title":"T"},"generateId":true}`},
	{method: "POST", path: "/v1/shelves/s1/books:import?generateId=false", body: `{"generateId":true}`}, // body "*": no query
	{method: "POST", path: "/v1/shelves/s1/books:import", body: `{"book":7}`},
	{method: "POST", path: "/v1/shelves/s1/books:export", body: `{}`},
	{method: "DELETE", path: "/v1/shelves/s1/books", body: `{}`},
	// Every kind of response_body, full and empty.
	{method: "GET", path: "/v1/shelves/s1/books"},
	{method: "GET", path: "/v1/shelves/s1/books?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:titles"},
	{method: "GET", path: "/v1/shelves/s1/books:titles?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:total"},
	{method: "GET", path: "/v1/shelves/s1/books:total?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:genres"},
	{method: "GET", path: "/v1/shelves/s1/books:genres?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:counts"},
	{method: "GET", path: "/v1/shelves/s1/books:counts?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:top"},
	{method: "GET", path: "/v1/shelves/s1/books:top?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books:next"},
	{method: "GET", path: "/v1/shelves/s1/books:next?empty=true"},
	{method: "GET", path: "/v1/shelves/s1/books?pageSize=abc"},
	{method: "GET", path: "/v1/shelves/s1/books?page_size=5&pageSize=6"},
	{method: "GET", path: "/v1/shelves/s1/books?page_size=99999999999"},
	// DELETE over several segments.
	{method: "DELETE", path: "/v1/shelves/s1/books/b1"},
	{method: "DELETE", path: "/v1/shelves/s1/books/b1/more"},
	// PATCH: the FieldMask from the body unless the client sends one.
	{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: `{"title":"New","tags":["x"],"publishTime":"2021-01-01T00:00:00Z"}`},
	{method: "PATCH", path: "/v1/shelves/s1/books/b1?updateMask=genre", body: `{"title":"New"}`},
	{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: `{"title":"New","name":"shelves/x/books/y"}`},
	{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: ``},
	{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: `{"title":`},
	{method: "PATCH", path: "/v1/shelves/s1/books/b1", body: `{"nope":true}`},
	// Body fields that are not messages.
	{method: "PUT", path: "/v1/notes/n1", body: `"hello"`},
	{method: "PUT", path: "/v1/notes/n1", body: `42`},
	{method: "PUT", path: "/v1/notes/n1?text=query&genre=GENRE_FICTION&priority=3", body: `"body"`},
	{method: "PUT", path: "/v1/notes/n1/tags", body: `["a","b"]`},
	{method: "PUT", path: "/v1/notes/n1/tags", body: `"a"`},
	{method: "PUT", path: "/v1/notes/n1/tags", body: `null`},
	{method: "PUT", path: "/v1/notes/n1/priority", body: `7`},
	{method: "PUT", path: "/v1/notes/n1/priority", body: ``},
	{method: "PUT", path: "/v1/notes/n1/priority", body: `null`},
	{method: "PUT", path: "/v1/notes/n1/priority", body: `"7"`},
	{method: "PUT", path: "/v1/notes/n1/genre", body: `2`},
	{method: "PUT", path: "/v1/notes/n1/genre", body: `2.5`},
	{method: "PUT", path: "/v1/notes/n1/genre", body: `"GENRE_POETRY"`},
	{method: "PUT", path: "/v1/notes/n1/labels", body: `{"a":"x","b":"y"}`},
	{method: "PUT", path: "/v1/notes/n1/labels", body: `{"a":1}`},
	{method: "PUT", path: "/v1/notes/n1/refs", body: `[{"url":"u1"},{"url":"u2"}]`},
	{method: "PUT", path: "/v1/notes/n1/refs", body: `{"url":"u"}`},
	{method: "PUT", path: "/v1/notes/n1/refs", body: `[{"nope":1}]`},
	{method: "PUT", path: "/v1/notes/n1/refs", body: `null`},
	{method: "PUT", path: "/v1/notes/n1/refs", body: ``},
	{method: "PUT", path: "/v1/notes/n1/ref", body: `{"url":"u"}`},
	{method: "PUT", path: "/v1/notes/n1/ref", body: ``},
	{method: "PUT", path: "/v1/notes/n1/ref", body: `[1]`},
	{method: "PUT", path: "/v1/notes/n1/links", body: `{"1":{"url":"u"},"2":{"url":"v"}}`},
	{method: "PUT", path: "/v1/notes/n1/links", body: `{"x":{"url":"u"}}`},
	{method: "PUT", path: "/v1/notes/n1/links", body: `{"1":null}`},
	{method: "PUT", path: "/v1/notes/n1/links", body: `[]`},
	// HttpBody: a raw response, a request as JSON or raw, a response_body.
	{method: "GET", path: "/v1/files/a/b/c.txt:download"},
	{method: "GET", path: "/v1/files:download"},
	{method: "GET", path: "/v1/files/a:download?name=other"},
	{method: "POST", path: "/v1/files:upload", body: `{"contentType":"text/plain","data":"aGk="}`},
	{method: "POST", path: "/v1/files:upload", body: `{"data":"not base64"}`},
	{method: "POST", path: "/v1/files:upload", body: "raw \x00 bytes", header: http.Header{"Content-Type": {"application/octet-stream"}}},
	{method: "GET", path: "/v1/previews/p1"},
	{method: "GET", path: "/v1/previews/p1?empty=true"},
	// Query parameters of every kind; path parameters of several.
	{method: "GET", path: "/v1/search?query=q&genre=GENRE_POETRY&year=2001&since=2020-01-01T00:00:00Z&tags=a&tags=b&filter.author=me&filter.minPages=10&exact=true&attrs[color]=red&attrs[size]=L&genres=1&genres=GENRE_HISTORY&score=1.5&token=aGk%3D&cursor=c&big=18446744073709551615"},
	{method: "GET", path: "/v1/search?year=x"},
	{method: "GET", path: "/v1/search?genre=NOPE"},
	{method: "GET", path: "/v1/search?genre=9"},
	{method: "GET", path: "/v1/search?genres=1&genres=NOPE"},
	{method: "GET", path: "/v1/search?query=a&query=b"},
	{method: "GET", path: "/v1/search?filter.min_pages=1&filter.minPages=2"},
	{method: "GET", path: "/v1/search?filter=x"},
	{method: "GET", path: "/v1/search?query.x=1"},
	{method: "GET", path: "/v1/search?since=yesterday"},
	{method: "GET", path: "/v1/search?big=-1"},
	{method: "GET", path: "/v1/search?token=%25%25"},
	{method: "GET", path: "/v1/search?attrs=red"},
	{method: "GET", path: "/v1/search?%zz=1"},
	{method: "GET", path: "/v1/search/GENRE_POETRY/1999/2020-01-01T00:00:00Z?genre=GENRE_FICTION&year=1&query=x"},
	{method: "GET", path: "/v1/search/2/1999/2020-01-01T00:00:00.5Z"},
	{method: "GET", path: "/v1/search/NOPE/1999/2020-01-01T00:00:00Z"},
	{method: "GET", path: "/v1/search/1/x/2020-01-01T00:00:00Z"},
	{method: "GET", path: "/v1/search/1/1999/yesterday"},
	{method: "GET", path: "/v1/search/tags/a,b/1,GENRE_HISTORY/true/2.5/aGk=?tags=c"},
	{method: "GET", path: "/v1/search/tags/a/1/maybe/1/aGk="},
	{method: "GET", path: "/v1/search/tags/a/1,9/true/1/aGk="},
	{method: "GET", path: "/v1/search/tags/a/1/true/x/aGk="},
	{method: "GET", path: "/v1/search/tags/a/1/true/1/%25"},
	{method: "GET", path: "/v1/search/by/me/GENRE_POETRY?filter.author=x&filter.minPages=3&query=q"},
	{method: "GET", path: "/v1/search/by/me/3"},
	{method: "GET", path: "/v1/search/by/me/NOPE"},
	{method: "POST", path: "/v1/search?query=q&filter.author=ignored", body: `{"author":"a","minPages":3,"genre":"GENRE_HISTORY"}`},
	{method: "POST", path: "/v1/search", body: `{"author":`},
	{method: "OPTIONS", path: "/v1/search/hello?year=3&query=ignored"},
	{method: "PUT", path: "/v1/search"},
	// The default binding of a method without a rule.
	{method: "POST", path: "/resttest.v1.Library/Ping", body: `{"text":"hi","n":"5"}`},
	{method: "POST", path: "/resttest.v1.Library/Ping?text=ignored", body: `{"n":5}`},
	{method: "POST", path: "/resttest.v1.Library/Ping", body: `{"n":"five"}`},
	{method: "POST", path: "/resttest.v1.Library/Ping", body: ``},
	{method: "GET", path: "/resttest.v1.Library/Ping"},
	{method: "POST", path: "/resttest.v1.Library/Nothing", body: `{}`},
	// Backend errors, metadata both ways, trailers, overrides.
	{method: "GET", path: "/v1/shelves/s1", header: http.Header{"Grpc-Metadata-X-Fail": {"5"}}},
	{method: "GET", path: "/v1/shelves/s1", header: http.Header{"Grpc-Metadata-X-Fail": {"16"}, "Te": {"trailers"}}},
	{method: "POST", path: "/v1/shelves/s1/books", body: `{}`, header: http.Header{"Grpc-Metadata-X-Fail": {"3"}}},
	{method: "GET", path: "/v1/shelves/s1/books:total", header: http.Header{"Te": {"trailers"}}},
	{method: "GET", path: "/v1/files/a:download", header: http.Header{"Te": {"trailers"}, "Accept": {"application/octet-stream"}}},
	{method: "GET", path: "/v1/shelves/s1", header: http.Header{"Grpc-Metadata-Tenant": {"t1", "t2"}, "Authorization": {"Bearer x"}, "X-Forwarded-For": {"203.0.113.9"}}},
	{method: "GET", path: "/v1/shelves/s1", header: http.Header{"Grpc-Timeout": {"1x"}}},
	{method: "GET", path: "/v1/shelves/s1", header: http.Header{"Grpc-Metadata-Bad\x01": {"x"}}},
	{method: "POST", path: "/v1/shelves/s1", body: "missing=true", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
	{method: "POST", path: "/v1/shelves/s1/books/b1", body: "", header: http.Header{"X-Http-Method-Override": {"DELETE"}, "Content-Type": {"application/x-www-form-urlencoded"}}},
	{method: "GET", path: "/v1/shelves/s1/books:titles", header: http.Header{"Accept": {"application/octet-stream"}}},
}

// TestLibraryEquivalence sends every request of libraryRequests to
// grpc-gateway's generated Library handlers and to rest.Register's, on
// muxes with the same options and the same backend, and requires the same
// status, headers, trailers and body bytes.
func TestLibraryEquivalence(t *testing.T) {
	t.Parallel()
	conn := serveLibrary(t)
	for optName, muxOpts := range muxOptions {
		for _, m := range modes {
			t.Run(optName+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				generated := runtime.NewServeMux(muxOpts()...)
				if err := resttestpb.RegisterLibraryHandler(context.Background(), generated, conn); err != nil {
					t.Fatal(err)
				}
				sd := resttestpb.File_resttest_v1_library_proto.Services().Get(0)
				if m.descriptorSet {
					sd = service(t, fromDescriptorSet(t, resttestpb.File_resttest_v1_library_proto), sd.FullName())
				}
				descriptor := runtime.NewServeMux(muxOpts()...)
				if err := rest.Register(descriptor, sd, conn, m.opts...); err != nil {
					t.Fatal(err)
				}
				for _, r := range libraryRequests {
					same(t, r, do(t, generated, r), do(t, descriptor, r))
				}
			})
		}
	}
}
