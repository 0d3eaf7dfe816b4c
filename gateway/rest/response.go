package rest

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// responseBody stands for the generated response_<Service>_<Method>_<n>
// type of a binding with a response_body: the response, whose
// XXX_ResponseBody ForwardResponseMessage marshals instead of it. Like the
// generated type it is a proto.Message that is not the response's own type,
// so a marshaler's ContentType sees a message, never an HttpBody.
type responseBody struct {
	proto.Message
	field       protoreflect.FieldDescriptor
	enumNumbers bool
}

// XXX_ResponseBody returns the field as the JSONPb marshaler would get it
// from generated code: a message, nil for an unset field with presence, and
// values of the Go types generated code has otherwise.
func (r responseBody) XXX_ResponseBody() interface{} {
	return fieldValue(r.Message.ProtoReflect(), r.field, r.enumNumbers)
}

func newResponseBody(resp proto.Message, fd protoreflect.FieldDescriptor, marshaler runtime.Marshaler) responseBody {
	return responseBody{Message: resp, field: fd, enumNumbers: enumNumbers(marshaler)}
}

// enumNumbers reports whether marshaler writes enums as numbers: the JSONPb
// marshaler decides that for a generated enum, which values of enums
// without a Go type cannot ask it.
func enumNumbers(marshaler runtime.Marshaler) bool {
	for {
		switch m := marshaler.(type) {
		case *runtime.HTTPBodyMarshaler:
			marshaler = m.Marshaler
		case *runtime.JSONPb:
			return m.UseEnumNumbers
		default:
			return false
		}
	}
}

func fieldValue(m protoreflect.Message, fd protoreflect.FieldDescriptor, numbers bool) any {
	switch {
	case fd.IsMap():
		// The JSONPb marshaler writes a map's keys with %v and marshals each
		// value on its own, whatever the map's Go type.
		out := make(map[string]any, m.Get(fd).Map().Len())
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			out[fmt.Sprint(k.Interface())] = singleValue(fd.MapValue(), v, numbers)
			return true
		})
		return out
	case fd.IsList():
		l := m.Get(fd).List()
		if fd.Message() != nil {
			// []proto.Message is a slice of messages to the marshaler, as
			// []*T is, and nil when empty as after unmarshalling.
			var out []proto.Message
			for i := range l.Len() {
				out = append(out, l.Get(i).Message().Interface())
			}
			return out
		}
		var out []any
		for i := range l.Len() {
			out = append(out, singleValue(fd, l.Get(i), numbers))
		}
		return out
	case fd.Message() != nil:
		if fd.Message().FullName() == httpBodyName {
			if !m.Has(fd) {
				return (*httpbody.HttpBody)(nil)
			}
			return toHTTPBody(m.Get(fd).Message())
		}
		return m.Get(fd).Message().Interface()
	case pointerField(fd) && !m.Has(fd):
		return nil
	}
	return singleValue(fd, m.Get(fd), numbers)
}

func singleValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, numbers bool) any {
	switch {
	case fd.Message() != nil:
		return v.Message().Interface()
	case fd.Kind() == protoreflect.EnumKind:
		return enumJSON{ed: fd.Enum(), n: v.Enum(), numbers: numbers}
	}
	return v.Interface()
}

// enumJSON is an enum value as the JSONPb marshaler writes a generated one
// outside a message: its name (the number of an unknown value, quoted), or
// its number with UseEnumNumbers.
type enumJSON struct {
	ed      protoreflect.EnumDescriptor
	n       protoreflect.EnumNumber
	numbers bool
}

func (e enumJSON) MarshalJSON() ([]byte, error) {
	if e.numbers {
		return strconv.AppendInt(nil, int64(e.n), 10), nil
	}
	name := strconv.Itoa(int(e.n))
	if v := e.ed.Values().ByNumber(e.n); v != nil {
		name = string(v.Name())
	}
	return json.Marshal(name)
}

// toHTTPBody returns m as the generated HttpBody, which the runtime's
// HTTPBodyMarshaler writes raw.
func toHTTPBody(m protoreflect.Message) *httpbody.HttpBody {
	if hb, ok := m.Interface().(*httpbody.HttpBody); ok {
		return hb
	}
	hb := &httpbody.HttpBody{}
	if b, err := proto.Marshal(m.Interface()); err == nil {
		_ = proto.Unmarshal(b, hb) // bytes of the same message type
	}
	return hb
}
