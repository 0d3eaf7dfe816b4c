package ssetest_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/internal/ssetest"
)

func TestReader(t *testing.T) {
	t.Parallel()
	stream := ": ok\n\nid: 1\nevent: log\nretry: 2000\ndata: a\ndata: b\n\n:\nid: \ndata: {}\n\nevent: cut\ndata: x"
	r := ssetest.NewReader(strings.NewReader(stream))
	wantUnits := []string{": ok\n", "id: 1\nevent: log\nretry: 2000\ndata: a\ndata: b\n\n", ":\n", "id: \ndata: {}\n\n"}
	for _, want := range wantUnits {
		got, err := r.NextUnit()
		if err != nil || got != want {
			t.Fatalf("unit %q, %v; want %q", got, err, want)
		}
	}
	if got, err := r.NextUnit(); !errors.Is(err, io.ErrUnexpectedEOF) || got != "event: cut\ndata: x" {
		t.Fatalf("cut block: %q, %v", got, err)
	}

	b := ssetest.Parse(wantUnits[1])
	if b.ID != "1" || b.Event != "log" || b.Retry != "2000" || b.Data != "a\nb" || !b.Has("id") || b.Comment {
		t.Errorf("parsed %+v", b)
	}
	if b := ssetest.Parse(wantUnits[3]); b.ID != "" || !b.Has("id") || b.Has("event") {
		t.Errorf("empty id: %+v", b)
	}
	if b := ssetest.Parse(": ok\n"); !b.Comment || b.Data != "ok" {
		t.Errorf("comment: %+v", b)
	}

	events, err := ssetest.NewReader(strings.NewReader(stream)).Events()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(events) != 2 || events[1].Data != "{}" {
		t.Errorf("events %+v, %v", events, err)
	}
}
