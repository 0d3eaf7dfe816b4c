package mapping

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ssegate/ssegate/gateway/sse"
	benchv1 "github.com/ssegate/ssegate/gen/ssegate/bench/v1"
)

// The flat encoder writes what protojson writes, less its random spaces.
func TestFlatMatchesProtojson(t *testing.T) {
	m, err := New((&benchv1.StreamResponse{}).ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if m.flat == nil {
		t.Fatal("StreamResponse should take the flat path")
	}
	for _, msg := range []*benchv1.StreamResponse{
		{},
		{Seq: math.MaxUint64, SentUnixNano: math.MinInt64, Payload: "plain"},
		{Payload: "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \x00 us \x1f del \x7f"},
		{Payload: "héllo — 世界 \u2028 \u2029 <>&' 😀"},
	} {
		var ev sse.Event
		if err := m.Map(msg, &ev); err != nil {
			t.Fatal(err)
		}
		want, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Data, compact.Bytes()) {
			t.Errorf("flat %s\nwant %s", ev.Data, compact.Bytes())
		}
	}
	var ev sse.Event
	if err := m.Map(&benchv1.StreamResponse{Payload: "bad \xff"}, &ev); err == nil {
		t.Error("invalid UTF-8: want an error, as protojson gives")
	}
}

func BenchmarkMapFlat(b *testing.B) {
	m, _ := New((&benchv1.StreamResponse{}).ProtoReflect().Descriptor())
	msg := &benchv1.StreamResponse{Seq: 12345, SentUnixNano: 1795315521095757974, Payload: string(bytes.Repeat([]byte("x"), 128))}
	var ev sse.Event
	b.Run("flat", func(b *testing.B) {
		for b.Loop() {
			_ = m.Map(msg, &ev)
		}
	})
	flat := m.flat
	m.flat = nil
	b.Run("protojson", func(b *testing.B) {
		for b.Loop() {
			_ = m.Map(msg, &ev)
		}
	})
	m.flat = flat
}
