package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// echoService is test.v1.EchoService, from descriptors: Echo at POST
// /v1/echo (the gateway's body limit) and Small at POST /v1/small/{id}
// (its own limit of 64 bytes), both echoing their text.
func echoService(t *testing.T) protoreflect.ServiceDescriptor {
	t.Helper()
	str := proto.String
	echo := &descriptorpb.MethodOptions{}
	proto.SetExtension(echo, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/echo"}, Body: "*"})
	small := &descriptorpb.MethodOptions{}
	proto.SetExtension(small, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/small/{id}"}, Body: "*"})
	proto.SetExtension(small, ssegatev1.E_Route, &ssegatev1.RouteOptions{MaxBodyBytes: 64})
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: str("test/v1/echo.proto"), Package: str("test.v1"), Syntax: str("proto3"),
		Dependency: []string{"google/api/annotations.proto", "ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: str("Text"), Field: []*descriptorpb.FieldDescriptorProto{
			{Name: str("id"), JsonName: str("id"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
			{Name: str("text"), JsonName: str("text"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
		}}},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: str("EchoService"), Method: []*descriptorpb.MethodDescriptorProto{
			{Name: str("Echo"), InputType: str(".test.v1.Text"), OutputType: str(".test.v1.Text"), Options: echo},
			{Name: str("Small"), InputType: str(".test.v1.Text"), OutputType: str(".test.v1.Text"), Options: small},
		}}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}

// serveEcho serves sd, counting the calls that reach it.
func serveEcho(t *testing.T, sd protoreflect.ServiceDescriptor) (*grpc.ClientConn, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	md := sd.Methods().Get(0).Input()
	handler := func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		calls.Add(1)
		m := dynamicpb.NewMessage(md)
		return m, dec(m)
	}
	desc := &grpc.ServiceDesc{ServiceName: string(sd.FullName()), HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: handler}, {MethodName: "Small", Handler: handler},
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(desc, struct{}{})
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return conn, &calls
}

// Request bodies are bounded, by the route's own limit or the gateway's,
// and read within a timeout; a refused body never reaches the backend.
func TestRequestBodiesAreBounded(t *testing.T) {
	t.Parallel()
	sd := echoService(t)
	conn, calls := serveEcho(t, sd)
	gw, err := gateway.New(gateway.WithMaxBodyBytes(1024), gateway.WithBodyReadTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(t.Context(), sd, conn, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, gw)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	text := func(n int) string { return `{"text":"` + strings.Repeat("x", n) + `"}` }
	tests := []struct {
		name, path string
		body       io.Reader
		status     int
		reaches    bool
	}{
		{"small body", "/v1/echo", strings.NewReader(text(10)), 200, true},
		{"at the gateway's limit", "/v1/echo", strings.NewReader(text(1024 - 11)), 200, true},
		{"over the gateway's limit", "/v1/echo", strings.NewReader(text(1024 - 10)), 413, false},
		{"over it, chunked", "/v1/echo", io.MultiReader(strings.NewReader(text(5000))), 413, false},
		{"within the route's own limit", "/v1/small/a", strings.NewReader(text(40)), 200, true},
		{"over the route's own limit", "/v1/small/a", strings.NewReader(text(100)), 413, false},
	}
	for _, tt := range tests {
		before := calls.Load()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+tt.path, tt.body)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, res.StatusCode, body, tt.status)
		}
		if tt.status == 413 && !strings.Contains(string(body), `"code":"RESOURCE_EXHAUSTED"`) {
			t.Errorf("%s: body %s", tt.name, body)
		}
		if reached := calls.Load() > before; reached != tt.reaches {
			t.Errorf("%s: reached the backend %v, want %v", tt.name, reached, tt.reaches)
		}
	}

	// A body sent a byte now and then gets 408 once the read timeout
	// passes, and never reaches the backend.
	before := calls.Load()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // only a hang fails here
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || calls.Load() != before {
		t.Errorf("slow body: %d, backend calls %d -> %d; want 408 and none", res.StatusCode, before, calls.Load())
	}
}
