package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms a Config may name.
const (
	// HS256 signs with a shared secret: simple, but every verifier can also sign.
	HS256 = "HS256"
	// ES256 signs with an ECDSA P-256 key; verifiers hold public keys only.
	ES256 = "ES256"
	// RS256 signs with an RSA key of at least 2048 bits.
	RS256 = "RS256"
	// EdDSA signs with an Ed25519 key.
	EdDSA = "EdDSA"
)

// Defaults for the zero fields of a Config.
const (
	DefaultIssuer    = "ssegate"
	DefaultLifetime  = 12 * time.Hour
	DefaultClockSkew = 30 * time.Second
	// MaxTokenSize bounds a token (and so a session cookie) in bytes. Longer
	// input is refused before it is decoded.
	MaxTokenSize = 4096
	// MinSecretSize is the shortest HS256 secret accepted, in bytes.
	MinSecretSize = 32
	// MaxSubjectSize bounds a subject in bytes.
	MaxSubjectSize = 256
)

// Errors of Issue and Verify. Verify wraps one of ErrTokenInvalid and
// ErrTokenExpired; the wrapped detail is for logs, never for browsers.
var (
	ErrTokenInvalid = errors.New("identity: invalid session token")
	ErrTokenExpired = errors.New("identity: session expired")
	ErrBadSubject   = errors.New("identity: subject must be 1 to 256 printable ASCII characters")
)

// Config describes how session tokens are signed and verified.
//
// With HS256 (the default) Secret signs and verifies. With ES256, RS256 or
// EdDSA, SigningKey (an *ecdsa.PrivateKey, *rsa.PrivateKey or
// ed25519.PrivateKey) signs and its token
// header names SigningKeyID as "kid"; VerificationKeys maps every kid still
// accepted to its public key, so keys rotate by adding the new key, switching
// SigningKey to it, and dropping the old kid once its last token has expired.
// The signing key's own public key is always accepted under SigningKeyID.
// A verifier-only Config (a backend) leaves SigningKey nil.
type Config struct {
	// Algorithm is HS256, ES256, RS256 or EdDSA; empty means HS256. It is
	// the only algorithm Verify accepts.
	Algorithm string
	// Secret is the HS256 key, at least MinSecretSize random bytes.
	Secret []byte
	// SigningKey is the ES256, RS256 or EdDSA private key; nil to verify only.
	SigningKey crypto.Signer
	// SigningKeyID is the kid of SigningKey, required with SigningKey.
	SigningKeyID string
	// VerificationKeys maps a kid to an *ecdsa.PublicKey, *rsa.PublicKey or
	// ed25519.PublicKey.
	VerificationKeys map[string]crypto.PublicKey
	// Issuer is the "iss" claim written and required; empty means DefaultIssuer.
	Issuer string
	// Lifetime is how long a token is valid; zero means DefaultLifetime.
	Lifetime time.Duration
	// ClockSkew is the leeway on exp, nbf and iat; zero means DefaultClockSkew.
	ClockSkew time.Duration
}

// keys is a validated Config.
type keys struct {
	alg      jwt.SigningMethod
	secret   []byte
	signer   crypto.Signer
	kid      string
	verify   map[string]crypto.PublicKey
	issuer   string
	lifetime time.Duration
	skew     time.Duration
}

func (c Config) validate() (*keys, error) {
	k := &keys{
		issuer:   c.Issuer,
		lifetime: c.Lifetime,
		skew:     c.ClockSkew,
		kid:      c.SigningKeyID,
		verify:   make(map[string]crypto.PublicKey, len(c.VerificationKeys)+1),
	}
	if k.issuer == "" {
		k.issuer = DefaultIssuer
	}
	if k.lifetime == 0 {
		k.lifetime = DefaultLifetime
	}
	if k.skew == 0 {
		k.skew = DefaultClockSkew
	}
	if k.lifetime < 0 || k.skew < 0 {
		return nil, errors.New("identity: lifetime and clock skew must not be negative")
	}
	switch c.Algorithm {
	case "", HS256:
		k.alg = jwt.SigningMethodHS256
		if len(c.Secret) < MinSecretSize {
			return nil, fmt.Errorf("identity: HS256 needs a secret of at least %d bytes", MinSecretSize)
		}
		if c.SigningKey != nil || len(c.VerificationKeys) > 0 {
			return nil, errors.New("identity: HS256 takes a secret, not key pairs")
		}
		k.secret = append([]byte(nil), c.Secret...)
		return k, nil
	case ES256:
		k.alg = jwt.SigningMethodES256
	case RS256:
		k.alg = jwt.SigningMethodRS256
	case EdDSA:
		k.alg = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("identity: unsupported algorithm %q (want HS256, ES256, RS256 or EdDSA)", c.Algorithm)
	}
	if len(c.Secret) > 0 {
		return nil, fmt.Errorf("identity: %s takes key pairs, not a secret", c.Algorithm)
	}
	for kid, pub := range c.VerificationKeys {
		if kid == "" {
			return nil, errors.New("identity: verification key with an empty kid")
		}
		if err := checkPublicKey(k.alg, pub); err != nil {
			return nil, fmt.Errorf("identity: verification key %q: %w", kid, err)
		}
		k.verify[kid] = pub
	}
	if c.SigningKey != nil {
		if k.kid == "" {
			return nil, errors.New("identity: a signing key needs a SigningKeyID")
		}
		pub := c.SigningKey.Public()
		if err := checkPublicKey(k.alg, pub); err != nil {
			return nil, fmt.Errorf("identity: signing key: %w", err)
		}
		if other, ok := k.verify[k.kid]; ok && !samePublicKey(other, pub) {
			return nil, fmt.Errorf("identity: kid %q names two different keys", k.kid)
		}
		k.verify[k.kid] = pub
		k.signer = c.SigningKey
	}
	if len(k.verify) == 0 {
		return nil, fmt.Errorf("identity: %s needs a signing key or verification keys", c.Algorithm)
	}
	return k, nil
}

