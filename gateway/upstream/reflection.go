package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jhump/protoreflect/v2/grpcreflect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// loadReflection asks the upstream's reflection service (v1, else v1alpha)
// for its services and the files that define them, within timeout.
func loadReflection(ctx context.Context, cfg Config, conn grpc.ClientConnInterface, timeout time.Duration) (*Descriptors, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := grpcreflect.NewClientAuto(rctx, waitForReady{conn},
		grpcreflect.WithFallbackResolvers(wellKnownFiles{}, nil))
	defer client.Reset()

	listed, err := client.ListServices()
	if err != nil {
		return nil, reflectionError(ctx, conn, timeout, err)
	}
	names, err := selectServices(listed, cfg.Services)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}

	// Each file once, after the files it imports.
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var collect func(fd protoreflect.FileDescriptor)
	collect = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			collect(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, name := range names {
		fd, err := client.FileContainingSymbol(name)
		if err != nil {
			if grpcreflect.IsElementNotFoundError(err) || status.Code(err) == codes.NotFound {
				return nil, fmt.Errorf("reflection: %w: %s: %v", ErrUnresolved, name, err)
			}
			return nil, reflectionError(ctx, conn, timeout, err)
		}
		collect(fd)
	}

	// The reflection client parses files with proto.Unmarshal, whose
	// default resolver is protoregistry.GlobalTypes, so options whose
	// extensions the binary links in are already extensions (the tests
	// read them); resolve gives the files a registry of their own.
	files, err := resolve(set)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	services, err := lookupServices(files, names)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	return &Descriptors{Services: services, Files: files}, nil
}

// reflectionError names the cause of a failed reflection call: the
// caller's context, no reflection service, or a connection that never
// became ready.
func reflectionError(ctx context.Context, conn grpc.ClientConnInterface, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("reflection: %w", ctx.Err())
	}
	code := status.Code(err)
	if code == codes.Unimplemented {
		return fmt.Errorf("%w (v1 and v1alpha answer Unimplemented): %v", ErrNoReflection, err)
	}
	if code == codes.DeadlineExceeded || code == codes.Unavailable || errors.Is(err, context.DeadlineExceeded) {
		// A connection that is ready but slow to answer is not unreachable.
		if s, ok := conn.(interface{ GetState() connectivity.State }); ok && s.GetState() == connectivity.Ready {
			return fmt.Errorf("reflection: no answer within %s: %w", timeout, err)
		}
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return fmt.Errorf("reflection: %w", err)
}

// waitForReady makes reflection calls wait for the connection, within
// their deadline, instead of failing at the first refused attempt: an
// upstream that starts with the gateway gets the whole timeout.
type waitForReady struct{ grpc.ClientConnInterface }

func (w waitForReady) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return w.ClientConnInterface.Invoke(ctx, method, args, reply, append([]grpc.CallOption{grpc.WaitForReady(true)}, opts...)...)
}

func (w waitForReady) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return w.ClientConnInterface.NewStream(ctx, desc, method, append([]grpc.CallOption{grpc.WaitForReady(true)}, opts...)...)
}

// wellKnownFiles lends the reflection client the binary's copies of
// well-known files that a server's reflection does not serve.
type wellKnownFiles struct{}

func (wellKnownFiles) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if !wellKnown(path) {
		return nil, protoregistry.NotFound
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (wellKnownFiles) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil, err
	}
	if !wellKnown(d.ParentFile().Path()) {
		return nil, protoregistry.NotFound
	}
	return d, nil
}
