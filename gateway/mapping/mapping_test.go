package mapping_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/sse"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// messages builds, from descriptors alone, messages that use the options
// the demo protos do not: an event_name field, an event_oneof among two
// oneofs, scalar oneof cases and a string id.
func messages(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	str := func(s string) *string { return &s }
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, oneof *int32, opts *ssegatev1.FieldOptions) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: str(name), JsonName: str(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), OneofIndex: oneof}
		if opts != nil {
			f.Options = &descriptorpb.FieldOptions{}
			proto.SetExtension(f.Options, ssegatev1.E_Field, opts)
		}
		return f
	}
	fixedLog := &descriptorpb.MessageOptions{}
	proto.SetExtension(fixedLog, ssegatev1.E_Message, &ssegatev1.MessageOptions{Event: "log"})
	twoOneofs := &descriptorpb.MessageOptions{}
	proto.SetExtension(twoOneofs, ssegatev1.E_Message, &ssegatev1.MessageOptions{EventOneof: "kind", Event: "fallback"})
	const (
		str64 = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i64   = descriptorpb.FieldDescriptorProto_TYPE_INT64
		i32   = descriptorpb.FieldDescriptorProto_TYPE_INT32
		b     = descriptorpb.FieldDescriptorProto_TYPE_BOOL
	)
	fdp := &descriptorpb.FileDescriptorProto{
		Name: str("mapping_test.proto"), Package: str("mappingtest"), Syntax: str("proto3"),
		Dependency: []string{"ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: str("Named"), Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, str64, nil, &ssegatev1.FieldOptions{EventId: true}),
				field("type", 2, str64, nil, &ssegatev1.FieldOptions{EventName: true}),
				field("value", 3, i64, nil, nil),
			}},
			// A fixed name, an event_name field and a oneof, all at once.
			{Name: str("NamedOneof"), Options: fixedLog, OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: str("kind")}},
				Field: []*descriptorpb.FieldDescriptorProto{
					field("type", 1, str64, nil, &ssegatev1.FieldOptions{EventName: true}),
					field("progress", 2, i32, proto.Int32(0), nil),
				}},
			{Name: str("TwoOneofs"), Options: twoOneofs, OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: str("meta")}, {Name: str("kind")}},
				Field: []*descriptorpb.FieldDescriptorProto{
					field("tag", 1, str64, proto.Int32(0), nil),
					field("count", 2, i32, proto.Int32(1), nil),
					field("big", 3, i64, proto.Int32(1), nil),
					field("flag", 4, b, proto.Int32(1), nil),
					field("note", 5, str64, proto.Int32(1), nil),
				}},
		},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestMap(t *testing.T) {
	t.Parallel()
	fd := messages(t)
	named, two := fd.Messages().ByName("Named"), fd.Messages().ByName("TwoOneofs")
	namedOneof := fd.Messages().ByName("NamedOneof")
	set := func(md protoreflect.MessageDescriptor, kv map[string]protoreflect.Value) proto.Message {
		m := dynamicpb.NewMessage(md)
		for k, v := range kv {
			m.Set(md.Fields().ByName(protoreflect.Name(k)), v)
		}
		return m
	}
	tests := []struct {
		name                   string
		msg                    proto.Message
		wantID, wantName, data string
	}{
		{"event_name field and string id", set(named, map[string]protoreflect.Value{
			"key": protoreflect.ValueOfString("k-1"), "type": protoreflect.ValueOfString("custom"), "value": protoreflect.ValueOfInt64(5)}),
			"k-1", "custom", `{"key":"k-1","type":"custom","value":"5"}`},
		{"empty event_name: anonymous", set(named, nil), "", "", `{"key":"","type":"","value":"0"}`},
		{"chosen oneof, int32 case", set(two, map[string]protoreflect.Value{"tag": protoreflect.ValueOfString("x"), "count": protoreflect.ValueOfInt32(3)}),
			"", "count", `3`},
		{"64-bit case as a string, like protojson", set(two, map[string]protoreflect.Value{"big": protoreflect.ValueOfInt64(1 << 40)}),
			"", "big", `"1099511627776"`},
		{"bool case", set(two, map[string]protoreflect.Value{"flag": protoreflect.ValueOfBool(true)}), "", "flag", `true`},
		{"string case not marked raw is JSON", set(two, map[string]protoreflect.Value{"note": protoreflect.ValueOfString("a \"b\"\nc")}),
			"", "note", `"a \"b\"\nc"`},
		{"no case set: the fixed name and the message", set(two, map[string]protoreflect.Value{"tag": protoreflect.ValueOfString("x")}),
			"", "fallback", `{"tag":"x"}`},
		// A name set by the event_name field wins over the case name, even
		// when it equals the fixed name.
		{"event_name equal to the fixed name is kept", set(namedOneof, map[string]protoreflect.Value{
			"type": protoreflect.ValueOfString("log"), "progress": protoreflect.ValueOfInt32(4)}), "", "log", `4`},
		{"event_name set wins over the case", set(namedOneof, map[string]protoreflect.Value{
			"type": protoreflect.ValueOfString("other"), "progress": protoreflect.ValueOfInt32(4)}), "", "other", `4`},
		{"no event_name: the case names it", set(namedOneof, map[string]protoreflect.Value{
			"progress": protoreflect.ValueOfInt32(4)}), "", "progress", `4`},
		{"generated type: raw text case", &jobsv1.WatchJobResponse{Id: 9, Event: &jobsv1.WatchJobResponse_Log{Log: "a\nb"}},
			"9", "log", "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := mapping.New(tt.msg.ProtoReflect().Descriptor())
			if err != nil {
				t.Fatal(err)
			}
			ev := &sse.Event{Data: []byte("stale")}
			if err := m.Map(tt.msg, ev); err != nil {
				t.Fatal(err)
			}
			data := strings.NewReplacer(": ", ":", ", ", ",").Replace(string(ev.Data)) // protojson varies its spaces
			if ev.ID != tt.wantID || ev.Name != tt.wantName || data != tt.data {
				t.Fatalf("got id %q name %q data %s; want %q %q %s", ev.ID, ev.Name, data, tt.wantID, tt.wantName, tt.data)
			}
		})
	}
}

