package sseclient_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/internal/bench/sseclient"
)

type got struct{ id, name, data string }

func readAll(t *testing.T, stream string, size int) ([]got, error) {
	t.Helper()
	r := sseclient.NewReader(strings.NewReader(stream), size)
	var out []got
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, got{string(ev.ID), string(ev.Name), string(ev.Data)})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 100)
	tests := []struct {
		name   string
		stream string
		want   []got
		err    error
	}{
		{"gateway stream", ": ok\nid: 1\nretry: 3000\ndata: {\"a\":1}\n\nid: 2\ndata: b\n\nevent: end\ndata: {}\n\n",
			[]got{{"1", "", `{"a":1}`}, {"2", "", "b"}, {"", "end", "{}"}}, nil},
		{"multi-line data and CRLF", "data: a\r\ndata:b\r\ndata\r\n\r\n", []got{{"", "", "a\nb\n"}}, nil},
		{"no data, no dispatch", "id: 5\nevent: x\n\n:\n\ndata: z\n\n", []got{{"", "", "z"}}, nil},
		{"line longer than the buffer", "data: " + long + "\n\n", []got{{"", "", long}}, nil},
		{"truncated event", "data: a\n", nil, sseclient.ErrTruncated},
		{"truncated line", "data: a", nil, sseclient.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := readAll(t, tt.stream, 16)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(out) != len(tt.want) {
				t.Fatalf("events = %q, want %q", out, tt.want)
			}
			for i := range out {
				if out[i] != tt.want[i] {
					t.Errorf("event %d = %q, want %q", i, out[i], tt.want[i])
				}
			}
		})
	}
}

func TestReaderCountsComments(t *testing.T) {
	t.Parallel()
	r := sseclient.NewReader(strings.NewReader(": ok\n:\n:\ndata: x\n\n"), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Comments != 3 {
		t.Errorf("Comments = %d, want 3", r.Comments)
	}
}
