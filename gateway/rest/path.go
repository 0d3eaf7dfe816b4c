package rest

import (
	"fmt"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// param binds one path variable.
type param struct {
	name string // as in the template: "book.id"
	path []protoreflect.FieldDescriptor
	// nested parameters of proto3 requests are set by
	// runtime.PopulateFieldFromPath, as generated code sets them, or by
	// populateEnum for an enum the runtime cannot look up (unlinked); the
	// others by the converter generated code picks for the field's type.
	nested, unlinked bool
	convert          func(parent protoreflect.Message, val string) (protoreflect.Value, error)
}

// The path separator of repeated path parameters: grpc-gateway's default
// (repeated_path_param_separator=csv).
const listSeparator = ","

func newParam(md protoreflect.MessageDescriptor, name string) (param, error) {
	path, err := fieldPath(md, name)
	if err != nil {
		return param{}, err
	}
	fd := path[len(path)-1]
	if fd.IsMap() || (fd.Message() != nil && wellKnownConverters[fd.Message().FullName()] == nil) {
		return param{}, fmt.Errorf("%s is a protobuf message type; path parameters must be scalars", name)
	}
	p := param{name: name, path: path}
	if len(path) > 1 && md.ParentFile().Syntax() != protoreflect.Proto2 {
		p.nested, p.unlinked = true, unregisteredEnum(fd)
		return p, nil
	}
	p.convert, err = converter(fd)
	if err != nil {
		return param{}, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// bind sets the parameter from its value, with the generated handler's
// errors.
func (p param) bind(m protoreflect.Message, val string) error {
	if p.nested {
		var err error
		if p.unlinked {
			err = populateEnum(m, strings.Split(p.name, "."), []string{val})
		} else {
			err = runtime.PopulateFieldFromPath(m.Interface(), p.name, val)
		}
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "type mismatch, parameter: %s, error: %v", p.name, err)
		}
		return nil
	}
	parent, err := prepare(m, p.path)
	if err != nil {
		return err
	}
	fd := p.path[len(p.path)-1]
	v, err := p.convert(parent, val)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "type mismatch, parameter: %s, error: %v", p.name, err)
	}
	parent.Set(fd, v)
	return nil
}

// prepare returns the message that holds the last field of path, creating
// the messages on the way as generated code does, and refuses a oneof that
// another of its fields already holds.
func prepare(m protoreflect.Message, path []protoreflect.FieldDescriptor) (protoreflect.Message, error) {
	for i, fd := range path {
		if of := fd.ContainingOneof(); of != nil && !of.IsSynthetic() {
			if set := m.WhichOneof(of); set != nil && set.Number() != fd.Number() {
				return nil, status.Errorf(codes.InvalidArgument, "expect type: %s, but: %s\n", fd.Name(), set.Name())
			}
		}
		if i == len(path)-1 {
			break
		}
		m = m.Mutable(fd).Message()
	}
	return m, nil
}

// converter returns the runtime converter generated code uses for fd: the
// function of its kind, its Slice variant for a repeated field, Enum with the
// enum's names, or a well-known type's.
func converter(fd protoreflect.FieldDescriptor) (func(protoreflect.Message, string) (protoreflect.Value, error), error) {
	if fd.Message() != nil {
		if fd.IsList() {
			return nil, fmt.Errorf("repeated %s cannot be a path parameter", fd.Message().FullName())
		}
		conv := wellKnownConverters[fd.Message().FullName()]
		return func(_ protoreflect.Message, val string) (protoreflect.Value, error) {
			m, err := conv(val)
			if err != nil {
				return protoreflect.Value{}, err
			}
			return protoreflect.ValueOfMessage(m.ProtoReflect()), nil
		}, nil
	}
	if fd.Kind() == protoreflect.EnumKind {
		names := enumValues(fd.Enum())
		if fd.IsList() {
			return func(parent protoreflect.Message, val string) (protoreflect.Value, error) {
				ns, err := runtime.EnumSlice(val, listSeparator, names)
				if err != nil {
					return protoreflect.Value{}, err
				}
				l := parent.NewField(fd).List()
				for _, n := range ns {
					l.Append(protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)))
				}
				return protoreflect.ValueOfList(l), nil
			}, nil
		}
		return func(_ protoreflect.Message, val string) (protoreflect.Value, error) {
			n, err := runtime.Enum(val, names)
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
		}, nil
	}
	conv, ok := scalarConverters[fd.Kind()]
	if !ok {
		return nil, fmt.Errorf("unsupported kind %v", fd.Kind())
	}
	if !fd.IsList() {
		return func(_ protoreflect.Message, val string) (protoreflect.Value, error) { return conv.one(val) }, nil
	}
	return func(parent protoreflect.Message, val string) (protoreflect.Value, error) {
		vs, err := conv.list(val)
		if err != nil {
			return protoreflect.Value{}, err
		}
		l := parent.NewField(fd).List()
		for _, v := range vs {
			l.Append(v)
		}
		return protoreflect.ValueOfList(l), nil
	}, nil
}

