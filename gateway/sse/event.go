// Package sse writes the Server-Sent Events wire format (text/event-stream) as
// the WHATWG HTML standard defines it:
// https://html.spec.whatwg.org/multipage/server-sent-events.html
//
// The output is always valid UTF-8 with LF line endings. Every line starts with
// a field name or a colon, so a stream written by this package never starts
// with a byte order mark, whatever the data holds.
//
// Every event carries at least one data line. A browser's EventSource
// dispatches a block only when it holds a data line, so every event written
// here is dispatched, including one with empty Data (the client sees data "").
// Retry therefore always travels inside a block with data, never alone.
package sse

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Event is one server-sent event.
type Event struct {
	// ID is the event's id. The client stores it as its last event ID and
	// sends it back in the Last-Event-ID header when it reconnects. "" writes
	// no id line, which leaves the client's last event ID as it was. It must
	// not contain CR, LF or NUL.
	ID string

	// Name is the event type. "" writes no event line, and clients dispatch
	// the event as "message". It must not contain CR, LF or NUL.
	Name string

	// Data is the payload. It is split on CRLF, LF and lone CR, each line
	// becoming one data line; clients join the lines with LF, so they see
	// Data with every line break turned into LF. A trailing line break
	// writes a final empty data line so that it survives. Nil or empty Data
	// writes one empty data line: the event is still dispatched, with data "".
	// NUL bytes are allowed.
	Data []byte

	// Retry, when positive, sets the client's reconnection delay. It is
	// written in whole milliseconds, truncated, and at least 1.
	Retry time.Duration
}

// ErrInvalidID is returned for an Event.ID that contains CR, LF or NUL.
var ErrInvalidID = errors.New("sse: id contains CR, LF or NUL")

// ErrInvalidName is returned for an Event.Name that contains CR, LF or NUL.
var ErrInvalidName = errors.New("sse: event name contains CR, LF or NUL")

// AppendEvent appends ev in wire format to dst, terminating blank line
// included, and returns the extended buffer. Fields are written in the order
// id, event, retry, data. Invalid UTF-8 in any field is replaced by U+FFFD.
//
// If ev.ID or ev.Name contains CR, LF or NUL, AppendEvent returns dst
// unchanged with ErrInvalidID or ErrInvalidName (the id is checked first).
func AppendEvent(dst []byte, ev *Event) ([]byte, error) {
	if hasLineBreakOrNUL(ev.ID) {
		return dst, ErrInvalidID
	}
	if hasLineBreakOrNUL(ev.Name) {
		return dst, ErrInvalidName
	}
	// One growth up front for the common single-line event; multi-line data
	// and replaced bytes may still grow dst once more.
	dst = slices.Grow(dst, len(ev.ID)+len(ev.Name)+len(ev.Data)+len("id: \nevent: \nretry: 1234567890\ndata: \n\n"))
	if ev.ID != "" {
		dst = appendField(dst, "id: ", ev.ID)
	}
	if ev.Name != "" {
		dst = appendField(dst, "event: ", ev.Name)
	}
	if ev.Retry > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, max(ev.Retry.Milliseconds(), 1), 10)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, "data: ", "data: ", ev.Data)
	return append(dst, '\n'), nil
}

// AppendComment appends text as comment lines to dst and returns the extended
// buffer. text is split on CRLF, LF and lone CR; each line is written as
// ": line", an empty line as ":", so empty text writes ":\n". No blank line
// follows: a comment neither ends nor alters the event around it, and clients
// ignore it. Invalid UTF-8 is replaced by U+FFFD.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, ": ", ":", []byte(text))
}

// hasLineBreakOrNUL reports whether s contains CR, LF or NUL. A plain loop:
// strings.ContainsAny costs several times more on short ids and names.
func hasLineBreakOrNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= '\r' && (c == '\r' || c == '\n' || c == 0) {
			return true
		}
	}
	return false
}

// appendField appends one "name: value" line; value holds no line break.
func appendField(dst []byte, prefix, value string) []byte {
	dst = append(dst, prefix...)
	if utf8.ValidString(value) {
		dst = append(dst, value...)
	} else {
		dst = appendValidUTF8(dst, value)
	}
	return append(dst, '\n')
}

// appendLines appends one line per line of text, each line prefixed with
// prefix, or with emptyPrefix when the line is empty. text with no line
// break, empty text included, is one line; a trailing break ends with an
// empty line.
func appendLines(dst []byte, prefix, emptyPrefix string, text []byte) []byte {
	valid := utf8.Valid(text)
	// Data without CR (nearly all of it) needs only the vectorised LF search.
	hasCR := bytes.IndexByte(text, '\r') >= 0
	for {
		var i int
		if hasCR {
			i = bytes.IndexAny(text, "\r\n")
		} else {
			i = bytes.IndexByte(text, '\n')
		}
		if i < 0 {
			return appendLine(dst, prefix, emptyPrefix, text, valid)
		}
		dst = appendLine(dst, prefix, emptyPrefix, text[:i], valid)
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

func appendLine(dst []byte, prefix, emptyPrefix string, line []byte, valid bool) []byte {
	if len(line) == 0 {
		return append(append(dst, emptyPrefix...), '\n')
	}
	dst = append(dst, prefix...)
	if valid {
		dst = append(dst, line...)
	} else {
		dst = appendValidUTF8(dst, line)
	}
	return append(dst, '\n')
}
