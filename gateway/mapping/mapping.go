// Package mapping turns a streamed response message into a server-sent
// event, following the ssegate.v1 options and, without them, the defaults:
// when the message's fields sit in a single oneof, the set case names the
// event and its value is the data; otherwise the event is anonymous and the
// data is the message as protojson on one line.
package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/sse"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
)

// Names of the events the gateway sends itself (package relay). No message
// may take them: a oneof case or fixed name so named is refused by New, and
// an event_name value that takes one is refused by Map.
const (
	// EventEnd closes a stream that ended cleanly.
	EventEnd = "end"
	// EventError closes a stream that failed for good.
	EventError = "error"
	// EventReconnect closes a stream the gateway ends itself (drain,
	// lifetime, a cap, a transient failure before any event): its retry
	// tells the client when to come back.
	EventReconnect = "reconnect"
	// EventReset tells a client that its resume point is no longer
	// available and names the oldest id that is.
	EventReset = "reset"
)

// Reserved reports whether name is one of the gateway's own event names.
func Reserved(name string) bool {
	switch name {
	case EventEnd, EventError, EventReconnect, EventReset:
		return true
	}
	return false
}

// ErrReservedName is returned for an event name that is the gateway's own.
var ErrReservedName = errors.New("mapping: event name is reserved for the gateway")

// Mapper maps messages of one type to events. It is safe for concurrent use.
type Mapper struct {
	desc      protoreflect.MessageDescriptor
	idField   protoreflect.FieldDescriptor
	nameField protoreflect.FieldDescriptor
	fixedName string
	oneof     protoreflect.OneofDescriptor
	// raw is the raw_text field of the message itself, used when the data
	// is the whole message.
	raw protoreflect.FieldDescriptor
	// caseRaw holds, per message-typed oneof case, the raw_text field of
	// the case's message type.
	caseRaw map[protoreflect.Name]protoreflect.FieldDescriptor
	json    protojson.MarshalOptions
	// flat, when not nil, encodes the whole message without protojson:
	// four times faster on small messages (see flat.go).
	flat []flatField
}

// New validates the options on md and returns its mapper.
func New(md protoreflect.MessageDescriptor) (*Mapper, error) {
	m := &Mapper{
		desc:    md,
		caseRaw: map[protoreflect.Name]protoreflect.FieldDescriptor{},
		// Like grpc-gateway's REST responses: zero values are present, so a
		// frontend always finds every field.
		json: protojson.MarshalOptions{EmitUnpopulated: true},
	}
	mo, _ := proto.GetExtension(md.Options(), ssegatev1.E_Message).(*ssegatev1.MessageOptions)
	m.fixedName = mo.GetEvent()
	if Reserved(m.fixedName) {
		return nil, fmt.Errorf("%w: %s: event %q", ErrReservedName, md.FullName(), m.fixedName)
	}

	var err error
	if m.raw, err = rawField(md); err != nil {
		return nil, err
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		fo := fieldOptions(fd)
		switch {
		case fo.GetEventId():
			if m.idField != nil {
				return nil, fmt.Errorf("mapping: %s: more than one event_id field", md.FullName())
			}
			if !isIDKind(fd) {
				return nil, fmt.Errorf("mapping: %s: event_id field %s must be an integer or string", md.FullName(), fd.Name())
			}
			m.idField = fd
		case fo.GetEventName():
			if fd.Kind() != protoreflect.StringKind || fd.IsList() {
				return nil, fmt.Errorf("mapping: %s: event_name field %s must be a string", md.FullName(), fd.Name())
			}
			m.nameField = fd
		}
	}

	oneofs := md.Oneofs()
	var real []protoreflect.OneofDescriptor
	for i := range oneofs.Len() {
		if od := oneofs.Get(i); !od.IsSynthetic() {
			real = append(real, od)
		}
	}
	switch name := mo.GetEventOneof(); {
	case name != "":
		m.oneof = oneofs.ByName(protoreflect.Name(name))
		if m.oneof == nil {
			return nil, fmt.Errorf("mapping: %s: no oneof named %q", md.FullName(), name)
		}
	case len(real) == 1:
		m.oneof = real[0]
	}
	if m.oneof != nil {
		cases := m.oneof.Fields()
		for i := range cases.Len() {
			fd := cases.Get(i)
			if Reserved(string(fd.Name())) {
				return nil, fmt.Errorf("%w: %s: oneof case %s", ErrReservedName, md.FullName(), fd.Name())
			}
			if fd.Message() == nil {
				continue
			}
			raw, err := rawField(fd.Message())
			if err != nil {
				return nil, err
			}
			if raw != nil {
				m.caseRaw[fd.Name()] = raw
			}
		}
	}
	if m.oneof == nil {
		m.flat = flatFields(md)
	}
	return m, nil
}

func fieldOptions(fd protoreflect.FieldDescriptor) *ssegatev1.FieldOptions {
	fo, _ := proto.GetExtension(fd.Options(), ssegatev1.E_Field).(*ssegatev1.FieldOptions)
	return fo
}

// rawField returns the field of md marked raw_text, checking that there is
// at most one and that it is a singular string.
func rawField(md protoreflect.MessageDescriptor) (protoreflect.FieldDescriptor, error) {
	var found protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fieldOptions(fd).GetRawText() || fd.ContainingOneof() != nil && !fd.ContainingOneof().IsSynthetic() {
			continue
		}
		if fd.Kind() != protoreflect.StringKind || fd.IsList() {
			return nil, fmt.Errorf("mapping: %s: raw_text field %s must be a string", md.FullName(), fd.Name())
		}
		if found != nil {
			return nil, fmt.Errorf("mapping: %s: more than one raw_text field", md.FullName())
		}
		found = fd
	}
	return found, nil
}