// enumValues is the generated <Enum>_value map: every name to its number.
func enumValues(ed protoreflect.EnumDescriptor) map[string]int32 {
	values := ed.Values()
	out := make(map[string]int32, values.Len())
	for i := range values.Len() {
		out[string(values.Get(i).Name())] = int32(values.Get(i).Number())
	}
	return out
}

type scalarConverter struct {
	one  func(string) (protoreflect.Value, error)
	list func(string) ([]protoreflect.Value, error)
}

func scalar[T any](one func(string) (T, error), list func(string, string) ([]T, error), of func(T) protoreflect.Value) scalarConverter {
	return scalarConverter{
		one: func(val string) (protoreflect.Value, error) {
			v, err := one(val)
			if err != nil {
				return protoreflect.Value{}, err
			}
			return of(v), nil
		},
		list: func(val string) ([]protoreflect.Value, error) {
			vs, err := list(val, listSeparator)
			if err != nil {
				return nil, err
			}
			out := make([]protoreflect.Value, len(vs))
			for i, v := range vs {
				out[i] = of(v)
			}
			return out, nil
		},
	}
}

// scalarConverters are the generator's proto3ConvertFuncs and
// proto3RepeatedConvertFuncs by kind; its proto2 ones parse the same way.
var scalarConverters = func() map[protoreflect.Kind]scalarConverter {
	i32 := scalar(runtime.Int32, runtime.Int32Slice, protoreflect.ValueOfInt32)
	i64 := scalar(runtime.Int64, runtime.Int64Slice, protoreflect.ValueOfInt64)
	u32 := scalar(runtime.Uint32, runtime.Uint32Slice, protoreflect.ValueOfUint32)
	u64 := scalar(runtime.Uint64, runtime.Uint64Slice, protoreflect.ValueOfUint64)
	return map[protoreflect.Kind]scalarConverter{
		protoreflect.DoubleKind:   scalar(runtime.Float64, runtime.Float64Slice, protoreflect.ValueOfFloat64),
		protoreflect.FloatKind:    scalar(runtime.Float32, runtime.Float32Slice, protoreflect.ValueOfFloat32),
		protoreflect.Int64Kind:    i64,
		protoreflect.Sint64Kind:   i64,
		protoreflect.Sfixed64Kind: i64,
		protoreflect.Uint64Kind:   u64,
		protoreflect.Fixed64Kind:  u64,
		protoreflect.Int32Kind:    i32,
		protoreflect.Sint32Kind:   i32,
		protoreflect.Sfixed32Kind: i32,
		protoreflect.Uint32Kind:   u32,
		protoreflect.Fixed32Kind:  u32,
		protoreflect.BoolKind:     scalar(runtime.Bool, runtime.BoolSlice, protoreflect.ValueOfBool),
		protoreflect.StringKind:   scalar(runtime.String, runtime.StringSlice, protoreflect.ValueOfString),
		protoreflect.BytesKind:    scalar(runtime.Bytes, runtime.BytesSlice, protoreflect.ValueOfBytes),
	}
}()

func wellKnown[M proto.Message](conv func(string) (M, error)) func(string) (proto.Message, error) {
	return func(val string) (proto.Message, error) { return conv(val) }
}

// wellKnownConverters are the generator's wellKnownTypeConv: the message
// types a path parameter may have.
var wellKnownConverters = map[protoreflect.FullName]func(string) (proto.Message, error){
	"google.protobuf.Timestamp":   wellKnown(runtime.Timestamp),
	"google.protobuf.Duration":    wellKnown(runtime.Duration),
	"google.protobuf.StringValue": wellKnown(runtime.StringValue),
	"google.protobuf.FloatValue":  wellKnown(runtime.FloatValue),
	"google.protobuf.DoubleValue": wellKnown(runtime.DoubleValue),
	"google.protobuf.BoolValue":   wellKnown(runtime.BoolValue),
	"google.protobuf.BytesValue":  wellKnown(runtime.BytesValue),
	"google.protobuf.Int32Value":  wellKnown(runtime.Int32Value),
	"google.protobuf.UInt32Value": wellKnown(runtime.UInt32Value),
	"google.protobuf.Int64Value":  wellKnown(runtime.Int64Value),
	"google.protobuf.UInt64Value": wellKnown(runtime.UInt64Value),
}