func checkPublicKey(alg jwt.SigningMethod, pub crypto.PublicKey) error {
	switch alg {
	case jwt.SigningMethodES256:
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return errors.New("ES256 needs an ECDSA P-256 key")
		}
	case jwt.SigningMethodRS256:
		r, ok := pub.(*rsa.PublicKey)
		if !ok || r.N == nil || r.N.BitLen() < 2048 {
			return errors.New("RS256 needs an RSA key of at least 2048 bits")
		}
	case jwt.SigningMethodEdDSA:
		ed, ok := pub.(ed25519.PublicKey)
		if !ok || len(ed) != ed25519.PublicKeySize {
			return errors.New("EdDSA needs an Ed25519 key")
		}
	default:
		return errors.New("no public keys for " + alg.Alg())
	}
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// claims are the registered claims plus a check of the subject, which goes
// into gRPC metadata and must therefore be printable ASCII.
type claims struct {
	jwt.RegisteredClaims
}

// Validate implements jwt.ClaimsValidator.
func (c claims) Validate() error {
	if !ValidSubject(c.Subject) {
		return ErrBadSubject
	}
	return nil
}

// ValidSubject reports whether s can be a subject: 1 to MaxSubjectSize
// printable ASCII characters, as gRPC metadata values must be.
func ValidSubject(s string) bool {
	if s == "" || len(s) > MaxSubjectSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Issuer signs session tokens.
type Issuer struct {
	k *keys
}

// NewIssuer validates cfg; with ES256, RS256 or EdDSA it needs a SigningKey.
func NewIssuer(cfg Config) (*Issuer, error) {
	k, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if k.secret == nil && k.signer == nil {
		return nil, errors.New("identity: an issuer needs a signing key")
	}
	return &Issuer{k: k}, nil
}

// Lifetime is how long the tokens this issuer signs are valid.
func (i *Issuer) Lifetime() time.Duration { return i.k.lifetime }

// Issue signs a token for subject, valid from now for the configured
// lifetime, and returns it with its expiry (whole seconds, as in the token).
func (i *Issuer) Issue(subject string, now time.Time) (string, time.Time, error) {
	if !ValidSubject(subject) {
		return "", time.Time{}, ErrBadSubject
	}
	now = now.Truncate(time.Second)
	exp := now.Add(i.k.lifetime)
	c := claims{jwt.RegisteredClaims{
		Issuer:    i.k.issuer,
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	t := jwt.NewWithClaims(i.k.alg, c)
	if i.k.kid != "" {
		t.Header["kid"] = i.k.kid
	}
	var key any = i.k.secret
	if i.k.signer != nil {
		key = i.k.signer
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("identity: sign token: %w", err)
	}
	if len(s) > MaxTokenSize {
		return "", time.Time{}, errors.New("identity: token too large")
	}
	return s, exp, nil
}

// Verifier checks session tokens.
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

// Verify checks token's size, algorithm, key, signature, issuer, subject
// and times (exp required; exp, nbf and iat with the clock skew) at now, and
// returns the principal it names. Errors wrap ErrTokenExpired when the token
// is genuine but expired, ErrTokenInvalid otherwise.
func (v *Verifier) Verify(token string, now time.Time) (Principal, error) {
	if token == "" {
		return Principal{}, fmt.Errorf("%w: empty", ErrTokenInvalid)
	}
	if len(token) > MaxTokenSize {
		return Principal{}, fmt.Errorf("%w: %d bytes is over the limit", ErrTokenInvalid, len(token))
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{v.k.alg.Alg()}),
		jwt.WithIssuer(v.k.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.k.skew),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64 keeps each signature to one spelling, so an accepted
		// string is exactly one that was issued.
		jwt.WithStrictDecoding(),
	)
	var c claims
	if _, err := p.ParseWithClaims(token, &c, v.key); err != nil {
		if onlyExpired(err) {
			return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	return Principal{Subject: c.Subject, Expiry: c.ExpiresAt.Time, Token: token}, nil
}

// key picks the verification key. The method was already checked against
// the one configured algorithm; checking its type again here keeps an HMAC
// "secret" from ever being a public key.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method == nil || t.Method.Alg() != v.k.alg.Alg() {
		return nil, errors.New("unexpected signing method")
	}
	if v.k.secret != nil {
		return v.k.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	pub, ok := v.k.verify[kid]
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return pub, nil
}

// onlyExpired reports whether exp is the only thing wrong with a token whose
// signature was good: only then may the browser hear "session expired".
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrInvalidType, ErrBadSubject,
	} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}