func isIDKind(fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() {
		return false
	}
	switch fd.Kind() {
	case protoreflect.StringKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

// ErrWrongType is returned when Map gets a message of another type.
var ErrWrongType = errors.New("mapping: message of the wrong type")

// Map fills ev from msg. It reuses ev.Data's storage; ev.Retry is left as
// it is. An event_name value that is Reserved is an error; an id or name
// with CR, LF or NUL is caught by the encoder, and an id that a client
// could not resume with by the relay (see resume.CheckID).
func (m *Mapper) Map(msg proto.Message, ev *sse.Event) error {
	pm := msg.ProtoReflect()
	if pm.Descriptor() != m.desc {
		return ErrWrongType
	}
	ev.ID, ev.Name = "", m.fixedName
	if m.idField != nil && pm.Has(m.idField) {
		ev.ID = formatID(m.idField, pm.Get(m.idField))
	}
	named := false
	if m.nameField != nil {
		if name := pm.Get(m.nameField).String(); name != "" {
			if Reserved(name) {
				return fmt.Errorf("%w: %q", ErrReservedName, name)
			}
			ev.Name, named = name, true
		}
	}
	if m.oneof != nil {
		if fd := pm.WhichOneof(m.oneof); fd != nil {
			if !named {
				ev.Name = string(fd.Name())
			}
			return m.caseData(fd, pm.Get(fd), ev)
		}
	}
	if m.raw != nil {
		ev.Data = append(ev.Data[:0], pm.Get(m.raw).String()...)
		return nil
	}
	var err error
	if m.flat != nil {
		ev.Data, err = appendFlat(ev.Data[:0], m.flat, pm)
		return err
	}
	ev.Data, err = m.json.MarshalAppend(ev.Data[:0], msg)
	return err
}

func (m *Mapper) caseData(fd protoreflect.FieldDescriptor, v protoreflect.Value, ev *sse.Event) error {
	if fd.Message() != nil {
		if raw := m.caseRaw[fd.Name()]; raw != nil {
			ev.Data = append(ev.Data[:0], v.Message().Get(raw).String()...)
			return nil
		}
		var err error
		ev.Data, err = m.json.MarshalAppend(ev.Data[:0], v.Message().Interface())
		return err
	}
	if fd.Kind() == protoreflect.StringKind && fieldOptions(fd).GetRawText() {
		ev.Data = append(ev.Data[:0], v.String()...)
		return nil
	}
	b, err := scalarJSON(fd, v)
	ev.Data = append(ev.Data[:0], b...)
	return err
}

// scalarJSON encodes a scalar oneof case the way protojson would encode it
// as a field value: 64-bit integers as strings, enums by name, bytes in
// base64.
func scalarJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return json.Marshal(v.String())
	case protoreflect.BytesKind:
		return json.Marshal(v.Bytes())
	case protoreflect.BoolKind:
		return strconv.AppendBool(nil, v.Bool()), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return json.Marshal(string(ev.Name()))
		}
		return strconv.AppendInt(nil, int64(v.Enum()), 10), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(nil, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(nil, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return json.Marshal(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return json.Marshal(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return json.Marshal(v.Float())
	}
	return nil, fmt.Errorf("mapping: unsupported oneof case kind %s", fd.Kind())
}

func formatID(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	default:
		return strconv.FormatInt(v.Int(), 10)
	}
}

// Kind describes one kind of event that Map produces, for documentation
// such as an OpenAPI document.
type Kind struct {
	// Name is the event's name; empty for an anonymous event, which
	// EventSource dispatches as "message".
	Name string
	// NameField, when not nil, is the string field of the message whose
	// value names the event instead of Name (see FieldOptions.event_name).
	NameField protoreflect.FieldDescriptor
	// Case is the oneof case whose value is the data, or nil when the data
	// is the whole message.
	Case protoreflect.FieldDescriptor
	// Raw is the string field whose text is the data as it is, one data:
	// line per line; nil when the data is JSON (the message, the case's
	// message, or the case's scalar as protojson encodes it).
	Raw protoreflect.FieldDescriptor
}

// IDField returns the field whose value becomes the event's id:, or nil
// when events carry no id. A zero value sends no id.
func (m *Mapper) IDField() protoreflect.FieldDescriptor { return m.idField }

// Kinds lists the events Map produces: one per case of the event oneof
// when the message has one, else one for the whole message. (A message
// whose oneof has no case set is sent like a message without a oneof; no
// kind lists that.)
func (m *Mapper) Kinds() []Kind {
	if m.oneof == nil {
		return []Kind{{Name: m.fixedName, NameField: m.nameField, Raw: m.raw}}
	}
	cases := m.oneof.Fields()
	kinds := make([]Kind, 0, cases.Len())
	for i := range cases.Len() {
		fd := cases.Get(i)
		k := Kind{Name: string(fd.Name()), NameField: m.nameField, Case: fd, Raw: m.caseRaw[fd.Name()]}
		if fd.Message() == nil && fd.Kind() == protoreflect.StringKind && fieldOptions(fd).GetRawText() {
			k.Raw = fd
		}
		kinds = append(kinds, k)
	}
	return kinds
}
