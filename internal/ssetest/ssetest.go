// Package ssetest is the one reader of text/event-stream bodies the tests
// share. It gives a stream's units exactly as sent (a comment line, or an
// event block with its blank line), for tests of the wire bytes, and the
// same units parsed by the WHATWG rules, for tests of what a client sees.
// It is deliberately small and strict; the independent parsers tests
// compare against are other libraries (go-sse) and browsers.
package ssetest

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// Block is one unit parsed: an event, or a comment line (Comment set, its
// text in Data).
type Block struct {
	Comment bool
	ID      string
	Event   string
	Data    string
	Retry   string
	has     map[string]bool
}

// Has reports whether the block had a line of field ("id", "event",
// "data", "retry"): an event with `id: ` has an empty ID, one without has
// none.
func (b Block) Has(field string) bool { return b.has[field] }

// Reader reads a stream unit by unit.
type Reader struct{ r *bufio.Reader }

// NewReader reads the stream r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// NextUnit returns the next comment line or event block exactly as sent,
// line endings included. A stream that ends inside a block gives what was
// read and io.ErrUnexpectedEOF; a stream that ends between units, io.EOF.
func (r *Reader) NextUnit() (string, error) {
	var b strings.Builder
	for {
		line, err := r.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			if b.Len() > 0 && errors.Is(err, io.EOF) {
				return b.String(), io.ErrUnexpectedEOF
			}
			return b.String(), err
		}
		switch {
		case b.Len() == len(line) && strings.HasPrefix(line, ":"):
			return line, nil // a comment stands alone
		case b.Len() == len(line) && strings.TrimRight(line, "\r\n") == "":
			b.Reset() // a blank line between units
		case strings.TrimRight(line, "\r\n") == "":
			return b.String(), nil
		}
	}
}

// Next returns the next unit parsed.
func (r *Reader) Next() (Block, error) {
	unit, err := r.NextUnit()
	if err != nil {
		return Block{}, err
	}
	return Parse(unit), nil
}

// NextEvent skips comments and returns the next event.
func (r *Reader) NextEvent() (Block, error) {
	for {
		b, err := r.Next()
		if err != nil || !b.Comment {
			return b, err
		}
	}
}

// Events reads the rest of the stream and returns its events, as a client
// dispatches them (blocks without data are not events). A stream cut short
// gives the events before the cut and io.ErrUnexpectedEOF.
func (r *Reader) Events() ([]Block, error) {
	var out []Block
	for {
		b, err := r.NextEvent()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if b.Has("data") {
			out = append(out, b)
		}
	}
}

// Parse reads one unit by the WHATWG rules: "field: value" (one space
// after the colon dropped), data lines joined with LF, comment lines
// ignored inside a block; a unit that starts with a colon is a comment.
func Parse(unit string) Block {
	lines := strings.Split(strings.TrimRight(unit, "\r\n"), "\n")
	if len(lines) == 1 && strings.HasPrefix(lines[0], ":") {
		text := strings.TrimSuffix(lines[0], "\r")
		return Block{Comment: true, Data: strings.TrimPrefix(strings.TrimPrefix(text, ":"), " ")}
	}
	b := Block{has: map[string]bool{}}
	var data []string
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		b.has[field] = true
		switch field {
		case "id":
			b.ID = value
		case "event":
			b.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			b.Retry = value
		}
	}
	b.Data = strings.Join(data, "\n")
	return b
}
