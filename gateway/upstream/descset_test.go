package upstream_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ssegate/ssegate/gateway/upstream"
)

func TestLoadDescriptorSet(t *testing.T) {
	t.Parallel()
	common, tick := tickFiles()
	unresolved := proto.Clone(tick).(*descriptorpb.FileDescriptorProto)
	unresolved.Service[0].Method[0].InputType = proto.String(".test.v1.Missing")

	ok := []struct {
		name     string
		set      string
		services []string
	}{
		{"with imports", writeSet(t, append(tickDeps(t), common, tick)...), nil},
		{"well-known imports left out", writeSet(t, common, tick), nil},
		{"service named", writeSet(t, append(tickDeps(t), common, tick)...), []string{tickService}},
		// A set with a health service of its own still leaves it out.
		{"health defined too", writeSet(t, append(linked(t, "grpc/health/v1/health.proto"), common, tick)...), nil},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := upstream.Load(context.Background(), upstream.Config{
				Name: "ticks", Addrs: []string{"127.0.0.1:1"}, DescriptorSet: tt.set, Services: tt.services,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkTick(t, d)
		})
	}

	// A set that defines nothing but health exposes it.
	t.Run("only health", func(t *testing.T) {
		t.Parallel()
		d, err := upstream.Load(context.Background(), upstream.Config{
			Name: "ticks", Addrs: []string{"127.0.0.1:1"},
			DescriptorSet: writeSet(t, linked(t, "grpc/health/v1/health.proto")...),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(d.Services); !slices.Equal(got, []protoreflect.FullName{"grpc.health.v1.Health"}) {
			t.Errorf("services %v, want [grpc.health.v1.Health]", got)
		}
	})

	t.Run("health named", func(t *testing.T) {
		t.Parallel()
		d, err := upstream.Load(context.Background(), upstream.Config{
			Name: "ticks", Addrs: []string{"127.0.0.1:1"}, Services: []string{"grpc.health.v1.Health", tickService},
			DescriptorSet: writeSet(t, append(linked(t, "grpc/health/v1/health.proto"), append(tickDeps(t), common, tick)...)...),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(d.Services); !slices.Equal(got, []protoreflect.FullName{"grpc.health.v1.Health", tickService}) {
			t.Errorf("services %v, want them in the order named", got)
		}
	})

	bad := []struct {
		name     string
		set      string
		services []string
		is       error
		want     string
	}{
		{"dependency missing", writeSet(t, append(tickDeps(t), tick)...), nil, upstream.ErrUnresolved,
			"test/v1/tick.proto imports test/v1/common.proto, which the set does not hold"},
		{"type missing", writeSet(t, append(tickDeps(t), common, unresolved)...), nil, upstream.ErrUnresolved, "test.v1.Missing"},
		{"file twice", writeSet(t, append(tickDeps(t), common, common, tick)...), nil, upstream.ErrUnresolved, "test/v1/common.proto appears twice"},
		{"garbage", writeFile(t, []byte("this is not a descriptor set")), nil, upstream.ErrUnresolved, "not a FileDescriptorSet"},
		{"empty", writeFile(t, nil), nil, upstream.ErrUnresolved, "the set holds no files"},
		{"service named but not defined", writeSet(t, common, tick), []string{"test.v1.Nope"}, upstream.ErrServiceNotFound, "test.v1.Nope"},
		{"only reflection", writeSet(t, linked(t, "grpc/reflection/v1/reflection.proto")...), nil, upstream.ErrNoServices, "no services to expose"},
		{"no service at all", writeSet(t, common), nil, upstream.ErrNoServices, "no services to expose"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := upstream.Load(context.Background(), upstream.Config{
				Name: "ticks", Addrs: []string{"127.0.0.1:1"}, DescriptorSet: tt.set, Services: tt.services,
			}, nil)
			if !errors.Is(err, tt.is) {
				t.Fatalf("Load: %v, want %v", err, tt.is)
			}
			prefix := `upstream "ticks": descriptor set ` + tt.set + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %q, want %q…%q", err, prefix, tt.want)
			}
		})
	}
}
