package sse_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/gateway/sse"
)

// writeRecorder keeps each Write call apart, so tests see how output was cut.
type writeRecorder struct {
	writes []string
	err    error
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestEncoder(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100<<10) // larger than the buffer the Encoder keeps
	tests := []struct {
		name string
		run  func(*sse.Encoder) error
		want []string
	}{
		{
			"one write per event and comment",
			func(e *sse.Encoder) error {
				return errors.Join(
					e.Comment(""),
					e.Encode(&sse.Event{ID: "1", Name: "log", Data: []byte("a\nb")}),
					e.Comment("keep\nalive"),
					e.Encode(&sse.Event{ID: "2", Data: []byte("c")}),
				)
			},
			[]string{":\n", "id: 1\nevent: log\ndata: a\ndata: b\n\n", ": keep\n: alive\n", "id: 2\ndata: c\n\n"},
		},
		{
			"invalid event writes nothing",
			func(e *sse.Encoder) error {
				if err := e.Encode(&sse.Event{ID: "a\nb", Data: []byte("x")}); !errors.Is(err, sse.ErrInvalidID) {
					return fmt.Errorf("Encode with bad id: %v, want ErrInvalidID", err)
				}
				if err := e.Encode(&sse.Event{Name: "\x00"}); !errors.Is(err, sse.ErrInvalidName) {
					return fmt.Errorf("Encode with bad name: %v, want ErrInvalidName", err)
				}
				return e.Encode(&sse.Event{Data: []byte("ok")})
			},
			[]string{"data: ok\n\n"},
		},
		{
			"small event after a huge one",
			func(e *sse.Encoder) error {
				return errors.Join(e.Encode(&sse.Event{Data: []byte(big)}), e.Encode(&sse.Event{Data: []byte("s")}))
			},
			[]string{"data: " + big + "\n\n", "data: s\n\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w writeRecorder
			if err := tt.run(sse.NewEncoder(&w)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(w.writes, tt.want) {
				t.Fatalf("writes\n got %q\nwant %q", w.writes, tt.want)
			}
		})
	}
}

func TestEncoderWriteError(t *testing.T) {
	t.Parallel()
	errClosed := errors.New("closed")
	e := sse.NewEncoder(&writeRecorder{err: errClosed})
	if err := e.Encode(&sse.Event{Data: []byte("x")}); !errors.Is(err, errClosed) {
		t.Fatalf("Encode error = %v, want %v", err, errClosed)
	}
	if err := e.Comment("x"); !errors.Is(err, errClosed) {
		t.Fatalf("Comment error = %v, want %v", err, errClosed)
	}
}

func TestEncoderAllocs(t *testing.T) {
	e := sse.NewEncoder(io.Discard)
	ev := &sse.Event{ID: "17", Name: "progress", Data: []byte(`{"percent":40}`)}
	_ = e.Encode(ev) // first call sizes the buffer
	allocs := testing.AllocsPerRun(100, func() {
		if err := e.Encode(ev); err != nil {
			t.Fatal(err)
		}
		if err := e.Comment(""); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Encode and Comment: %v allocs, want 0", allocs)
	}
}

func ExampleEncoder() {
	enc := sse.NewEncoder(os.Stdout) // in a handler: the http.ResponseWriter, flushed after each write
	events := []*sse.Event{
		{ID: "1", Name: "progress", Retry: 2 * time.Second, Data: []byte(`{"percent":40}`)},
		{ID: "2", Name: "log", Data: []byte("step 1 done\r\n  step 2 started")},
	}
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			fmt.Println(err)
		}
	}
	if err := enc.Comment("heartbeat"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// id: 1
	// event: progress
	// retry: 2000
	// data: {"percent":40}
	//
	// id: 2
	// event: log
	// data: step 1 done
	// data:   step 2 started
	//
	// : heartbeat
}
