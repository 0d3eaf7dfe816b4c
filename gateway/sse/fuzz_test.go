package sse_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/sse"
)

// FuzzRoundTrip encodes a comment and an event, then parses the stream with
// go-sse and with the spec-literal parseSpec: both must give the event back
// (invalid UTF-8 decoded the WHATWG way, line breaks as LF), and the comment
// must change nothing. An encoding error must match a CR, LF or NUL in the
// id or name, and leave the buffer as it was.
//
// Where go-sse and the standard disagree, parseSpec follows the standard:
// go-sse dispatches blocks without a data line and an unterminated last
// block, the standard does neither. Every block AppendEvent writes has a data
// line and ends with a blank line, so both parsers must agree on its output.
func FuzzRoundTrip(f *testing.F) {
	seeds := []struct {
		id, name, data string
		retryMs        uint16
	}{
		{"", "", "", 0},
		{"1", "progress", `{"percent":40}`, 2000},
		{"", "end", "", 0},
		{"42", "", "a\r\nb\rc\nd", 0},
		{"x", "log", "trailing\n", 1},
		{"", "", "\r\n\r\n", 0},
		{"", "", "  leading spaces\n\tand tab", 0},
		{"", "", "nul\x00inside", 0},
		{"", "", "\uFEFFbom first", 0},
		{"é\xff", "\xe2\x82", "\xf0\x9f\x98\na\xed\xa0\x80", 65535},
		{"a\nb", "x", "y", 0},
		{"a", "b\x00", "y", 0},
		{"a:b", ": c", "id: 1\n\nevent: e\n: comment", 0},
	}
	for _, s := range seeds {
		f.Add(s.id, s.name, s.data, s.retryMs)
	}
	f.Fuzz(func(t *testing.T, id, name, data string, retryMs uint16) {
		ev := &sse.Event{ID: id, Name: name, Data: []byte(data), Retry: time.Duration(retryMs) * time.Millisecond}
		comment := sse.AppendComment(nil, data)
		stream, err := sse.AppendEvent(comment, ev)
		badID := strings.ContainsAny(id, "\r\n\x00")
		badName := strings.ContainsAny(name, "\r\n\x00")
		switch {
		case err == nil && !badID && !badName:
			checkRoundTrip(t, ev, stream)
		case errors.Is(err, sse.ErrInvalidID) && badID,
			errors.Is(err, sse.ErrInvalidName) && !badID && badName:
			if string(stream) != string(comment) {
				t.Fatalf("AppendEvent(%+q) failed with %v but changed the buffer: %q", ev, err, stream)
			}
		default:
			t.Fatalf("AppendEvent(%+q) error = %v; id has CR/LF/NUL: %v, name: %v", ev, err, badID, badName)
		}
	})
}
