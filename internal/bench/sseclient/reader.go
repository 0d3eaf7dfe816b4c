// Package sseclient is a lean reader of a text/event-stream body, for load
// tests: it parses events as the WHATWG rules say (fields, comments,
// multi-line data, dispatch on a blank line) without allocating per event.
package sseclient

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one dispatched event. Its slices stay valid until the next call
// to Next.
type Event struct {
	// ID is the id field of this event, nil when it had none. (A browser
	// would keep the previous id; a load test wants to see each one.)
	ID []byte
	// Name is the event type; nil means "message".
	Name []byte
	// Data is the data lines joined by LF.
	Data []byte
}

// Reader reads events from an event stream.
type Reader struct {
	r    *bufio.Reader
	line []byte
	ev   Event
	id   []byte
	name []byte
	// Comments counts comment lines seen so far, heartbeats included.
	Comments int
}

// NewReader returns a Reader with a buffer of size bytes (64 KiB when size
// is not positive).
func NewReader(r io.Reader, size int) *Reader {
	if size <= 0 {
		size = 64 << 10
	}
	return &Reader{r: bufio.NewReaderSize(r, size)}
}

// ErrTruncated means the stream ended in the middle of an event.
var ErrTruncated = errors.New("sseclient: stream ended inside an event")

// Next returns the next event. It returns io.EOF at the end of the stream,
// ErrTruncated when the stream ended inside an event, and any read error.
// Lines may end with LF or CRLF; a lone CR is not treated as a line end.
func (r *Reader) Next() (*Event, error) {
	ev := &r.ev
	ev.Data = ev.Data[:0]
	r.id, r.name = r.id[:0], r.name[:0]
	hasData, hasID, hasName, started := false, false, false, false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && started {
				return nil, ErrTruncated
			}
			return nil, err
		}
		if len(line) == 0 {
			if !hasData {
				// A block without data is not dispatched.
				r.id, r.name = r.id[:0], r.name[:0]
				hasID, hasName, started = false, false, false
				continue
			}
			ev.ID, ev.Name = nil, nil
			if hasID {
				ev.ID = r.id
			}
			if hasName {
				ev.Name = r.name
			}
			ev.Data = ev.Data[:len(ev.Data)-1] // the last LF
			return ev, nil
		}
		if line[0] == ':' {
			r.Comments++
			continue
		}
		started = true
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			ev.Data = append(append(ev.Data, value...), '\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id, hasID = append(r.id[:0], value...), true
			}
		case "event":
			r.name, hasName = append(r.name[:0], value...), true
		}
	}
}

// readLine returns the next line without its line end; the slice is valid
// until the next read.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer: gather it.
		r.line = append(r.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.r.ReadSlice('\n')
			r.line = append(r.line, line...)
		}
		line = r.line
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, ErrTruncated
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
