package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

var errClaimsEncoding = errors.New("identity: forwarded claims cannot be encoded")

// encodeClaims is the value of MetadataClaims: c as one compact JSON
// object in printable ASCII (gRPC metadata allows nothing else), every
// other character written as a \u escape. It is empty for no claims, and
// ErrClaimsTooLarge when over MaxClaimsSize.
func encodeClaims(c map[string]any) (string, error) {
	if len(c) == 0 {
		return "", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("%w: %w", errClaimsEncoding, err)
	}
	raw := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(raw) > MaxClaimsSize {
		// Escaping only lengthens it.
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrClaimsTooLarge, len(raw), MaxClaimsSize)
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	// encoding/json writes valid UTF-8 and escapes control characters, so
	// what is left to escape are DEL and runes beyond ASCII, all inside
	// strings, where \u escapes mean the same.
	for _, r := range string(raw) {
		switch {
		case r < 0x7f:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
	}
	if sb.Len() > MaxClaimsSize {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrClaimsTooLarge, sb.Len(), MaxClaimsSize)
	}
	return sb.String(), nil
}
