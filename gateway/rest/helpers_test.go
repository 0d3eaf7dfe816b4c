package rest_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ssegate/ssegate/gateway/rest"
)

// serve starts a gRPC server on loopback with what register adds, and
// returns a client connection to it; both close when the test ends.
func serve(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// fromDescriptorSet returns the files of the services sds, and all they
// import, as a gateway that read them from a descriptor set file has them:
// serialized, parsed again and linked in a registry of their own, so that
// nothing in them is a generated descriptor.
func fromDescriptorSet(t *testing.T, files ...protoreflect.FileDescriptor) *protoregistry.Files {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{}
	seen := make(map[string]bool)
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		add(fd)
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	parsed := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(b, parsed); err != nil {
		t.Fatal(err)
	}
	reg, err := protodesc.NewFiles(parsed)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// service finds a service by name in reg.
func service(t *testing.T, reg *protoregistry.Files, name protoreflect.FullName) protoreflect.ServiceDescriptor {
	t.Helper()
	d, err := reg.FindDescriptorByName(name)
	if err != nil {
		t.Fatal(err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		t.Fatalf("%s is a %T", name, d)
	}
	return sd
}

// mode is how the descriptor-only mux gets its descriptors and types.
type mode struct {
	name string
	// descriptorSet takes the descriptors from a parsed descriptor set
	// instead of the generated files.
	descriptorSet bool
	opts          []rest.Option
}

var modes = []mode{
	// What the gateway does with a descriptor set: no generated descriptor,
	// no generated message type.
	{name: "descriptor set, dynamic types", descriptorSet: true, opts: []rest.Option{rest.WithTypes(rest.DynamicTypes)}},
	// A descriptor set for services whose generated types are linked in.
	{name: "descriptor set, linked types", descriptorSet: true},
	// The generated descriptors themselves.
	{name: "generated descriptors", opts: nil},
}

// request is one HTTP request of an equivalence table.
type request struct {
	method, path, body string
	header             http.Header
}

func (r request) String() string {
	s := r.method + " " + r.path
	if r.body != "" {
		s += " " + r.body
	}
	for _, k := range slices.Sorted(maps.Keys(r.header)) {
		s += " [" + k + ": " + strings.Join(r.header[k], ",") + "]"
	}
	return s
}

// answer is what a client sees of a response.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends r to h and returns the answer.
func do(t *testing.T, h http.Handler, r request) answer {
	t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	header := res.Header.Clone()
	maps.Copy(header, res.Trailer)
	// The runtime announces trailers in map order.
	slices.Sort(header["Trailer"])
	return answer{status: res.StatusCode, header: header, body: string(b)}
}

// same fails unless generated and descriptor-only answered alike: status,
// every header and trailer, and the body byte for byte (protojson's random
// spaces are the same within one binary).
func same(t *testing.T, r request, generated, descriptor answer) {
	t.Helper()
	if generated.status != descriptor.status {
		t.Errorf("%v: status %d from generated handlers, %d from descriptors", r, generated.status, descriptor.status)
	}
	if !headersEqual(generated.header, descriptor.header) {
		t.Errorf("%v: headers\n  generated:   %v\n  descriptors: %v", r, generated.header, descriptor.header)
	}
	if generated.body != descriptor.body {
		t.Errorf("%v: body\n  generated:   %q\n  descriptors: %q", r, generated.body, descriptor.body)
	}
}

// replaceEach replaces in s each key of replace by its value.
func replaceEach(s string, replace map[string]string) string {
	for from, to := range replace {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

func headersEqual(a, b http.Header) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// rawBody is a marshaler for application/octet-stream whose decoder fills
// a google.api.HttpBody with the raw request body, as users register one for
// uploads. Like theirs, it knows only the generated type.
type rawBody struct{ runtime.HTTPBodyMarshaler }

func (rawBody) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		hb, ok := v.(*httpbody.HttpBody)
		if !ok {
			return fmt.Errorf("a raw body cannot go into %T", v)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		hb.ContentType, hb.Data = "application/octet-stream", data
		return nil
	})
}

// nopConn is a connection that no call goes through.
type nopConn struct{}

func (nopConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unimplemented, "nop")
}

func (nopConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "nop")
}
