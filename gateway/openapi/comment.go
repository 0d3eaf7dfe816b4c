package openapi

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// comment returns the comment of d in its .proto file, leading or else
// trailing, without the comment markers' indentation. Descriptors compiled
// into Go code carry no comments (protoc-gen-go drops them), so this is
// empty for them; a descriptor set built with source info has them.
func comment(d protoreflect.Descriptor) string {
	f := d.ParentFile()
	if f == nil {
		return ""
	}
	loc := f.SourceLocations().ByDescriptor(d)
	text := loc.LeadingComments
	if strings.TrimSpace(text) == "" {
		text = loc.TrailingComments
	}
	lines := strings.Split(strings.TrimRight(text, " \n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimPrefix(l, " "), " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// summary is the first sentence of text, on one line.
func summary(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if i := strings.Index(text, ". "); i >= 0 {
		return text[:i+1]
	}
	return text
}

// joinText joins the non-empty paragraphs with a blank line.
func joinText(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n\n")
}
