package rest

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway/route"
)

// Option configures Register.
type Option func(*options)

type options struct {
	onlyDefaults bool
	types        TypeFunc
}

// OnlyDefaults registers only the default bindings of methods without a
// google.api.http rule, for a mux whose generated handlers already serve the
// rules.
func OnlyDefaults() Option { return func(o *options) { o.onlyDefaults = true } }

// WithTypes sets how request and response messages are made (default
// DefaultTypes).
func WithTypes(f TypeFunc) Option { return func(o *options) { o.types = f } }

// TypeFunc returns the Go type that messages of d are made with. Whatever it
// returns for google.api.HttpBody, the handlers use the generated
// httpbody.HttpBody: grpc-gateway's runtime and marshalers recognise only
// that type.
type TypeFunc func(d protoreflect.MessageDescriptor) protoreflect.MessageType

// DefaultTypes prefers the generated Go type when it is linked in and falls
// back to a dynamic message (route.MessageType).
func DefaultTypes(d protoreflect.MessageDescriptor) protoreflect.MessageType {
	return route.MessageType(d)
}

// DynamicTypes always makes dynamic messages of d itself, ignoring any
// generated type of the same name: the loaded descriptors are served as they
// are even when a linked-in generated package is of another version.
func DynamicTypes(d protoreflect.MessageDescriptor) protoreflect.MessageType {
	return dynamicpb.NewMessageType(d)
}
