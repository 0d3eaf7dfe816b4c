package sse_test

import (
	"io"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/gateway/sse"
)

// benchJSON is a typical 128-byte protojson message.
const benchJSON = `{"jobId":"j-7f3a9c21","stage":"TRANSCODE","percent":42,"etaMs":182500,"message":"segment 17 of 40 done","warnings":[],"ok":true}`

// benchLog is a multi-line log entry, as a live log tail sends it.
var benchLog = strings.Repeat("2026-01-02T15:04:05Z INFO worker: step finished in 12ms\n", 7) + "  at main.run(main.go:42)"

func benchmarkAppend(b *testing.B, ev *sse.Event) {
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Data)))
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = sse.AppendEvent(buf[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	if len(benchJSON) != 128 {
		b.Fatalf("benchJSON is %d bytes, want 128", len(benchJSON))
	}
	benchmarkAppend(b, &sse.Event{ID: "1718000000000-42", Name: "progress", Data: []byte(benchJSON)})
}

func BenchmarkAppendEventMultiline(b *testing.B) {
	benchmarkAppend(b, &sse.Event{ID: "1718000000000-42", Name: "log", Data: []byte(benchLog)})
}

func BenchmarkAppendEventInvalidUTF8(b *testing.B) {
	benchmarkAppend(b, &sse.Event{ID: "1718000000000-42", Name: "progress", Data: []byte(benchJSON[:64] + "\xff" + benchJSON[65:])})
}

func BenchmarkEncoder(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	e := sse.NewEncoder(io.Discard)
	ev := &sse.Event{ID: "1718000000000-42", Name: "progress", Data: []byte(benchJSON)}
	for b.Loop() {
		if err := e.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}