// An event_name value that takes one of the gateway's own names is a
// backend fault, refused by Map.
func TestMapRefusesReservedNames(t *testing.T) {
	t.Parallel()
	named := messages(t).Messages().ByName("Named")
	m, err := mapping.New(named)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"end", "error", "reconnect", "reset"} {
		msg := dynamicpb.NewMessage(named)
		msg.Set(named.Fields().ByName("type"), protoreflect.ValueOfString(name))
		if err := m.Map(msg, &sse.Event{}); !errors.Is(err, mapping.ErrReservedName) {
			t.Errorf("event_name %q: error %v, want ErrReservedName", name, err)
		}
	}
	msg := dynamicpb.NewMessage(named)
	msg.Set(named.Fields().ByName("type"), protoreflect.ValueOfString("ended"))
	if err := m.Map(msg, &sse.Event{}); err != nil {
		t.Errorf("event_name %q: %v", "ended", err)
	}
}

func TestMapWrongType(t *testing.T) {
	t.Parallel()
	m, err := mapping.New((&jobsv1.WatchJobResponse{}).ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Map(&jobsv1.Progress{}, &sse.Event{}); !errors.Is(err, mapping.ErrWrongType) {
		t.Fatalf("error %v", err)
	}
}

// Options that cannot work are refused when the route is built, not when
// the first message arrives.
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	bad := func(name string, typ descriptorpb.FieldDescriptorProto_Type, opts *ssegatev1.FieldOptions) *descriptorpb.DescriptorProto {
		fo := &descriptorpb.FieldOptions{}
		proto.SetExtension(fo, ssegatev1.E_Field, opts)
		return &descriptorpb.DescriptorProto{Name: str(name), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: str("f"), JsonName: str("f"), Number: proto.Int32(1), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Options: fo}}}
	}
	// The gateway's own event names, as a oneof case or a fixed name.
	reservedCase := func(name, caseName string) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: str(name), OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: str("kind")}},
			Field: []*descriptorpb.FieldDescriptorProto{{Name: str(caseName), JsonName: str(caseName), Number: proto.Int32(1),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				OneofIndex: proto.Int32(0)}}}
	}
	fixedReconnect := &descriptorpb.MessageOptions{}
	proto.SetExtension(fixedReconnect, ssegatev1.E_Message, &ssegatev1.MessageOptions{Event: "reconnect"})
	fixed := bad("FixedReconnect", descriptorpb.FieldDescriptorProto_TYPE_STRING, &ssegatev1.FieldOptions{})
	fixed.Options = fixedReconnect
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: str("bad_test.proto"), Package: str("badtest"), Syntax: str("proto3"),
		Dependency: []string{"ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			bad("BoolID", descriptorpb.FieldDescriptorProto_TYPE_BOOL, &ssegatev1.FieldOptions{EventId: true}),
			bad("IntName", descriptorpb.FieldDescriptorProto_TYPE_INT32, &ssegatev1.FieldOptions{EventName: true}),
			bad("BytesRaw", descriptorpb.FieldDescriptorProto_TYPE_BYTES, &ssegatev1.FieldOptions{RawText: true}),
			reservedCase("CaseEnd", "end"), reservedCase("CaseError", "error"),
			reservedCase("CaseReconnect", "reconnect"), reservedCase("CaseReset", "reset"),
			fixed,
		},
	}, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fd.Messages().Len() {
		md := fd.Messages().Get(i)
		if _, err := mapping.New(md); err == nil {
			t.Errorf("%s: accepted", md.Name())
		}
	}
}
