package rest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// decode reads the request body into m as the generated handler does:
// marshaler.NewDecoder(req.Body).Decode(&protoReq) for body "*",
// Decode(&protoReq.Field) for a field, and for a PATCH with a FieldMask the
// body read once, decoded, and read again for the mask.
func (b *body) decode(m protoreflect.Message, marshaler runtime.Marshaler, req *http.Request) error {
	var r io.Reader = req.Body
	var again func() io.Reader
	if b.mask != nil {
		newReader, err := utilities.IOReaderFactory(req.Body)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
		r, again = newReader(), newReader
	}
	dec := marshaler.NewDecoder(r)
	if b.path == nil {
		if err := dec.Decode(m.Interface()); err != nil && !errors.Is(err, io.EOF) {
			return status.Errorf(codes.InvalidArgument, "%v", err)
		}
		return nil
	}
	parent, err := prepare(m, b.path)
	if err != nil {
		return err
	}
	fd := b.path[len(b.path)-1]
	if err := decodeField(dec, marshaler, parent, fd); err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if b.mask == nil || (m.Has(b.mask) && m.Get(b.mask).Message().Get(maskPaths(b.mask)).List().Len() > 0) {
		return nil
	}
	fm, err := runtime.FieldMaskFromRequestBody(again(), parent.Get(fd).Message().Interface())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	m.Set(b.mask, protoreflect.ValueOfMessage(fm.ProtoReflect()))
	return nil
}

func maskPaths(mask protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
	return mask.Message().Fields().ByName("paths")
}

// decodeField decodes into field fd of parent. The value is set even when
// the body is empty, as the JSONPb decoder allocates a generated field
// before it reads.
func decodeField(dec runtime.Decoder, marshaler runtime.Marshaler, parent protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	switch {
	case fd.IsMap() && fd.MapValue().Message() != nil:
		return decodeMessageMap(dec, marshaler, parent, fd)
	case fd.IsList() && fd.Message() != nil:
		return decodeMessageList(dec, marshaler, parent, fd)
	case fd.Message() != nil && !fd.IsMap():
		v := newFieldMessage(parent, fd)
		err := dec.Decode(v.Interface())
		parent.Set(fd, protoreflect.ValueOfMessage(v))
		return err
	}
	// Scalars, enums, and lists and maps of them: into a Go value of the
	// type the generated field has, so the decoder sees what it sees there.
	v := reflect.New(goType(fd))
	err := dec.Decode(v.Interface())
	setGo(parent, fd, v.Elem())
	return err
}

// newFieldMessage is a new message for field fd of parent: the generated
// HttpBody for a google.api.HttpBody field, since raw-body decoders fill
// only that type.
func newFieldMessage(parent protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Message {
	if fd.Message().FullName() == httpBodyName {
		return (&httpbody.HttpBody{}).ProtoReflect()
	}
	return parent.NewField(fd).Message()
}

// rawJSON captures a body value for decoding by hand. The JSONPb decoder
// hands a struct with UnmarshalJSON to encoding/json, which reads one value.
type rawJSON struct{ b []byte }

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	r.b = append(r.b[:0], b...)
	return nil
}

// decodeMessageList does what the JSONPb decoder does for a []*Message
// field, for message types that may have no Go type: one JSON array, each
// element unmarshalled on its own.
func decodeMessageList(dec runtime.Decoder, marshaler runtime.Marshaler, parent protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	var raw rawJSON
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw.b, &items); err != nil {
		return err
	}
	if items == nil {
		return nil
	}
	l := parent.Mutable(fd).List()
	for _, item := range items {
		e := l.NewElement().Message()
		if err := marshaler.Unmarshal(item, e.Interface()); err != nil {
			return err
		}
		l.Append(protoreflect.ValueOfMessage(e))
	}
	return nil
}

