package upstream_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ssegate/ssegate/gateway/upstream"
)

func withHealth(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) }

// withTicks registers test.v1.TickService, whose Go code the binary does
// not link, and reflection v1 that describes it (and health and
// reflection) from descriptors built at run time, as a server in another
// language would.
func withTicks(t *testing.T) func(*grpc.Server) {
	files := new(protoregistry.Files)
	common, tick := tickFiles()
	served := linked(t, "google/api/annotations.proto", "ssegate/v1/options.proto",
		"grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto")
	for _, fdp := range append(served, common, tick) {
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			t.Fatal(err)
		}
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	return func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{
			ServiceName: tickService,
			HandlerType: (*any)(nil),
			Streams: []grpc.StreamDesc{{StreamName: "Ticks", ServerStreams: true,
				Handler: func(any, grpc.ServerStream) error { return nil }}},
			Metadata: "test/v1/tick.proto",
		}, struct{}{})
		reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(reflection.ServerOptions{
			Services: s, DescriptorResolver: files,
		}))
	}
}

// stalledReflection is a v1 reflection service that never answers.
type stalledReflection struct {
	reflectionv1.UnimplementedServerReflectionServer
}

func (stalledReflection) ServerReflectionInfo(s grpc.BidiStreamingServer[reflectionv1.ServerReflectionRequest, reflectionv1.ServerReflectionResponse]) error {
	<-s.Context().Done()
	return s.Context().Err()
}

func TestLoadReflection(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, addr string, services []string, opts ...upstream.LoadOption) (*upstream.Descriptors, error) {
		t.Helper()
		cfg := upstream.Config{Name: "ticks", Addrs: []string{addr}, Reflection: true, Services: services}
		return upstream.Load(bounded(t), cfg, dial(t, cfg), opts...)
	}
	both := func(s *grpc.Server) { withHealth(s); reflection.Register(s) }

	t.Run("health named", func(t *testing.T) {
		t.Parallel()
		d, err := load(t, serve(t, both), []string{"grpc.health.v1.Health"})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Services) != 1 || d.Services[0].FullName() != "grpc.health.v1.Health" {
			t.Fatalf("services %v, want [grpc.health.v1.Health]", names(d.Services))
		}
		methods := d.Services[0].Methods()
		for _, m := range []string{"Check", "Watch"} {
			if methods.ByName(protoreflect.Name(m)) == nil {
				t.Errorf("grpc.health.v1.Health has no method %s", m)
			}
		}
		if !methods.ByName("Watch").IsStreamingServer() {
			t.Error("Watch is not a server stream")
		}
	})
	t.Run("v1alpha only", func(t *testing.T) {
		t.Parallel()
		addr := serve(t, func(s *grpc.Server) {
			withHealth(s)
			reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(reflection.ServerOptions{Services: s}))
		})
		d, err := load(t, addr, []string{"grpc.health.v1.Health"})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(d.Services); len(got) != 1 || got[0] != "grpc.health.v1.Health" {
			t.Errorf("services %v, want [grpc.health.v1.Health]", got)
		}
	})
	// With nothing else to offer, health is what the server exposes:
	// `ssegate -upstream health=… -reflection` needs no service named.
	t.Run("only health and reflection: health exposed", func(t *testing.T) {
		t.Parallel()
		d, err := load(t, serve(t, both), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(d.Services); !slices.Equal(got, []protoreflect.FullName{"grpc.health.v1.Health"}) {
			t.Errorf("services %v, want [grpc.health.v1.Health]", got)
		}
	})
	t.Run("service of descriptors built at run time, health and reflection left out", func(t *testing.T) {
		t.Parallel()
		ticks := withTicks(t)
		d, err := load(t, serve(t, func(s *grpc.Server) { withHealth(s); ticks(s) }), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkTick(t, d)
	})
	t.Run("several named, in order", func(t *testing.T) {
		t.Parallel()
		ticks := withTicks(t)
		want := []string{"grpc.health.v1.Health", tickService, "grpc.reflection.v1.ServerReflection"}
		d, err := load(t, serve(t, func(s *grpc.Server) { withHealth(s); ticks(s) }), want)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range names(d.Services) {
			got = append(got, string(n))
		}
		if !slices.Equal(got, want) {
			t.Errorf("services %v, want %v", got, want)
		}
	})

	bad := []struct {
		name     string
		addr     func(t *testing.T) string
		services []string
		opts     []upstream.LoadOption
		// connectFirst waits for the connection before Load's timeout
		// starts: any answer, even Unimplemented, means it is ready.
		connectFirst bool
		is           error
		want         string
	}{
		{name: "only reflection", addr: func(t *testing.T) string { return serve(t, func(s *grpc.Server) { reflection.Register(s) }) },
			is: upstream.ErrNoServices, want: `upstream "ticks": reflection: no services to expose (the descriptors define no service but reflection`},
		{name: "named service not served", addr: func(t *testing.T) string { return serve(t, both) }, services: []string{"test.v1.Nope"},
			is: upstream.ErrServiceNotFound, want: `upstream "ticks": reflection: service not found: test.v1.Nope`},
		{name: "no reflection", addr: func(t *testing.T) string { return serve(t, withHealth) },
			is: upstream.ErrNoReflection, want: `upstream "ticks": no reflection service`},
		{name: "nothing listens", addr: freeAddr, opts: []upstream.LoadOption{upstream.WithReflectionTimeout(300 * time.Millisecond)},
			is: upstream.ErrUnreachable, want: `upstream "ticks": unreachable: `},
		// Ready but silent is not unreachable.
		{name: "reflection never answers", addr: func(t *testing.T) string {
			return serve(t, func(s *grpc.Server) { reflectionv1.RegisterServerReflectionServer(s, stalledReflection{}) })
		}, opts: []upstream.LoadOption{upstream.WithReflectionTimeout(300 * time.Millisecond)}, connectFirst: true,
			is: nil, want: `upstream "ticks": reflection: no answer within 300ms: `},
		{name: "timeout not positive", addr: func(t *testing.T) string { return "127.0.0.1:1" }, opts: []upstream.LoadOption{upstream.WithReflectionTimeout(0)},
			want: `upstream "ticks": reflection timeout 0s is not positive`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := upstream.Config{Name: "ticks", Addrs: []string{tt.addr(t)}, Reflection: true, Services: tt.services}
			cc := dial(t, cfg)
			if tt.connectFirst {
				_ = check(bounded(t), cc, grpc.WaitForReady(true))
			}
			_, err := upstream.Load(bounded(t), cfg, cc, tt.opts...)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want %q (%v)", err, tt.want, tt.is)
			}
			if tt.is == nil && errors.Is(err, upstream.ErrUnreachable) {
				t.Errorf("Load: %v, want no ErrUnreachable", err)
			}
		})
	}

	t.Run("no connection", func(t *testing.T) {
		t.Parallel()
		_, err := upstream.Load(bounded(t), upstream.Config{Name: "ticks", Addrs: []string{"127.0.0.1:1"}, Reflection: true}, nil)
		if err == nil || !strings.Contains(err.Error(), `upstream "ticks": reflection needs a connection`) {
			t.Errorf("Load: %v, want reflection needs a connection", err)
		}
	})
}
