package logs

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxTextLen/2) + "xyz" // 3 bytes past the limit
	tests := []struct {
		name  string
		in    string
		flush bool
		want  []string
		used  int
	}{
		{"empty", "", false, nil, 0},
		{"last line held", "a\nb\n", false, []string{"a"}, 2},
		{"flush", "a\nb\n", true, []string{"a", "b"}, 4},
		{"one line held", "a\n", false, nil, 0},
		{"stack trace whole", "ERROR x\n\tat 1\n  at 2\nINFO y\n", false, []string{"ERROR x\n\tat 1\n  at 2"}, 21},
		{"partial line starts an entry", "a\nb", false, []string{"a"}, 2},
		{"partial continuation held", "a\n  b", false, nil, 0},
		{"partial carriage return held", "a\n\r", false, nil, 0},
		{"partial line flushed", "a\n  b", true, []string{"a\n  b"}, 5},
		{"blank lines outside entries", "\n\r\n \na\n", false, nil, 5},
		{"blank lines outside entries flushed", "\n\na\n", true, []string{"a"}, 4},
		{"blank line inside an entry", "panic: x\n\ngoroutine 1\n", false, []string{"panic: x"}, 10},
		{"trailing blank lines dropped", "a\n\n\n", true, []string{"a"}, 4},
		{"CRLF", "a\r\n\tb\r\nc\r\n", true, []string{"a\n\tb", "c"}, 10},
		{"leading continuation", "  x\ny\n", true, []string{"  x", "y"}, 6},
		{"invalid UTF-8", "a\xffb\n", true, []string{"a\uFFFDb"}, 4},
		{"long entry cut on a rune boundary", long + "\n", true, []string{long[:MaxTextLen], "xyz"}, len(long) + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, used := split([]byte(tt.in), tt.flush)
			if !slices.Equal(got, tt.want) || used != tt.used {
				t.Errorf("split(%q, %v) = %q, %d; want %q, %d", tt.in, tt.flush, got, used, tt.want, tt.used)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"a": true, "app.log": true, "A-Z_0.9": true, strings.Repeat("x", 128): true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, "ü": false,
		"a\x00": false, strings.Repeat("x", 129): false,
	} {
		if validName(name) != want {
			t.Errorf("validName(%q) = %v", name, !want)
		}
	}
}
