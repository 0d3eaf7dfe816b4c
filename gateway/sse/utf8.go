package sse

import "unicode/utf8"

// appendValidUTF8 appends s to dst with every ill-formed UTF-8 sequence
// replaced by U+FFFD. It replaces the way the WHATWG Encoding standard's
// UTF-8 decoder does (one U+FFFD per maximal subpart of an ill-formed
// sequence), so a client sees the same text as if it had decoded the raw
// bytes itself. Go's own per-byte replacement would differ for truncated
// sequences: "\xE2\x82" is one U+FFFD here, two in a Go range loop.
//
// This is the slow path, taken only for input that failed utf8.Valid.
func appendValidUTF8[T string | []byte](dst []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		n, ok := scanSequence(s[i:])
		if !ok {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			start = i + n
		}
		i += n
	}
	return append(dst, s[start:]...)
}

// scanSequence looks at the multi-byte sequence that starts s (s[0] is not
// ASCII). It returns the sequence's length and true if it is well-formed,
// or the length of its maximal subpart and false if it is not: the lead byte
// plus the continuation bytes that still fit a well-formed sequence.
func scanSequence[T string | []byte](s T) (n int, ok bool) {
	// The second byte's range depends on the lead byte (this excludes
	// overlong forms, surrogates and code points above U+10FFFF); later
	// continuation bytes are always 0x80..0xBF.
	size, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := s[0]; {
	case 0xC2 <= c && c <= 0xDF:
		size = 2
	case c == 0xE0:
		size, lo = 3, 0xA0
	case c == 0xED:
		size, hi = 3, 0x9F
	case 0xE1 <= c && c <= 0xEF:
		size = 3
	case c == 0xF0:
		size, lo = 4, 0x90
	case c == 0xF4:
		size, hi = 4, 0x8F
	case 0xF1 <= c && c <= 0xF3:
		size = 4
	default:
		return 1, false
	}
	for n = 1; n < size; n++ {
		if n >= len(s) || s[n] < lo || s[n] > hi {
			return n, false
		}
		lo, hi = 0x80, 0xBF
	}
	return size, true
}
