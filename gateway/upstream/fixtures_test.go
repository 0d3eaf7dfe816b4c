package upstream_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ssegate/ssegate/gateway/upstream"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

const (
	tickService = "test.v1.TickService"
	tickPath    = "/v1/ticks/{room}"
	tickComment = " TickService sends ticks.\n"
)

// tickFiles are two files that no Go code in the binary was generated
// from: test/v1/common.proto (TickRequest, Tick) and test/v1/tick.proto,
// whose test.v1.TickService (commented) has Ticks, a server stream with a
// google.api.http GET rule and an ssegate.v1.stream option.
func tickFiles() (common, tick *descriptorpb.FileDescriptorProto) {
	str := proto.String
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: str(name), JsonName: str(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
	}
	common = &descriptorpb.FileDescriptorProto{
		Name:    str("test/v1/common.proto"),
		Package: str("test.v1"),
		Syntax:  str("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: str("TickRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("room", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
			}},
			{Name: str("Tick"), Field: []*descriptorpb.FieldDescriptorProto{
				field("n", 1, descriptorpb.FieldDescriptorProto_TYPE_INT32),
			}},
		},
	}
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: tickPath}})
	proto.SetExtension(opts, ssegatev1.E_Stream, &ssegatev1.StreamOptions{RetryMs: 1500})
	tick = &descriptorpb.FileDescriptorProto{
		Name:       str("test/v1/tick.proto"),
		Package:    str("test.v1"),
		Syntax:     str("proto3"),
		Dependency: []string{"google/api/annotations.proto", "ssegate/v1/options.proto", "test/v1/common.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: str("TickService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: str("Ticks"), InputType: str(".test.v1.TickRequest"), OutputType: str(".test.v1.Tick"),
				ServerStreaming: proto.Bool(true), Options: opts,
			}},
		}},
		SourceCodeInfo: &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{{
			Path: []int32{6, 0}, // service 0
			Span: []int32{8, 0, 12, 1}, LeadingComments: str(tickComment),
		}}},
	}
	return common, tick
}

// linked returns the binary's own files at paths and every file they
// import, each once and after its imports, as --include_imports writes them.
func linked(t *testing.T, paths ...string) []*descriptorpb.FileDescriptorProto {
	t.Helper()
	var out []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		out = append(out, protodesc.ToFileDescriptorProto(fd))
	}
	for _, p := range paths {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(p)
		if err != nil {
			t.Fatal(err)
		}
		add(fd)
	}
	return out
}

// tickDeps are the files tick.proto imports that the binary links in.
func tickDeps(t *testing.T) []*descriptorpb.FileDescriptorProto {
	return linked(t, "google/api/annotations.proto", "ssegate/v1/options.proto")
}

// writeFile writes b to a file of the test and returns its path.
func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.binpb")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSet writes files as a serialized FileDescriptorSet.
func writeSet(t *testing.T, files ...*descriptorpb.FileDescriptorProto) string {
	t.Helper()
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, b)
}

// checkTick asserts that d holds just test.v1.TickService, and that its
// method's options are extensions of the binary's types and its comment
// survived.
func checkTick(t *testing.T, d *upstream.Descriptors) {
	t.Helper()
	if len(d.Services) != 1 || d.Services[0].FullName() != tickService {
		t.Fatalf("services %v, want [%s]", names(d.Services), tickService)
	}
	sd := d.Services[0]
	md := sd.Methods().ByName("Ticks")
	if md == nil || !md.IsStreamingServer() || md.Input().FullName() != "test.v1.TickRequest" {
		t.Fatalf("method Ticks: %v, want a server stream of test.v1.TickRequest", md)
	}
	rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if !ok || rule.GetGet() != tickPath {
		t.Errorf("google.api.http of Ticks: %v, want GET %s", rule, tickPath)
	}
	so, ok := proto.GetExtension(md.Options(), ssegatev1.E_Stream).(*ssegatev1.StreamOptions)
	if !ok || so.GetRetryMs() != 1500 {
		t.Errorf("ssegate.v1.stream of Ticks: %v, want retry_ms 1500", so)
	}
	if got := sd.ParentFile().SourceLocations().ByDescriptor(sd).LeadingComments; got != tickComment {
		t.Errorf("comment of %s: %q, want %q", tickService, got, tickComment)
	}
	// The files resolve by themselves: the input type is in d.Files.
	if _, err := d.Files.FindDescriptorByName("test.v1.TickRequest"); err != nil {
		t.Errorf("Files: %v", err)
	}
}

func names(sds []protoreflect.ServiceDescriptor) []protoreflect.FullName {
	var out []protoreflect.FullName
	for _, sd := range sds {
		out = append(out, sd.FullName())
	}
	return out
}
