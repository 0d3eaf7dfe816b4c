package rest

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// populateQuery is runtime.PopulateQueryParameters, which generated code
// calls, except for parameters that set enums without a linked Go type: the
// runtime looks enums up in protoregistry.GlobalTypes and refuses those, so
// they are set here, with the runtime's own rules and errors.
func populateQuery(m protoreflect.Message, values url.Values, filter *utilities.DoubleArray) error {
	var own url.Values
	for key := range values {
		if setsUnregisteredEnum(m.Descriptor(), key) {
			if own == nil {
				own = make(url.Values)
			}
			own[key] = values[key]
		}
	}
	if own != nil {
		rest := make(url.Values, len(values))
		for key, vs := range values {
			if _, ok := own[key]; !ok {
				rest[key] = vs
			}
		}
		values = rest
	}
	if err := runtime.PopulateQueryParameters(m.Interface(), values, filter); err != nil {
		return err
	}
	return populateEnumQuery(m, own, filter)
}

// valuesKeyRegexp is the runtime's: "attrs[color]" sets key color of attrs.
var valuesKeyRegexp = regexp.MustCompile(`^(.*)\[(.*)\]$`)

func setsUnregisteredEnum(md protoreflect.MessageDescriptor, key string) bool {
	if match := valuesKeyRegexp.FindStringSubmatch(key); len(match) == 3 {
		key = match[1]
	}
	var fd protoreflect.FieldDescriptor
	for _, name := range strings.Split(key, ".") {
		if fd != nil {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return false
			}
			md = fd.Message()
		}
		if fd = fieldByName(md, name); fd == nil {
			return false
		}
	}
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	return unregisteredEnum(fd)
}

func unregisteredEnum(fd protoreflect.FieldDescriptor) bool {
	if fd.Kind() != protoreflect.EnumKind {
		return false
	}
	_, err := protoregistry.GlobalTypes.FindEnumByName(fd.Enum().FullName())
	return err != nil
}

func fieldByName(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByTextName(name); fd != nil {
		return fd
	}
	return md.Fields().ByJSONName(name)
}

// populateEnumQuery is the runtime's DefaultQueryParser.Parse for the
// parameters populateQuery keeps.
func populateEnumQuery(m protoreflect.Message, values url.Values, filter *utilities.DoubleArray) error {
	seen := make(map[string]struct{}, len(values))
	for key, vs := range values {
		fieldKey, mapKey := key, ""
		if match := valuesKeyRegexp.FindStringSubmatch(key); len(match) == 3 {
			fieldKey, mapKey = match[1], "["+match[2]+"]"
			vs = append([]string{match[2]}, vs...)
		}
		path := normalizeFieldPath(m.Descriptor(), strings.Split(fieldKey, "."))
		if filter.HasCommonPrefix(path) {
			continue
		}
		field := strings.Join(path, ".") + mapKey
		if _, ok := seen[field]; ok {
			return fmt.Errorf("duplicate field %q", field)
		}
		seen[field] = struct{}{}
		if err := populateEnum(m, path, vs); err != nil {
			return err
		}
	}
	return nil
}

// normalizeFieldPath is the runtime's: the proto names of a path given in
// proto or JSON names, or the path as it is when it names no field.
func normalizeFieldPath(md protoreflect.MessageDescriptor, path []string) []string {
	out := make([]string, 0, len(path))
	for i, name := range path {
		fd := fieldByName(md, name)
		if fd == nil {
			return path
		}
		out = append(out, string(fd.Name()))
		if i == len(path)-1 {
			break
		}
		if fd.Message() == nil || fd.Cardinality() == protoreflect.Repeated {
			return path
		}
		md = fd.Message()
	}
	return out
}

// populateEnum is the runtime's populateFieldValueFromPath for a path that
// ends in an enum, a repeated enum or a map of enums, with the enum's values
// taken from its descriptor.
func populateEnum(m protoreflect.Message, path []string, values []string) error {
	if len(path) < 1 {
		return errors.New("no field path")
	}
	if len(values) < 1 {
		return errors.New("no value provided")
	}
	var fd protoreflect.FieldDescriptor
	for i, name := range path {
		fields := m.Descriptor().Fields()
		if fd = fields.ByName(protoreflect.Name(name)); fd == nil {
			if fd = fields.ByJSONName(name); fd == nil {
				return nil // an extra parameter, as the runtime ignores it
			}
		}
		if of := fd.ContainingOneof(); of != nil && !of.IsSynthetic() {
			if f := m.WhichOneof(of); f != nil && (fd.Message() == nil || fd.FullName() != f.FullName()) {
				return fmt.Errorf("field already set for oneof %q", of.FullName().Name())
			}
		}
		if i == len(path)-1 {
			break
		}
		if fd.Message() == nil || fd.Cardinality() == protoreflect.Repeated {
			return fmt.Errorf("invalid path: %q is not a message", name)
		}
		m = m.Mutable(fd).Message()
	}
	name := fd.FullName().Name()
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		for _, value := range values {
			v, err := parseEnum(fd, value)
			if err != nil {
				return fmt.Errorf("parsing list %q: %w", name, err)
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		if len(values) != 2 {
			return fmt.Errorf("more than one value provided for key %q in map %q", values[0], fd.FullName())
		}
		key, err := parseMapKey(fd.MapKey(), values[0])
		if err != nil {
			return fmt.Errorf("parsing map key %q: %w", name, err)
		}
		v, err := parseEnum(fd.MapValue(), values[1])
		if err != nil {
			return fmt.Errorf("parsing map value %q: %w", name, err)
		}
		m.Mutable(fd).Map().Set(key.MapKey(), v)
		return nil
	}
	if len(values) > 1 {
		return fmt.Errorf("too many values for field %q: %s", name, strings.Join(values, ", "))
	}
	v, err := parseEnum(fd, values[0])
	if err != nil {
		return fmt.Errorf("parsing field %q: %w", name, err)
	}
	m.Set(fd, v)
	return nil
}

// parseEnum is the runtime's parseField for an enum: a value name, or the
// number of a value.
func parseEnum(fd protoreflect.FieldDescriptor, value string) (protoreflect.Value, error) {
	values := fd.Enum().Values()
	v := values.ByName(protoreflect.Name(value))
	if v == nil {
		i, err := strconv.ParseInt(value, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a valid value", value)
		}
		if v = values.ByNumber(protoreflect.EnumNumber(i)); v == nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a valid value", value)
		}
	}
	return protoreflect.ValueOfEnum(v.Number()), nil
}

// parseMapKey is the runtime's parseField for the kinds a map key has.
func parseMapKey(fd protoreflect.FieldDescriptor, value string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		v, err := strconv.ParseBool(value)
		return protoreflect.ValueOfBool(v), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v, err := strconv.ParseInt(value, 10, 32)
		return protoreflect.ValueOfInt32(int32(v)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v, err := strconv.ParseInt(value, 10, 64)
		return protoreflect.ValueOfInt64(v), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v, err := strconv.ParseUint(value, 10, 32)
		return protoreflect.ValueOfUint32(uint32(v)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v, err := strconv.ParseUint(value, 10, 64)
		return protoreflect.ValueOfUint64(v), err
	}
	return protoreflect.ValueOfString(value), nil
}
