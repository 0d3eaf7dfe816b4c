package sse_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	gosse "github.com/tmaxmax/go-sse"
	xunicode "golang.org/x/text/encoding/unicode"

	"github.com/ssegate/ssegate/gateway/sse"
)

// specEvent is an event as a browser's EventSource dispatches it.
type specEvent struct {
	Type, Data, LastEventID string
}

// parseSpec interprets stream step by step as the WHATWG HTML standard's
// "Interpreting an event stream" section says, where go-sse differs on
// purpose or does not look: blocks without data are not dispatched, an
// unterminated block at the end is discarded, retry is reported (-1 when no
// valid retry field was seen). It is a test oracle, not a client.
func parseSpec(stream string) (events []specEvent, retry int64) {
	stream = strings.TrimPrefix(stream, "\uFEFF")
	retry = -1
	var data strings.Builder
	var typ, lastID string
	for {
		i := strings.IndexAny(stream, "\r\n")
		if i < 0 {
			return events, retry // pending data at end of stream is discarded
		}
		line := stream[:i]
		if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
			i++
		}
		stream = stream[i+1:]
		switch {
		case line == "": // dispatch
			if data.Len() == 0 {
				typ = ""
				continue
			}
			if typ == "" {
				typ = "message"
			}
			events = append(events, specEvent{typ, strings.TrimSuffix(data.String(), "\n"), lastID})
			data.Reset()
			typ = ""
		case line[0] == ':': // comment
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				typ = value
			case "data":
				data.WriteString(value)
				data.WriteByte('\n')
			case "id":
				if !strings.Contains(value, "\x00") {
					lastID = value
				}
			case "retry":
				if n, err := strconv.ParseInt(value, 10, 64); err == nil && strings.Trim(value, "0123456789") == "" {
					retry = n
				}
			}
		}
	}
}

// clientText is what a client reads for s: invalid UTF-8 decoded the WHATWG
// way (x/text's decoder, independent of the package's own replacement) and,
// with lines, every line break turned into LF.
func clientText(t *testing.T, s string, lines bool) string {
	t.Helper()
	s, err := xunicode.UTF8.NewDecoder().String(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	if lines {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s
}

// checkRoundTrip requires that stream, the encoding of ev possibly preceded by
// comments, parses back into exactly ev with both go-sse and parseSpec.
func checkRoundTrip(t *testing.T, ev *sse.Event, stream []byte) {
	t.Helper()
	if !utf8.Valid(stream) {
		t.Fatalf("output is not valid UTF-8: %q", stream)
	}
	if bytes.HasPrefix(stream, []byte("\uFEFF")) {
		t.Fatalf("output starts with a BOM: %q", stream)
	}
	wantID := clientText(t, ev.ID, false)
	wantName := clientText(t, ev.Name, false)
	wantData := clientText(t, string(ev.Data), true)

	var got []gosse.Event
	for e, err := range gosse.Read(bytes.NewReader(stream), &gosse.ReadConfig{MaxEventSize: len(stream) + 1}) {
		if err != nil {
			t.Fatalf("go-sse: %v; stream %q", err, stream)
		}
		got = append(got, e)
	}
	want := gosse.Event{LastEventID: wantID, Type: wantName, Data: wantData}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("go-sse parsed %q\n as %+q\nwant [%+q]", stream, got, want)
	}

	specType := wantName
	if specType == "" {
		specType = "message"
	}
	wantRetry := int64(-1)
	if ev.Retry > 0 {
		wantRetry = max(ev.Retry.Milliseconds(), 1)
	}
	spec, retry := parseSpec(string(stream))
	wantSpec := specEvent{Type: specType, Data: wantData, LastEventID: wantID}
	if len(spec) != 1 || spec[0] != wantSpec || retry != wantRetry {
		t.Fatalf("spec parser parsed %q\n as %+q retry %d\nwant [%+q] retry %d", stream, spec, retry, wantSpec, wantRetry)
	}
}