// decodeMessageMap does what the JSONPb decoder does for a map field of
// messages: keys converted from strings by the runtime's converter of the
// key's type, values unmarshalled on their own.
func decodeMessageMap(dec runtime.Decoder, marshaler runtime.Marshaler, parent protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	var raw rawJSON
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	entries := make(map[string]*json.RawMessage)
	if err := json.Unmarshal(raw.b, &entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	mp := parent.Mutable(fd).Map()
	for k, v := range entries {
		key, err := scalarConverters[mapKeyKind(fd.MapKey().Kind())].one(k)
		if err != nil {
			return err
		}
		if v == nil {
			null := json.RawMessage("null")
			v = &null
		}
		val := mp.NewValue().Message()
		if err := marshaler.Unmarshal(*v, val.Interface()); err != nil {
			return err
		}
		mp.Set(key.MapKey(), protoreflect.ValueOfMessage(val))
	}
	return nil
}

// mapKeyKind maps a key kind to the kind of the same Go type, whose
// converter the JSONPb decoder picks by Go type.
func mapKeyKind(k protoreflect.Kind) protoreflect.Kind {
	switch k {
	case protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.Int32Kind
	case protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.Int64Kind
	case protoreflect.Fixed32Kind:
		return protoreflect.Uint32Kind
	case protoreflect.Fixed64Kind:
		return protoreflect.Uint64Kind
	}
	return k
}

// goType is the Go type generated code has for fd, which is not a message
// nor holds any: T, *T for a field with presence outside a oneof, []T,
// map[K]V.
func goType(fd protoreflect.FieldDescriptor) reflect.Type {
	switch {
	case fd.IsMap():
		return reflect.MapOf(scalarType(fd.MapKey()), scalarType(fd.MapValue()))
	case fd.IsList():
		return reflect.SliceOf(scalarType(fd))
	case pointerField(fd):
		return reflect.PointerTo(scalarType(fd))
	}
	return scalarType(fd)
}

// pointerField reports whether generated code holds fd, a scalar, in a
// pointer: proto3 optional and proto2 fields. A oneof's scalar is held in
// its wrapper by value.
func pointerField(fd protoreflect.FieldDescriptor) bool {
	of := fd.ContainingOneof()
	return fd.HasPresence() && (of == nil || of.IsSynthetic())
}

var scalarTypes = map[protoreflect.Kind]reflect.Type{
	protoreflect.BoolKind:     reflect.TypeFor[bool](),
	protoreflect.Int32Kind:    reflect.TypeFor[int32](),
	protoreflect.Sint32Kind:   reflect.TypeFor[int32](),
	protoreflect.Sfixed32Kind: reflect.TypeFor[int32](),
	protoreflect.Int64Kind:    reflect.TypeFor[int64](),
	protoreflect.Sint64Kind:   reflect.TypeFor[int64](),
	protoreflect.Sfixed64Kind: reflect.TypeFor[int64](),
	protoreflect.Uint32Kind:   reflect.TypeFor[uint32](),
	protoreflect.Fixed32Kind:  reflect.TypeFor[uint32](),
	protoreflect.Uint64Kind:   reflect.TypeFor[uint64](),
	protoreflect.Fixed64Kind:  reflect.TypeFor[uint64](),
	protoreflect.FloatKind:    reflect.TypeFor[float32](),
	protoreflect.DoubleKind:   reflect.TypeFor[float64](),
	protoreflect.StringKind:   reflect.TypeFor[string](),
	protoreflect.BytesKind:    reflect.TypeFor[[]byte](),
}

func scalarType(fd protoreflect.FieldDescriptor) reflect.Type {
	if fd.Kind() == protoreflect.EnumKind {
		return enumGoType(fd.Enum())
	}
	return scalarTypes[fd.Kind()]
}

// enumGoType is the generated Go type of an enum when it is linked in, so
// that decoding errors name it as they do from generated code; otherwise an
// int32 type that the JSONPb decoder also treats as an enum.
func enumGoType(ed protoreflect.EnumDescriptor) reflect.Type {
	if et, err := protoregistry.GlobalTypes.FindEnumByName(ed.FullName()); err == nil {
		if t := reflect.TypeOf(et.New(0)); t.Kind() == reflect.Int32 {
			return t
		}
	}
	return reflect.TypeFor[enumNumber]()
}

// enumNumber stands for a generated enum type in decoding: it has the
// methods by which grpc-gateway's JSONPb decoder tells an enum.
type enumNumber int32

func (n enumNumber) String() string { return strconv.Itoa(int(n)) }

func (enumNumber) EnumDescriptor() ([]byte, []int) { return nil, nil }

// setGo sets field fd of parent from v, a value of goType(fd).
func setGo(parent protoreflect.Message, fd protoreflect.FieldDescriptor, v reflect.Value) {
	switch {
	case fd.IsMap():
		if v.Len() == 0 {
			return
		}
		mp := parent.Mutable(fd).Map()
		for it := v.MapRange(); it.Next(); {
			mp.Set(protoreflect.ValueOf(it.Key().Interface()).MapKey(), scalarValue(fd.MapValue(), it.Value()))
		}
	case fd.IsList():
		if v.Len() == 0 {
			return
		}
		l := parent.Mutable(fd).List()
		for i := range v.Len() {
			l.Append(scalarValue(fd, v.Index(i)))
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			parent.Set(fd, scalarValue(fd, v.Elem()))
		}
	default:
		parent.Set(fd, scalarValue(fd, v))
	}
}

func scalarValue(fd protoreflect.FieldDescriptor, v reflect.Value) protoreflect.Value {
	if fd.Kind() == protoreflect.EnumKind {
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(v.Int()))
	}
	return protoreflect.ValueOf(v.Interface())
}
