package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/server"
	"github.com/ssegate/ssegate/gateway/upstream"
)

// descriptorSet writes a set of one file, package pkg, with service svc:
// a unary method bound to POST /v1/things, a client-streaming one and a
// bidirectional one, and returns its path.
func descriptorSet(t *testing.T, pkg, svc string) string {
	t.Helper()
	str := proto.String
	rule := &descriptorpb.MethodOptions{}
	proto.SetExtension(rule, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/things"}, Body: "*"})
	empty := "." + pkg + ".Empty"
	fdp := &descriptorpb.FileDescriptorProto{
		Name: str(pkg + "/svc.proto"), Package: str(pkg), Syntax: str("proto3"),
		Dependency:  []string{"google/api/annotations.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: str("Empty")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: str(svc), Method: []*descriptorpb.MethodDescriptorProto{
			{Name: str("Make"), InputType: str(empty), OutputType: str(empty), Options: rule},
			{Name: str("Upload"), InputType: str(empty), OutputType: str(empty), ClientStreaming: proto.Bool(true)},
			{Name: str("Chat"), InputType: str(empty), OutputType: str(empty), ClientStreaming: proto.Bool(true), ServerStreaming: proto.Bool(true)},
		}}},
	}
	if _, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), pkg+".binpb")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testConfig(upstreams ...upstream.Config) config.Config {
	cfg := config.Default()
	cfg.Addr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Auth = config.AuthNone
	cfg.Upstreams = upstreams
	return cfg
}

// Client-streaming and bidirectional methods are skipped with a log line
// naming them; the rest of the service is served.
func TestStreamingClientMethodsSkipped(t *testing.T) {
	t.Parallel()
	set := descriptorSet(t, "acme.skip.v1", "Things")
	var logs logBuffer
	srv, err := server.New(context.Background(), testConfig(upstream.Config{Name: "things", Addrs: []string{"127.0.0.1:1"}, DescriptorSet: set}),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, m := range []string{"/acme.skip.v1.Things/Upload", "/acme.skip.v1.Things/Chat"} {
		if !strings.Contains(logs.String(), "method="+m) {
			t.Errorf("no log line names %s:\n%s", m, logs.String())
		}
	}
	if strings.Contains(logs.String(), "/acme.skip.v1.Things/Make") {
		t.Errorf("the unary method was skipped:\n%s", logs.String())
	}
}

// Two services that claim one route stop the start, naming both methods.
func TestTwoServicesOnOneRoute(t *testing.T) {
	t.Parallel()
	a, b := descriptorSet(t, "acme.a.v1", "Things"), descriptorSet(t, "acme.b.v1", "Things")
	_, err := server.New(context.Background(), testConfig(
		upstream.Config{Name: "a", Addrs: []string{"127.0.0.1:1"}, DescriptorSet: a},
		upstream.Config{Name: "b", Addrs: []string{"127.0.0.1:2"}, DescriptorSet: b},
	), slog.New(slog.DiscardHandler))
	if !errors.Is(err, gateway.ErrRouteConflict) || !strings.Contains(err.Error(), `upstream "b"`) ||
		!strings.Contains(err.Error(), "/acme.a.v1.Things/Make") || !strings.Contains(err.Error(), "/acme.b.v1.Things/Make") {
		t.Fatalf("error %v, want a route conflict naming both methods and the upstream", err)
	}
}
