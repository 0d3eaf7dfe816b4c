package sse

import "io"

// MaxRetainedBuffer bounds the buffer kept between writes, by an Encoder and
// by any writer that reuses one (see Recycle), so that one huge event does
// not pin its memory for the rest of a long stream.
const MaxRetainedBuffer = 64 << 10

// Recycle returns buf emptied for reuse, or nil when it has grown beyond
// MaxRetainedBuffer: the next append then starts small again.
func Recycle(buf []byte) []byte {
	if cap(buf) > MaxRetainedBuffer {
		return nil
	}
	return buf[:0]
}

// Encoder writes events and comments to an io.Writer. Each event or comment
// is encoded in full into an internal buffer, which is reused, and handed to
// the writer in a single Write call, so an event reaches the writer whole or
// not at all. Encoder does not flush: after Encode, an HTTP handler flushes
// the response itself (http.ResponseController.Flush).
//
// An Encoder is not safe for concurrent use; one goroutine writes a response.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w}
}

// Encode writes ev as AppendEvent encodes it. If ev is invalid it returns
// ErrInvalidID or ErrInvalidName and writes nothing; otherwise it returns the
// writer's error, if any.
func (e *Encoder) Encode(ev *Event) error {
	buf, err := AppendEvent(e.buf[:0], ev)
	if err != nil {
		return err
	}
	return e.write(buf)
}

// Comment writes text as comment lines as AppendComment encodes them, for
// example a heartbeat that keeps proxies from closing an idle stream.
func (e *Encoder) Comment(text string) error {
	return e.write(AppendComment(e.buf[:0], text))
}

func (e *Encoder) write(buf []byte) error {
	_, err := e.w.Write(buf)
	e.buf = Recycle(buf)
	return err
}
