package upstream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	_ "google.golang.org/genproto/googleapis/api/annotations" // google.api.http parses as an extension
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/ssegate/ssegate/gen/ssegate/v1" // ssegate.v1 options parse as extensions
)

// DefaultReflectionTimeout bounds Load's wait for the connection and the
// reflection answers.
const DefaultReflectionTimeout = 10 * time.Second

// Descriptors are what an upstream exposes.
type Descriptors struct {
	// Services are the services to expose: in the order Config.Services
	// names them, else sorted by full name.
	Services []protoreflect.ServiceDescriptor
	// Files holds the files the services resolve in, with the source info
	// (comments) the descriptors carried. Options whose extensions the
	// binary links in (google.api.http, ssegate.v1) are read with
	// proto.GetExtension.
	Files *protoregistry.Files
}

type loadOptions struct {
	reflectionTimeout time.Duration
	err               error
}

// LoadOption changes how Load gets descriptors.
type LoadOption func(*loadOptions)

// WithReflectionTimeout bounds the wait for the connection to become ready
// and for the reflection answers; the default is DefaultReflectionTimeout.
func WithReflectionTimeout(d time.Duration) LoadOption {
	return func(o *loadOptions) {
		if d <= 0 {
			o.err = fmt.Errorf("reflection timeout %s is not positive", d)
			return
		}
		o.reflectionTimeout = d
	}
}

// healthService is the gRPC health service, which the default selection
// leaves out unless the upstream offers nothing else.
const healthService protoreflect.FullName = "grpc.health.v1.Health"

// hidden are services that the default selection leaves out: they exist
// for tools and load balancers, not browsers.
var hidden = []protoreflect.FullName{
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
	healthService,
}

// Load returns the services cfg exposes and the files they resolve in,
// from cfg.DescriptorSet, or else by reflection over conn (which may be
// nil for a descriptor set). Without cfg.Services, every service the
// descriptors define is exposed but reflection and health: for a
// descriptor set that is each service of each file in the set, imports
// included, since a set does not say which files were imports (narrow it
// with Services when an import, such as google/longrunning, defines one
// the upstream does not serve); by reflection, each service the server
// lists. When that leaves nothing but the health service is there (a
// server that offers only health and reflection), health is exposed: it
// is then the one thing the upstream offers, and an upstream configured
// by flags has no way to name it.
func Load(ctx context.Context, cfg Config, conn grpc.ClientConnInterface, opts ...LoadOption) (*Descriptors, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := loadOptions{reflectionTimeout: DefaultReflectionTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, o.err)
	}
	var d *Descriptors
	var err error
	if cfg.DescriptorSet != "" {
		d, err = loadFile(cfg)
	} else {
		if conn == nil {
			return nil, fmt.Errorf("upstream %q: reflection needs a connection", cfg.Name)
		}
		d, err = loadReflection(ctx, cfg, conn, o.reflectionTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}
	return d, nil
}

// selectServices picks from the services available those that want names,
// or when want is empty all but the hidden ones, or when those are none
// the health service if it is available. (Reflection is never picked
// unnamed: it is bidirectional, which the gateway cannot serve.)
func selectServices(available []protoreflect.FullName, want []string) ([]protoreflect.FullName, error) {
	if len(want) > 0 {
		var picked []protoreflect.FullName
		for _, w := range want {
			name := protoreflect.FullName(w)
			if !slices.Contains(available, name) {
				return nil, fmt.Errorf("%w: %s", ErrServiceNotFound, name)
			}
			picked = append(picked, name)
		}
		return picked, nil
	}
	var picked []protoreflect.FullName
	for _, name := range available {
		if !slices.Contains(hidden, name) && !slices.Contains(picked, name) {
			picked = append(picked, name)
		}
	}
	slices.Sort(picked)
	if len(picked) == 0 && slices.Contains(available, healthService) {
		picked = append(picked, healthService)
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("%w (the descriptors define no service but reflection, which REST and SSE cannot carry)", ErrNoServices)
	}
	return picked, nil
}

// unmarshalSet parses a serialized FileDescriptorSet with the binary's
// extension types, so that options such as google.api.http become
// extensions rather than unknown fields.
func unmarshalSet(b []byte) (*descriptorpb.FileDescriptorSet, error) {
	set := &descriptorpb.FileDescriptorSet{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("%w: not a FileDescriptorSet: %v", ErrUnresolved, err)
	}
	if len(set.GetFile()) == 0 {
		return nil, fmt.Errorf("%w: the set holds no files", ErrUnresolved)
	}
	return set, nil
}

// resolve builds the files of set. Each import must be in the set, except
// well-known files the binary links in, which are added from
// protoregistry.GlobalFiles.
func resolve(set *descriptorpb.FileDescriptorSet) (*protoregistry.Files, error) {
	have := map[string]bool{}
	for _, f := range set.GetFile() {
		if have[f.GetName()] {
			return nil, fmt.Errorf("%w: file %s appears twice", ErrUnresolved, f.GetName())
		}
		have[f.GetName()] = true
	}
	var add func(path string) bool
	add = func(path string) bool {
		if have[path] {
			return true
		}
		if !wellKnown(path) {
			return false
		}
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			return false
		}
		have[path] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).Path())
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
		return true
	}
	for i := 0; i < len(set.File); i++ { // grows as well-known files are added
		f := set.File[i]
		for _, dep := range f.GetDependency() {
			if !add(dep) {
				return nil, fmt.Errorf("%w: %s imports %s, which the set does not hold (build it with --include_imports)", ErrUnresolved, f.GetName(), dep)
			}
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnresolved, err)
	}
	return files, nil
}

// wellKnown reports whether path names a file whose content is the same
// wherever it is compiled, so that the binary's copy may stand in for one
// the descriptors lack. Any other file, even one linked in under the same
// path, may differ from the upstream's.
func wellKnown(path string) bool {
	return strings.HasPrefix(path, "google/protobuf/") ||
		strings.HasPrefix(path, "google/api/") ||
		path == "ssegate/v1/options.proto"
}

// lookupServices finds names in files.
func lookupServices(files *protoregistry.Files, names []protoreflect.FullName) ([]protoreflect.ServiceDescriptor, error) {
	services := make([]protoreflect.ServiceDescriptor, 0, len(names))
	for _, name := range names {
		d, err := files.FindDescriptorByName(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrServiceNotFound, name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a service", ErrServiceNotFound, name)
		}
		services = append(services, sd)
	}
	return services, nil
}
