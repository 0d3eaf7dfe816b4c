package identity

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeySet is a source of verification keys that may change while a
// Verifier runs, such as a JWKS refreshed from the issuer.
type KeySet interface {
	// Key returns the public key named kid, or an error when the set has
	// none. It may fetch the set again first, so it may block briefly.
	Key(kid string) (crypto.PublicKey, error)
}

// CheckKey reports whether pub can verify tokens of alg (ES256: ECDSA
// P-256; RS256: RSA of at least 2048 bits; EdDSA: Ed25519), for key sets
// that keep only the keys of the configured algorithm.
func CheckKey(alg string, pub crypto.PublicKey) error {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == HS256 {
		return fmt.Errorf("identity: no public keys for algorithm %q", alg)
	}
	if err := checkPublicKey(m, pub); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// Verifier checks tokens: session tokens at the gateway, identity tokens
// at a backend.
type Verifier struct {
	k *keys
}

// NewVerifier validates cfg. A verifier needs no private key.
func NewVerifier(cfg Config) (*Verifier, error) {
	k, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Verifier{k: k}, nil
}

// Issuer is the "iss" the verifier requires.
func (v *Verifier) Issuer() string { return v.k.issuer }

// Verify checks token's size, algorithm, key, signature, issuer, audience,
// user claim, forwarded claims and times (exp required; exp, nbf and iat
// with the clock skew) at now, and returns the principal it names. Errors
// wrap ErrTokenExpired when the token is genuine but expired,
// ErrTokenInvalid otherwise. With a KeySet, a kid that neither it nor
// VerificationKeys holds may make Verify wait for the set to be read.
func (v *Verifier) Verify(token string, now time.Time) (Principal, error) {
	if token == "" {
		return Principal{}, fmt.Errorf("%w: empty", ErrTokenInvalid)
	}
	if len(token) > MaxTokenSize {
		return Principal{}, fmt.Errorf("%w: %d bytes is over the limit", ErrTokenInvalid, len(token))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.k.alg.Alg()}),
		jwt.WithIssuer(v.k.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.k.skew),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64 keeps each signature to one spelling, so an accepted
		// string is exactly one that was issued.
		jwt.WithStrictDecoding(),
	}
	if v.k.audience != "" {
		opts = append(opts, jwt.WithAudience(v.k.audience))
	}
	c := &tokenClaims{k: v.k}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(token, c, v.key); err != nil {
		if onlyExpired(err) {
			return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	exp, _ := c.GetExpirationTime() // required, so present and valid
	return Principal{Subject: c.user, Expiry: exp.Time, SessionExpiry: c.sessionExp, Token: token,
		Session: c.session, Actor: c.actor, Claims: c.forwarded}, nil
}

// key picks the verification key. The method was already checked against
// the one configured algorithm; checking its type again here keeps an HMAC
// "secret" from ever being a public key, and a key from a key set is
// checked to be of the algorithm's type.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method == nil || t.Method.Alg() != v.k.alg.Alg() {
		return nil, errors.New("unexpected signing method")
	}
	if v.k.secret != nil {
		return v.k.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if pub, ok := v.k.verify[kid]; ok {
		return pub, nil
	}
	if v.k.keySet == nil || kid == "" {
		return nil, errors.New("unknown kid")
	}
	pub, err := v.k.keySet.Key(kid)
	if err != nil {
		return nil, fmt.Errorf("kid %.64q: %w", kid, err)
	}
	if err := checkPublicKey(v.k.alg, pub); err != nil {
		return nil, fmt.Errorf("kid %.64q: %w", kid, err)
	}
	return pub, nil
}

// tokenClaims are a token's claims as the JWT holds them, numbers as
// json.Number so that forwarded values keep every digit. Validate, which
// the parser calls after its own checks, picks out the user and the
// forwarded claims.
type tokenClaims struct {
	jwt.MapClaims
	k          *keys
	user       string
	session    string
	sessionExp time.Time
	actor      string
	forwarded  map[string]any
}

// UnmarshalJSON decodes the claims with json.Number for numbers.
func (c *tokenClaims) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m jwt.MapClaims
	if err := d.Decode(&m); err != nil {
		return err
	}
	c.MapClaims = m
	return nil
}

// maxTime bounds exp, nbf and iat (the end of year 9999): the parser turns
// seconds into an int64 the way the platform converts floats, which for
// huge values differs from one CPU to another.
const maxTime = 253402300799

// Validate implements jwt.ClaimsValidator.
func (c *tokenClaims) Validate() error {
	for _, name := range []string{"exp", "nbf", "iat", "session_exp"} {
		if n, ok := c.MapClaims[name].(json.Number); ok {
			if f, err := n.Float64(); err != nil || f < 0 || f > maxTime {
				return fmt.Errorf("%w: %s out of range", jwt.ErrInvalidType, name)
			}
		}
	}
	user, ok := c.MapClaims[c.k.user].(string)
	if !ok || !ValidSubject(user) {
		return fmt.Errorf("%w (claim %q)", ErrBadSubject, c.k.user)
	}
	session, err := c.optionalString("sid")
	if err != nil {
		return err
	}
	actor, err := c.actorClaim()
	if err != nil {
		return err
	}
	var fwd map[string]any
	for _, name := range c.k.claims {
		if val, ok := c.MapClaims[name]; ok {
			if fwd == nil {
				fwd = make(map[string]any, len(c.k.claims))
			}
			fwd[name] = val
		}
	}
	if err := checkClaimsSize(fwd); err != nil {
		return err
	}
	if n, ok := c.MapClaims["session_exp"]; ok {
		num, ok := n.(json.Number)
		secs, err := num.Int64()
		if !ok || err != nil {
			return fmt.Errorf("%w (claim \"session_exp\")", errBadClaim)
		}
		c.sessionExp = time.Unix(secs, 0)
	}
	c.user, c.session, c.actor, c.forwarded = user, session, actor, fwd
	return nil
}

// errBadClaim is the detail of a token whose sid or act is malformed, or
// whose act names another actor than the one required.
var errBadClaim = errors.New("identity: malformed or unexpected session or actor claim")

// optionalString returns the claim name, which when present must be a
// string that ValidSubject accepts.
func (c *tokenClaims) optionalString(name string) (string, error) {
	v, ok := c.MapClaims[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || !ValidSubject(s) {
		return "", fmt.Errorf("%w (claim %q)", errBadClaim, name)
	}
	return s, nil
}

// actorClaim returns act.sub (RFC 8693), required to be the configured
// actor when there is one.
func (c *tokenClaims) actorClaim() (string, error) {
	v, ok := c.MapClaims["act"]
	if !ok {
		if c.k.actor != "" {
			return "", fmt.Errorf("%w: no actor, want %q", errBadClaim, c.k.actor)
		}
		return "", nil
	}
	act, ok := v.(map[string]any)
	sub, _ := act["sub"].(string)
	if !ok || !ValidSubject(sub) || (c.k.actor != "" && sub != c.k.actor) {
		return "", fmt.Errorf("%w (claim \"act\")", errBadClaim)
	}
	return sub, nil
}

// onlyExpired reports whether exp is the only thing wrong with a token whose
// signature was good: only then may the browser hear "session expired".
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenNotValidYet,
		jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenRequiredClaimMissing, jwt.ErrInvalidType,
		ErrBadSubject, ErrClaimsTooLarge, errClaimsEncoding, errBadClaim,
	} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}
