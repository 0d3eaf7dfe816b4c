package sse_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/sse"
)

func TestAppendEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   sse.Event
		want string
	}{
		{"data only", sse.Event{Data: []byte("hello")}, "data: hello\n\n"},
		{"id", sse.Event{ID: "42", Data: []byte("x")}, "id: 42\ndata: x\n\n"},
		{"name", sse.Event{Name: "progress", Data: []byte("x")}, "event: progress\ndata: x\n\n"},
		{"retry", sse.Event{Retry: 2 * time.Second, Data: []byte("x")}, "retry: 2000\ndata: x\n\n"},
		{
			"field order",
			sse.Event{Data: []byte(`{"p":1}`), Retry: 1500 * time.Millisecond, Name: "progress", ID: "7"},
			"id: 7\nevent: progress\nretry: 1500\ndata: {\"p\":1}\n\n",
		},
		{"retry truncated to whole ms", sse.Event{Retry: 1999 * time.Microsecond, Data: []byte("x")}, "retry: 1\ndata: x\n\n"},
		{"retry below 1ms is 1", sse.Event{Retry: time.Nanosecond, Data: []byte("x")}, "retry: 1\ndata: x\n\n"},
		{"negative retry writes nothing", sse.Event{Retry: -time.Second, Data: []byte("x")}, "data: x\n\n"},
		{"id and name with colons and spaces", sse.Event{ID: " a:b ", Name: " n:m", Data: []byte("x")}, "id:  a:b \nevent:  n:m\ndata: x\n\n"},

		// Empty data: one empty data line, so the block has a data field and
		// clients dispatch it with data "" (an end event needs no payload).
		{"nil data", sse.Event{}, "data: \n\n"},
		{"empty data", sse.Event{Data: []byte{}}, "data: \n\n"},
		{"named event without data", sse.Event{Name: "end"}, "event: end\ndata: \n\n"},

		// Line breaks: CRLF, LF and lone CR are each one break.
		{"LF", sse.Event{Data: []byte("a\nb")}, "data: a\ndata: b\n\n"},
		{"CRLF", sse.Event{Data: []byte("a\r\nb")}, "data: a\ndata: b\n\n"},
		{"CR", sse.Event{Data: []byte("a\rb")}, "data: a\ndata: b\n\n"},
		{"mixed", sse.Event{Data: []byte("a\r\nb\rc\nd")}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"LF then CR is two breaks", sse.Event{Data: []byte("a\n\rb")}, "data: a\ndata: \ndata: b\n\n"},
		{"CR then CRLF is two breaks", sse.Event{Data: []byte("a\r\r\nb")}, "data: a\ndata: \ndata: b\n\n"},
		{"blank line inside", sse.Event{Data: []byte("a\n\nb")}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", sse.Event{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"trailing CRLF", sse.Event{Data: []byte("a\r\n")}, "data: a\ndata: \n\n"},
		{"trailing CR", sse.Event{Data: []byte("a\r")}, "data: a\ndata: \n\n"},
		{"leading LF", sse.Event{Data: []byte("\na")}, "data: \ndata: a\n\n"},
		{"only a line break", sse.Event{Data: []byte("\r\n")}, "data: \ndata: \n\n"},
		{"many lines with a CR late", sse.Event{Data: []byte("1\n2\n3\r4")}, "data: 1\ndata: 2\ndata: 3\ndata: 4\n\n"},

		// The parser strips exactly one space after the colon.
		{"leading spaces", sse.Event{Data: []byte("  indented\n\tand tab")}, "data:   indented\ndata: \tand tab\n\n"},
		{"data that looks like fields", sse.Event{Data: []byte("id: 9\n: c\n\nevent: x")}, "data: id: 9\ndata: : c\ndata: \ndata: event: x\n\n"},

		{"NUL in data", sse.Event{Data: []byte("a\x00b\x00")}, "data: a\x00b\x00\n\n"},
		{"BOM in data is content", sse.Event{Data: []byte("\uFEFFx")}, "data: \uFEFFx\n\n"},
		{"multi-byte UTF-8", sse.Event{ID: "é", Name: "ü", Data: []byte("日本\n😀")}, "id: é\nevent: ü\ndata: 日本\ndata: 😀\n\n"},

		// Invalid UTF-8 becomes U+FFFD, one per maximal subpart (WHATWG).
		{"invalid byte in data", sse.Event{Data: []byte("a\xffb")}, "data: a\uFFFDb\n\n"},
		{"truncated sequence is one U+FFFD", sse.Event{Data: []byte("\xe2\x82")}, "data: \uFFFD\n\n"},
		{"truncated sequence before ASCII", sse.Event{Data: []byte("\xe2\x82A")}, "data: \uFFFDA\n\n"},
		{"truncated sequence before a break", sse.Event{Data: []byte("\xf0\x9f\x98\na")}, "data: \uFFFD\ndata: a\n\n"},
		{"surrogate", sse.Event{Data: []byte("\xed\xa0\x80")}, "data: \uFFFD\uFFFD\uFFFD\n\n"},
		{"overlong", sse.Event{Data: []byte("\xc0\xaf\xe0\x80\xaf")}, "data: \uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\n\n"},
		{"above U+10FFFF", sse.Event{Data: []byte("\xf4\x90\x80\x80")}, "data: \uFFFD\uFFFD\uFFFD\uFFFD\n\n"},
		{"stray continuation bytes", sse.Event{Data: []byte("\x80\xbf")}, "data: \uFFFD\uFFFD\n\n"},
		{"invalid on several lines", sse.Event{Data: []byte("é\xff\r\n\xfe")}, "data: é\uFFFD\ndata: \uFFFD\n\n"},
		{"invalid in id and name", sse.Event{ID: "1\xff", Name: "\xc3", Data: []byte("x")}, "id: 1\uFFFD\nevent: \uFFFD\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sse.AppendEvent([]byte("prev\n"), &tt.ev)
			if err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			if string(got) != "prev\n"+tt.want {
				t.Fatalf("AppendEvent(%+q)\n got %q\nwant %q", tt.ev, got[len("prev\n"):], tt.want)
			}
			checkRoundTrip(t, &tt.ev, got[len("prev\n"):])
		})
	}
}

func TestAppendEventInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   sse.Event
		want error
	}{
		{"CR in id", sse.Event{ID: "a\rb", Data: []byte("x")}, sse.ErrInvalidID},
		{"LF in id", sse.Event{ID: "a\n", Data: []byte("x")}, sse.ErrInvalidID},
		{"CRLF in id", sse.Event{ID: "\r\n"}, sse.ErrInvalidID},
		{"NUL in id", sse.Event{ID: "a\x00b"}, sse.ErrInvalidID},
		{"CR in name", sse.Event{Name: "a\rb"}, sse.ErrInvalidName},
		{"LF in name", sse.Event{Name: "\nx"}, sse.ErrInvalidName},
		{"NUL in name", sse.Event{ID: "1", Name: "\x00"}, sse.ErrInvalidName},
		{"id is checked first", sse.Event{ID: "\n", Name: "\n"}, sse.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := make([]byte, 0, 64)
			dst = append(dst, "prev\n"...)
			got, err := sse.AppendEvent(dst, &tt.ev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("AppendEvent(%+q) error = %v, want %v", tt.ev, err, tt.want)
			}
			spare := dst[len(dst):cap(dst)] // must not be written either
			if string(got) != "prev\n" || strings.Trim(string(spare), "\x00") != "" {
				t.Fatalf("AppendEvent(%+q) changed dst: %q", tt.ev, got)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", ":\n"},
		{"single line", "ping", ": ping\n"},
		{"leading space kept", " x", ":  x\n"},
		{"multi-line", "a\r\nb\rc\nd", ": a\n: b\n: c\n: d\n"},
		{"empty lines have no space", "a\n\nb\n", ": a\n:\n: b\n:\n"},
		{"invalid UTF-8", "\xffok\xe2\x82", ": \uFFFDok\uFFFD\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := sse.AppendComment([]byte("prev\n"), tt.text)
			if string(got) != "prev\n"+tt.want {
				t.Fatalf("AppendComment(%q)\n got %q\nwant %q", tt.text, got[len("prev\n"):], tt.want)
			}
			// A comment neither dispatches nor changes the event after it.
			ev := &sse.Event{ID: "1", Name: "n", Data: []byte("d")}
			stream, err := sse.AppendEvent(got[len("prev\n"):], ev)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, ev, stream)
		})
	}
}

func TestAppendEventAllocs(t *testing.T) {
	ev := &sse.Event{ID: "17", Name: "log", Retry: time.Second, Data: []byte("first line\r\nsecond line\nthird")}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = sse.AppendEvent(buf[:0], ev)
		buf = sse.AppendComment(buf, "heartbeat")
	})
	if allocs != 0 {
		t.Fatalf("AppendEvent and AppendComment into a reused buffer: %v allocs, want 0", allocs)
	}
}

// TestInvalidUTF8Sequences checks the U+FFFD replacement against x/text's
// WHATWG decoder for every non-ASCII lead byte followed by every byte, then by
// bytes at the edges of the continuation ranges, all in one multi-line event.
func TestInvalidUTF8Sequences(t *testing.T) {
	t.Parallel()
	edges := []byte{0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF}
	var data []byte
	for b0 := 0x80; b0 <= 0xFF; b0++ {
		for b1 := 0x00; b1 <= 0xFF; b1++ {
			for _, b2 := range edges {
				data = append(data, byte(b0), byte(b1), b2, 0x80, 0xBF, '\n')
			}
		}
	}
	ev := &sse.Event{Data: data}
	out, err := sse.AppendEvent(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, ev, out)
}
