package thirdparty_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const greeterService = "acme.greeter.v1.GreeterService"

// greeter serves acme.greeter.v1.GreeterService from the descriptor set
// buf built, with handlers of dynamic messages: no Go code was generated
// from its .proto, in this test or in the gateway.
type greeter struct {
	addr string

	mu           sync.Mutex
	lastEventIDs map[string][]string // by name, the last-event-id metadata of each WatchGreetings call
}

// LastEventIDs are the last-event-id metadata values of the WatchGreetings
// calls for name, one per call ("" when absent).
func (g *greeter) LastEventIDs(name string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.lastEventIDs[name]...)
}

// startGreeter serves the greeter of the descriptor set at setPath, with
// server reflection too when withReflection.
func startGreeter(t testing.TB, setPath string, withReflection bool) *greeter {
	t.Helper()
	b, err := os.ReadFile(setPath)
	if err != nil {
		t.Fatal(err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(b, set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(greeterService)
	if err != nil {
		t.Fatal(err)
	}
	sd := d.(protoreflect.ServiceDescriptor)
	g := &greeter{lastEventIDs: map[string][]string{}}
	g.addr = serveGRPC(t, func(s *grpc.Server) {
		s.RegisterService(g.serviceDesc(sd), struct{}{})
		if withReflection {
			reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(reflection.ServerOptions{
				Services: s, DescriptorResolver: files,
			}))
		}
	})
	return g
}

func (g *greeter) serviceDesc(sd protoreflect.ServiceDescriptor) *grpc.ServiceDesc {
	m := sd.Methods()
	unary := func(name protoreflect.Name, f func(in, out *dynamicpb.Message) error) grpc.MethodDesc {
		md := m.ByName(name)
		return grpc.MethodDesc{MethodName: string(name), Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in, out := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
			if err := dec(in); err != nil {
				return nil, err
			}
			return out, f(in, out)
		}}
	}
	stream := func(name protoreflect.Name, f func(in *dynamicpb.Message, s grpc.ServerStream, out func() *dynamicpb.Message) error) grpc.StreamDesc {
		md := m.ByName(name)
		return grpc.StreamDesc{StreamName: string(name), ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			in := dynamicpb.NewMessage(md.Input())
			if err := s.RecvMsg(in); err != nil {
				return err
			}
			return f(in, s, func() *dynamicpb.Message { return dynamicpb.NewMessage(md.Output()) })
		}}
	}
	return &grpc.ServiceDesc{
		ServiceName: greeterService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary("SayHello", func(in, out *dynamicpb.Message) error {
				name := get(in, "name").String()
				if name == "" {
					return status.Error(codes.InvalidArgument, "name is required")
				}
				set(out, "message", protoreflect.ValueOfString("Hello, "+name+"!"))
				return nil
			}),
			unary("Version", func(_, out *dynamicpb.Message) error {
				set(out, "version", protoreflect.ValueOfString("1.0.0"))
				return nil
			}),
		},
		Streams: []grpc.StreamDesc{
			stream("WatchGreetings", g.watchGreetings),
			stream("Countdown", func(in *dynamicpb.Message, s grpc.ServerStream, out func() *dynamicpb.Message) error {
				from := get(in, "from").Uint()
				if from == 0 {
					return nil
				}
				if err := s.SendHeader(nil); err != nil {
					return err
				}
				for left := from - 1; ; left-- {
					msg := out()
					set(msg, "left", protoreflect.ValueOfUint32(uint32(left)))
					if err := s.SendMsg(msg); err != nil || left == 0 {
						return err
					}
				}
			}),
		},
		Metadata: "acme/greeter/v1/greeter.proto",
	}
}

// watchGreetings sends greetings seq 1 to count to name, after the
// last-event-id in the metadata: a resume repeats nothing. With nothing
// left to send it ends without headers, so that the gateway answers 204.
func (g *greeter) watchGreetings(in *dynamicpb.Message, s grpc.ServerStream, out func() *dynamicpb.Message) error {
	name, count := get(in, "name").String(), get(in, "count").Uint()
	md, _ := metadata.FromIncomingContext(s.Context())
	last := ""
	if v := md.Get("last-event-id"); len(v) > 0 {
		last = v[0]
	}
	g.mu.Lock()
	g.lastEventIDs[name] = append(g.lastEventIDs[name], last)
	g.mu.Unlock()
	after := uint64(0)
	if last != "" {
		n, err := strconv.ParseUint(last, 10, 32)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "last-event-id %q is not a greeting number", last)
		}
		after = n
	}
	if after >= count {
		return nil
	}
	if err := s.SendHeader(nil); err != nil {
		return err
	}
	for seq := after + 1; seq <= count; seq++ {
		msg := out()
		set(msg, "seq", protoreflect.ValueOfUint32(uint32(seq)))
		set(msg, "message", protoreflect.ValueOfString(fmt.Sprintf("Hello, %s! (%d of %d)", name, seq, count)))
		if err := s.SendMsg(msg); err != nil {
			return err
		}
	}
	return nil
}

func get(m *dynamicpb.Message, field protoreflect.Name) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(field))
}

func set(m *dynamicpb.Message, field protoreflect.Name, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(field), v)
}
