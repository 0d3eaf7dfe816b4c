package upstream

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// loadFile loads cfg.DescriptorSet.
func loadFile(cfg Config) (*Descriptors, error) {
	d, err := loadSet(cfg)
	if err != nil {
		return nil, fmt.Errorf("descriptor set %s: %w", cfg.DescriptorSet, err)
	}
	return d, nil
}

func loadSet(cfg Config) (*Descriptors, error) {
	b, err := os.ReadFile(cfg.DescriptorSet)
	if err != nil {
		return nil, err
	}
	set, err := unmarshalSet(b)
	if err != nil {
		return nil, err
	}
	// The names of the set's own services, in the set's order, before
	// resolve appends well-known files.
	var defined []protoreflect.FullName
	for _, f := range set.GetFile() {
		for _, s := range f.GetService() {
			defined = append(defined, protoreflect.FullName(f.GetPackage()).Append(protoreflect.Name(s.GetName())))
		}
	}
	files, err := resolve(set)
	if err != nil {
		return nil, err
	}
	names, err := selectServices(defined, cfg.Services)
	if err != nil {
		return nil, err
	}
	services, err := lookupServices(files, names)
	if err != nil {
		return nil, err
	}
	return &Descriptors{Services: services, Files: files}, nil
}
