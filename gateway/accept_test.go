package gateway

import (
	"strings"
	"testing"
)

func TestWantsEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept string
		want   bool
	}{
		{"text/event-stream", true},
		{"Text/Event-Stream", true},
		{"text/event-stream; charset=utf-8", true},
		{"text/event-stream, application/json;q=0.9", true},
		{"application/json, text/event-stream", true}, // equal q: the stream wins
		{"text/event-stream;q=0.5, application/json", false},
		{"text/event-stream;q=0", false},
		{"text/event-stream;q=bogus", false},
		{"*/*", false},
		{"text/*", false},
		{"", false},
		{"application/json", false},
		{"text/html,application/xhtml+xml,*/*;q=0.8", false},
		{"text/event-stream;q=0.8, */*;q=0.9", false}, // JSON, through */*, is preferred
		{"text/event-stream;q=0.9, */*;q=0.8", true},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			t.Parallel()
			if got := wantsEventStream(tt.accept); got != tt.want {
				t.Fatalf("wantsEventStream(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

// FuzzWantsEventStream: any Accept header is answered without panicking, and
// one that does not name text/event-stream never gets a stream.
func FuzzWantsEventStream(f *testing.F) {
	for _, s := range []string{"text/event-stream", "*/*;q=0.1", "a/b;q=1;q=0, text/event-stream;q=0.001", ";;;,,,", "text/event-stream;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := wantsEventStream(accept)
		if got && !strings.Contains(strings.ToLower(accept), "text/event-stream") {
			t.Fatalf("%q chose the stream without naming it", accept)
		}
	})
}
