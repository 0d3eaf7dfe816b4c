package upstream

import "errors"

// Causes that Load wraps, to inspect with errors.Is. Their text is bare
// because every error is already prefixed with `upstream "NAME":`.
var (
	// ErrUnreachable: the connection never became ready within the
	// reflection timeout.
	ErrUnreachable = errors.New("unreachable")
	// ErrNoReflection: the upstream answered Unimplemented to both gRPC
	// reflection v1 and v1alpha.
	ErrNoReflection = errors.New("no reflection service")
	// ErrUnresolved: the descriptors do not resolve (an import missing,
	// a type not defined, bytes that are no FileDescriptorSet).
	ErrUnresolved = errors.New("descriptors do not resolve")
	// ErrServiceNotFound: a service named in Config.Services is not
	// among those the descriptors define (or the server lists).
	ErrServiceNotFound = errors.New("service not found")
	// ErrNoServices: nothing is left to expose.
	ErrNoServices = errors.New("no services to expose")
)
