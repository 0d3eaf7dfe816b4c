package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema is a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1 and
// 3.2), with the keywords the generator uses.
type Schema struct {
	Ref                  string     `json:"$ref,omitempty"`
	Title                string     `json:"title,omitempty"`
	Description          string     `json:"description,omitempty"`
	Type                 any        `json:"type,omitempty"` // a string or a list of strings
	Format               string     `json:"format,omitempty"`
	Pattern              string     `json:"pattern,omitempty"`
	MaxLength            *int       `json:"maxLength,omitempty"`
	Minimum              *int64     `json:"minimum,omitempty"`
	Maximum              *int64     `json:"maximum,omitempty"`
	Const                any        `json:"const,omitempty"`
	Enum                 []string   `json:"enum,omitempty"`
	ContentEncoding      string     `json:"contentEncoding,omitempty"`
	ContentMediaType     string     `json:"contentMediaType,omitempty"`
	ContentSchema        *Schema    `json:"contentSchema,omitempty"`
	Items                *Schema    `json:"items,omitempty"`
	Properties           Properties `json:"properties,omitempty"`
	AdditionalProperties *Schema    `json:"additionalProperties,omitempty"`
	MaxProperties        *int       `json:"maxProperties,omitempty"`
	Required             []string   `json:"required,omitempty"`
	Not                  *Schema    `json:"not,omitempty"`
	OneOf                []*Schema  `json:"oneOf,omitempty"`
	AnyOf                []*Schema  `json:"anyOf,omitempty"`
}

// Property is one entry of Properties.
type Property struct {
	Name   string
	Schema *Schema
}

// Properties keeps the order of the fields in the .proto file, which a
// Go map would lose.
type Properties []Property

// MarshalJSON writes the properties as one JSON object, in order.
func (ps Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name) // cannot fail: a string
		v, err := json.Marshal(p.Schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func ptr[T any](v T) *T { return &v }

// componentRef is the $ref of a schema in components.schemas.
func componentRef(name string) string { return "#/components/schemas/" + name }

// schemas builds the schemas of messages and enums as protojson encodes
// them, collecting named ones for components.schemas.
type schemas struct {
	defs map[string]*Schema
}

// message returns a $ref to md's schema, or md's inline schema for the
// well-known types that protojson encodes as a JSON scalar.
func (s *schemas) message(md protoreflect.MessageDescriptor) *Schema {
	if w := wellKnown(md); w != nil {
		return w
	}
	name := string(md.FullName())
	if _, ok := s.defs[name]; !ok {
		obj := &Schema{Type: "object", Description: comment(md)}
		s.defs[name] = obj // before the fields, so recursion ends
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			fs := s.field(fd)
			fs.Description = joinText(comment(fd), fs.Description)
			obj.Properties = append(obj.Properties, Property{Name: fd.JSONName(), Schema: fs})
		}
		if oneofs := oneofNote(md); oneofs != "" {
			obj.Description = joinText(obj.Description, oneofs)
		}
	}
	return &Schema{Ref: componentRef(name)}
}

// oneofNote tells which properties are alternatives.
func oneofNote(md protoreflect.MessageDescriptor) string {
	var notes []string
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		var names []string
		fields := od.Fields()
		for j := range fields.Len() {
			names = append(names, "`"+fields.Get(j).JSONName()+"`")
		}
		notes = append(notes, fmt.Sprintf("At most one of %s is set (oneof `%s`).", strings.Join(names, ", "), od.Name()))
	}
	return strings.Join(notes, "\n")
}

func (s *schemas) enum(ed protoreflect.EnumDescriptor) *Schema {
	if ed.FullName() == "google.protobuf.NullValue" {
		return &Schema{Type: "null"}
	}
	name := string(ed.FullName())
	if _, ok := s.defs[name]; !ok {
		e := &Schema{Type: "string"}
		var lines []string
		values := ed.Values()
		for i := range values.Len() {
			v := values.Get(i)
			e.Enum = append(e.Enum, string(v.Name()))
			if c := comment(v); c != "" {
				lines = append(lines, fmt.Sprintf("- `%s`: %s", v.Name(), strings.ReplaceAll(c, "\n", " ")))
			}
		}
		e.Description = joinText(comment(ed), strings.Join(lines, "\n"))
		s.defs[name] = e
	}
	return &Schema{Ref: componentRef(name)}
}

