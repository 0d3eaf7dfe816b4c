// Package resume reads a client's Last-Event-ID and hands it to the backend,
// in the request field marked ssegate.v1.field.last_event_id or as gRPC
// metadata, so a reconnecting EventSource continues where it stopped.
package resume

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	// Header is the header EventSource sends when it reconnects.
	Header = "Last-Event-ID"
	// Param is the query parameter a client may use on a first connect.
	Param = "lastEventId"
	// MetadataKey carries the id to backends without a marked field.
	MetadataKey = "last-event-id"
	// MaxLength bounds an id, in bytes.
	MaxLength = 256
	// MetadataReset is the response header metadata with which a backend
	// says that the resume point it was given is older than the history
	// it keeps: its value is the oldest id still available, and the
	// stream goes on from there. The gateway sends a reset event naming it
	// before the events that follow, so that a client knows to reload its
	// state.
	MetadataReset = "x-ssegate-reset"
)

// Errors for ids that are refused with 400.
var (
	ErrTooLong   = errors.New("resume: Last-Event-ID is too long")
	ErrMalformed = errors.New("resume: Last-Event-ID is malformed")
)

// FromRequest returns the request's Last-Event-ID: the header if present,
// else the query parameter. An empty value counts as absent, as EventSource
// sends none until it has seen an id. The id must pass CheckID.
func FromRequest(r *http.Request) (string, error) {
	id := r.Header.Get(Header)
	if id == "" {
		id = r.URL.Query().Get(Param)
	}
	if err := CheckID(id); err != nil {
		return "", err
	}
	return id, nil
}

// CheckID is the one rule for event ids, in both directions: an id the
// gateway sends must be one the client can send back. At most MaxLength
// bytes of printable ASCII, since the id may travel as gRPC metadata.
// The relay refuses to send an event whose id breaks it (a backend fault),
// so that no client is ever told to resume from an id it would be refused.
func CheckID(id string) error {
	if len(id) > MaxLength {
		return ErrTooLong
	}
	for i := range len(id) {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return ErrMalformed
		}
	}
	return nil
}

// Apply parses id as the type of field fd and sets it in msg.
func Apply(msg proto.Message, fd protoreflect.FieldDescriptor, id string) error {
	v, err := parse(fd, id)
	if err != nil {
		return fmt.Errorf("%w: %s expects %s", ErrMalformed, fd.Name(), fd.Kind())
	}
	msg.ProtoReflect().Set(fd, v)
	return nil
}

func parse(fd protoreflect.FieldDescriptor, id string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(id), nil
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(id)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(id, 10, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(id, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(id, 10, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(id, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	}
	return protoreflect.Value{}, errors.New("unsupported field kind")
}
