package httperr

import "regexp"

// The messages Go's JSON decoders put in the errors grpc-gateway's
// binding returns for a body it cannot read: protojson's ("proto: (line
// 1:10): invalid value for uint32 field limit: "abc"") and encoding/json's
// ("invalid character 'x' looking for beginning of value", "json: cannot
// unmarshal string into Go value of type uint32"). They name the parser,
// its positions and Go types, and echo the client's bytes; the client
// needs to know which field is wrong and why. (protobuf-go writes the
// space after "proto:" as U+00A0 in some builds, to keep callers from
// matching its text: this is the one place that must.)
var (
	protoPrefix  = regexp.MustCompile(`^proto:[ \x{00a0}](?:syntax error )?(?:\(line \d+:\d+\): )?`)
	protoValue   = regexp.MustCompile(`^invalid value for (\w+(?: \w+)?) field (\w+): .*$`)
	protoField   = regexp.MustCompile(`^(duplicate|unknown) field "([\w.]{1,128})"$`)
	notJSON      = regexp.MustCompile(`^(?:invalid character .* (?:looking for|after|in) .*|unexpected token .*|unexpected EOF|EOF)$`)
	jsonType     = regexp.MustCompile(`^json: cannot unmarshal (\w+) into Go (?:struct field \S+|value) of type (\S+)$`)
	jsonTypeName = regexp.MustCompile(`^(?:\*|\[\])*(?:[\w./]*\.)?(\w+)$`)
)

// decoderMessage rewrites message when it is one of a JSON decoder's, and
// returns it unchanged otherwise.
func decoderMessage(message string) string {
	rest := protoPrefix.ReplaceAllString(message, "")
	proto := rest != message
	if notJSON.MatchString(rest) {
		return "request body is not valid JSON"
	}
	if m := protoValue.FindStringSubmatch(rest); proto && m != nil {
		return "request body: field " + m[2] + ": not a valid " + m[1]
	}
	if m := protoField.FindStringSubmatch(rest); proto && m != nil {
		return "request body: " + m[1] + " field " + m[2]
	}
	if proto {
		return "request body is not valid"
	}
	if m := jsonType.FindStringSubmatch(message); m != nil {
		want := "another type"
		if t := jsonTypeName.FindStringSubmatch(m[2]); t != nil {
			want = t[1]
		}
		return "request body: " + m[1] + " given, " + want + " expected"
	}
	return message
}
