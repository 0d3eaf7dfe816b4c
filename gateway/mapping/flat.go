package mapping

import (
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// flatField is one field of a flat message: its JSON key, ready to append.
type flatField struct {
	fd  protoreflect.FieldDescriptor
	key string
}

// flatFields returns the fields of md when every one is a singular string,
// bool or integer without presence, so that the message can be encoded
// without protojson; nil otherwise.
func flatFields(md protoreflect.MessageDescriptor) []flatField {
	if md.ExtensionRanges().Len() > 0 {
		return nil
	}
	fields := md.Fields()
	out := make([]flatField, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() || fd.IsMap() || fd.HasPresence() {
			return nil
		}
		switch fd.Kind() {
		case protoreflect.StringKind, protoreflect.BoolKind,
			protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
			protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
			protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
			protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		default:
			return nil
		}
		out = append(out, flatField{fd: fd, key: strconv.Quote(fd.JSONName()) + ":"})
	}
	return out
}

var errInvalidUTF8 = errors.New("mapping: invalid UTF-8 in a string field")

// appendFlat appends pm as protojson would with EmitUnpopulated (without
// its random spaces): fields in declaration order, 64-bit integers quoted.
func appendFlat(dst []byte, fields []flatField, pm protoreflect.Message) ([]byte, error) {
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, f.key...)
		v := pm.Get(f.fd)
		switch f.fd.Kind() {
		case protoreflect.StringKind:
			var err error
			if dst, err = appendJSONString(dst, v.String()); err != nil {
				return dst, err
			}
		case protoreflect.BoolKind:
			dst = strconv.AppendBool(dst, v.Bool())
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			dst = strconv.AppendInt(dst, v.Int(), 10)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			dst = strconv.AppendUint(dst, v.Uint(), 10)
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			dst = append(strconv.AppendInt(append(dst, '"'), v.Int(), 10), '"')
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			dst = append(strconv.AppendUint(append(dst, '"'), v.Uint(), 10), '"')
		}
	}
	return append(dst, '}'), nil
}

// appendJSONString escapes s as protojson does: ", \ and control
// characters only; invalid UTF-8 is an error.
func appendJSONString(dst []byte, s string) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return dst, errInvalidUTF8
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\')
		switch c {
		case '"', '\\':
			dst = append(dst, c)
		case '\b':
			dst = append(dst, 'b')
		case '\f':
			dst = append(dst, 'f')
		case '\n':
			dst = append(dst, 'n')
		case '\r':
			dst = append(dst, 'r')
		case '\t':
			dst = append(dst, 't')
		default:
			dst = append(dst, 'u')
			dst = append(dst, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			dst = strconv.AppendUint(dst, uint64(c), 16)
		}
		i++
		start = i
	}
	return append(append(dst, s[start:]...), '"'), nil
}
