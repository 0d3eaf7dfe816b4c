package identity

import (
	"encoding/json"
	"errors"
	"fmt"
)

var errClaimsEncoding = errors.New("identity: forwarded claims cannot be encoded")

// checkClaimsSize refuses forwarded claims whose JSON takes more than
// MaxClaimsSize bytes: they travel on in every identity token.
func checkClaimsSize(c map[string]any) error {
	if len(c) == 0 {
		return nil
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%w: %w", errClaimsEncoding, err)
	}
	if len(raw) > MaxClaimsSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrClaimsTooLarge, len(raw), MaxClaimsSize)
	}
	return nil
}
