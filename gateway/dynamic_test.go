package gateway_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// tickService builds, at run time, a service whose types no generated Go
// code knows: test.v1.TickService/Ticks(TickRequest) returns (stream Tick),
// served at GET /v1/ticks/{room}, and Plain, which has no HTTP rule and is
// exposed at the path its ssegate.v1.stream option gives. Neither request
// has a last_event_id field, so Last-Event-ID travels as metadata; Tick has
// no oneof, so its events are anonymous with the message as JSON data.
func tickService(t *testing.T) protoreflect.ServiceDescriptor {
	t.Helper()
	str := func(s string) *string { return &s }
	num := func(n int32) *int32 { return &n }
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: str(name), JsonName: str(name), Number: num(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
	}
	ticksOpts := &descriptorpb.MethodOptions{}
	proto.SetExtension(ticksOpts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/ticks/{room}"}})
	plainOpts := &descriptorpb.MethodOptions{}
	proto.SetExtension(plainOpts, ssegatev1.E_Stream, &ssegatev1.StreamOptions{Path: "/v1/plain", RetryMs: 500})
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       str("test/v1/tick.proto"),
		Package:    str("test.v1"),
		Syntax:     str("proto3"),
		Dependency: []string{"google/api/annotations.proto", "ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: str("TickRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("room", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				field("count", 2, descriptorpb.FieldDescriptorProto_TYPE_INT32),
			}},
			{Name: str("Tick"), Field: []*descriptorpb.FieldDescriptorProto{
				field("room", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				field("n", 2, descriptorpb.FieldDescriptorProto_TYPE_INT32),
				field("resumedFrom", 3, descriptorpb.FieldDescriptorProto_TYPE_STRING),
			}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: str("TickService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: str("Ticks"), InputType: str(".test.v1.TickRequest"), OutputType: str(".test.v1.Tick"),
					ServerStreaming: proto.Bool(true), Options: ticksOpts},
				{Name: str("Plain"), InputType: str(".test.v1.TickRequest"), OutputType: str(".test.v1.Tick"),
					ServerStreaming: proto.Bool(true), Options: plainOpts},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}

// serveTicks serves sd with a handler that sends `count` ticks, each
// carrying the last-event-id metadata it received.
func serveTicks(t *testing.T, sd protoreflect.ServiceDescriptor) *grpc.ClientConn {
	t.Helper()
	in, out := sd.Methods().Get(0).Input(), sd.Methods().Get(0).Output()
	handler := func(_ any, s grpc.ServerStream) error {
		req := dynamicpb.NewMessage(in)
		if err := s.RecvMsg(req); err != nil {
			return err
		}
		md, _ := metadata.FromIncomingContext(s.Context())
		resumed := strings.Join(md.Get("last-event-id"), ",")
		for i := range req.Get(in.Fields().ByName("count")).Int() {
			tick := dynamicpb.NewMessage(out)
			tick.Set(out.Fields().ByName("room"), req.Get(in.Fields().ByName("room")))
			tick.Set(out.Fields().ByName("n"), protoreflect.ValueOfInt32(int32(i+1)))
			tick.Set(out.Fields().ByName("resumedFrom"), protoreflect.ValueOfString(resumed))
			if err := s.SendMsg(tick); err != nil {
				return err
			}
		}
		return nil
	}
	desc := &grpc.ServiceDesc{ServiceName: string(sd.FullName()), HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{
		{StreamName: "Ticks", Handler: handler, ServerStreams: true},
		{StreamName: "Plain", Handler: handler, ServerStreams: true},
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
	return conn
}

func TestDescriptorOnlyServiceMetadataResumeAndDefaultPath(t *testing.T) {
	t.Parallel()
	sd := tickService(t)
	conn := serveTicks(t, sd)
	gw, err := gateway.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(context.Background(), sd, conn, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, gw)

	_, u := stream(t, t.Context(), srv.URL+"/v1/ticks/lobby?count=2", map[string][]string{"Last-Event-ID": {"abc-7"}})
	got := u.rest(t)
	want := []string{
		": ok\n",
		"retry: 3000\ndata: {\"room\":\"lobby\", \"n\":1, \"resumedFrom\":\"abc-7\"}\n\n",
		"data: {\"room\":\"lobby\", \"n\":2, \"resumedFrom\":\"abc-7\"}\n\n",
		"event: end\ndata: {}\n\n",
	}
	if strings.Join(normalizeJSONSpaces(got), "|") != strings.Join(normalizeJSONSpaces(want), "|") {
		t.Fatalf("ticks:\n got %q\nwant %q", got, want)
	}

	_, u = stream(t, t.Context(), srv.URL+"/v1/plain?room=x&count=1", nil)
	got = u.rest(t)
	if len(got) != 3 || !strings.HasPrefix(got[1], "retry: 500\ndata: {") {
		t.Fatalf("plain: %q", got)
	}
}

// normalizeJSONSpaces removes the spaces protojson may put after ':' and
// ',' (it varies them on purpose), so that event bytes can be compared.
func normalizeJSONSpaces(units []string) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = strings.NewReplacer(": ", ":", ", ", ",").Replace(u)
	}
	return out
}