// field returns the schema of fd's value: a list, a map or a single value.
// A singular message field may be null: the gateway's JSON, like
// grpc-gateway's, emits unset fields, and unset messages as null.
func (s *schemas) field(fd protoreflect.FieldDescriptor) *Schema {
	switch {
	case fd.IsMap():
		return &Schema{Type: "object", AdditionalProperties: s.single(fd.MapValue())}
	case fd.IsList():
		return &Schema{Type: "array", Items: s.single(fd)}
	case fd.Message() != nil && fd.ContainingOneof() == nil:
		return nullable(s.single(fd))
	}
	return s.single(fd)
}

// single returns the schema of one value of fd's type.
func (s *schemas) single(fd protoreflect.FieldDescriptor) *Schema {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return s.message(fd.Message())
	case protoreflect.EnumKind:
		return s.enum(fd.Enum())
	}
	return scalar(fd.Kind())
}

func scalar(k protoreflect.Kind) *Schema {
	switch k {
	case protoreflect.BoolKind:
		return &Schema{Type: "boolean"}
	case protoreflect.StringKind:
		return &Schema{Type: "string"}
	case protoreflect.BytesKind:
		return &Schema{Type: "string", ContentEncoding: "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &Schema{Type: "integer", Format: "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return &Schema{Type: "integer", Format: "uint32", Minimum: ptr[int64](0), Maximum: ptr[int64](1<<32 - 1)}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson writes 64-bit integers as strings: JavaScript numbers
		// lose precision above 2^53.
		return &Schema{Type: "string", Format: "int64", Pattern: `^-?[0-9]+$`}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return &Schema{Type: "string", Format: "uint64", Pattern: `^[0-9]+$`}
	case protoreflect.FloatKind:
		return &Schema{Type: "number", Format: "float"}
	case protoreflect.DoubleKind:
		return &Schema{Type: "number", Format: "double"}
	}
	return &Schema{}
}

// wellKnown returns the inline schema of the well-known types that
// protojson encodes specially, or nil.
func wellKnown(md protoreflect.MessageDescriptor) *Schema {
	if md.ParentFile() == nil || !strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return nil
	}
	switch md.Name() {
	case "Timestamp":
		return &Schema{Type: "string", Format: "date-time", Description: "RFC 3339, in UTC, with a Z."}
	case "Duration":
		return &Schema{Type: "string", Pattern: `^-?[0-9]+(\.[0-9]{1,9})?s$`, Description: "Seconds with an s suffix, e.g. \"1.5s\"."}
	case "FieldMask":
		return &Schema{Type: "string", Description: "Field paths in lowerCamelCase, separated by commas."}
	case "Struct":
		return &Schema{Type: "object"}
	case "ListValue":
		return &Schema{Type: "array"}
	case "Value":
		return &Schema{}
	case "Empty":
		return &Schema{Type: "object", MaxProperties: ptr(0)}
	case "Any":
		return &Schema{Type: "object", Properties: Properties{{Name: "@type", Schema: &Schema{Type: "string"}}}, Required: []string{"@type"}}
	case "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
		"BoolValue", "StringValue", "BytesValue":
		return scalar(md.Fields().ByName("value").Kind())
	}
	return nil
}

// nullable lets s also be null.
func nullable(s *Schema) *Schema {
	switch t := s.Type.(type) {
	case string:
		c := *s
		c.Type = []string{t, "null"}
		return &c
	case nil:
		if s.Ref != "" {
			return &Schema{AnyOf: []*Schema{s, {Type: "null"}}}
		}
	}
	return s // anything, null included
}
