package openapi_test

import (
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// testServices builds, from descriptors alone, a service with what the
// real ones lack: a path variable with a pattern, a nested variable,
// additional bindings, a body field selector, a custom method, nested,
// repeated and map fields in the query, an SSE route from an
// ssegate.v1.stream path with anonymous events, and comments.
func testServices(t *testing.T) []protoreflect.ServiceDescriptor {
	t.Helper()
	const (
		optional = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		repeated = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		str      = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i64      = descriptorpb.FieldDescriptorProto_TYPE_INT64
		u32      = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		u64      = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		boolean  = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		msg      = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	field := func(name string, n int32, label descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	labelsEntry := &descriptorpb.DescriptorProto{
		Name:    proto.String("LabelsEntry"),
		Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, optional, str, ""), field("value", 2, optional, str, "")},
		Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
	}
	method := func(name, in, out string, stream bool, rule *annotations.HttpRule, so *ssegatev1.StreamOptions) *descriptorpb.MethodDescriptorProto {
		m := &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".test.v1." + in), OutputType: proto.String(".test.v1." + out),
			ServerStreaming: proto.Bool(stream), Options: &descriptorpb.MethodOptions{},
		}
		if rule != nil {
			proto.SetExtension(m.Options, annotations.E_Http, rule)
		}
		if so != nil {
			proto.SetExtension(m.Options, ssegatev1.E_Stream, so)
		}
		return m
	}
	internal := func(m *descriptorpb.MethodDescriptorProto) *descriptorpb.MethodDescriptorProto {
		proto.SetExtension(m.Options, ssegatev1.E_Route, &ssegatev1.RouteOptions{Internal: true})
		return m
	}
	location := func(comment string, path ...int32) *descriptorpb.SourceCodeInfo_Location {
		return &descriptorpb.SourceCodeInfo_Location{Path: path, Span: []int32{0, 0, 1}, LeadingComments: proto.String(comment)}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("test/v1/test.proto"),
		Package:    proto.String("test.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/api/annotations.proto", "google/protobuf/timestamp.proto", "ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Filter"), Field: []*descriptorpb.FieldDescriptorProto{
				field("min_size", 1, optional, i64, ""),
				field("since", 2, optional, msg, ".google.protobuf.Timestamp"),
			}},
			{Name: proto.String("Thing"), Field: []*descriptorpb.FieldDescriptorProto{
				field("id", 1, optional, str, ""),
				field("size", 2, optional, i64, ""),
				field("labels", 3, repeated, msg, ".test.v1.Thing.LabelsEntry"),
				field("tags", 4, repeated, str, ""),
			}, NestedType: []*descriptorpb.DescriptorProto{labelsEntry}},
			{Name: proto.String("GetRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("name", 1, optional, str, ""),
				field("thing", 2, optional, msg, ".test.v1.Thing"),
				field("filter", 3, optional, msg, ".test.v1.Filter"),
				field("tags", 4, repeated, str, ""),
				field("things", 5, repeated, msg, ".test.v1.Thing"),
			}},
			{Name: proto.String("UpdateRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("thing", 1, optional, msg, ".test.v1.Thing"),
				field("validate_only", 2, optional, boolean, ""),
			}},
			{Name: proto.String("TickRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("every_ms", 1, optional, u32, ""),
			}},
			{Name: proto.String("Tick"), Field: []*descriptorpb.FieldDescriptorProto{
				field("seq", 1, optional, u64, ""),
				field("time", 2, optional, msg, ".google.protobuf.Timestamp"),
			}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("TestService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Get", "GetRequest", "Thing", false, &annotations.HttpRule{
					Pattern: &annotations.HttpRule_Get{Get: "/v1/{name=shelves/*}/things/{thing.id}"},
					AdditionalBindings: []*annotations.HttpRule{
						{Pattern: &annotations.HttpRule_Get{Get: "/v1/things/{thing.id}"}},
					},
				}, nil),
				method("Update", "UpdateRequest", "Thing", false, &annotations.HttpRule{
					Pattern: &annotations.HttpRule_Patch{Patch: "/v1/things/{thing.id}"}, Body: "thing",
				}, nil),
				method("Search", "GetRequest", "Thing", false, &annotations.HttpRule{
					Pattern: &annotations.HttpRule_Custom{Custom: &annotations.CustomHttpPattern{Kind: "SEARCH", Path: "/v1/things:search"}},
					Body:    "*",
				}, nil),
				method("Ticks", "TickRequest", "Tick", true, nil, &ssegatev1.StreamOptions{Path: "/v1/ticks", RetryMs: 500}),
				internal(method("Internal", "TickRequest", "Tick", false, nil, nil)),
				method("Unbound", "TickRequest", "Tick", false, nil, nil),
				method("UnboundStream", "TickRequest", "Tick", true, nil, nil),
			},
		}},
		SourceCodeInfo: &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{
			location(" TestService is a test.\n", 6, 0),
			location(" Get returns a thing. It has\n two routes.\n", 6, 0, 2, 0),
			location(" The thing's size.\n", 4, 1, 2, 1),
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatalf("building the test service: %v", err)
	}
	return []protoreflect.ServiceDescriptor{fd.Services().Get(0)}
}
