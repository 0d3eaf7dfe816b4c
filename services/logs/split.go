package logs

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// split cuts bytes read from a file, starting where an entry starts, into
// log entries, and returns them with the number of bytes of buf they cover.
//
// A line that starts with a space or a tab, or is blank, continues the entry
// before it (stack traces stay whole); any other line starts an entry. An
// entry is complete once the line after it is known to start another one.
// Without flush the last entry is kept back, since a line still to come may
// continue it, and so is a last line without its newline. With flush (the
// file went quiet, was rotated or truncated) everything is returned.
//
// Entries lose their line ends (CRLF or LF become LF between lines) and
// trailing blank lines; bytes that are not UTF-8 become U+FFFD; an entry
// longer than MaxTextLen is cut into several.
func split(buf []byte, flush bool) (entries []string, used int) {
	start := -1 // where the entry being gathered starts, -1 for none
	i := 0
	for i < len(buf) {
		end, next := len(buf), len(buf)
		if nl := bytes.IndexByte(buf[i:], '\n'); nl >= 0 {
			end, next = i+nl, i+nl+1
		} else if !flush {
			// A line without its newline tells only by its first byte
			// whether it starts an entry.
			if line := buf[i:end]; start >= 0 && !continues(line) && line[0] != '\r' {
				entries = appendEntry(entries, buf[start:i])
				start, used = -1, i
			}
			break
		}
		switch line := buf[i:end]; {
		case !continues(line):
			if start >= 0 {
				entries = appendEntry(entries, buf[start:i])
			}
			start, used = i, i
		case start < 0 && blank(line):
			used = next // a blank line outside any entry
		case start < 0:
			start = i // a continuation with nothing before it starts an entry
		}
		i = next
	}
	if start < 0 {
		return entries, used
	}
	if flush {
		return appendEntry(entries, buf[start:]), len(buf)
	}
	return entries, start
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

func continues(line []byte) bool {
	return blank(line) || line[0] == ' ' || line[0] == '\t'
}

// appendEntry appends the entry of raw, cut to MaxTextLen, to entries.
func appendEntry(entries []string, raw []byte) []string {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	text = strings.TrimRight(text, " \t\r\n")
	text = strings.ToValidUTF8(text, "\uFFFD")
	for len(text) > MaxTextLen {
		cut := MaxTextLen
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		entries = append(entries, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		entries = append(entries, text)
	}
	return entries
}
