package identity

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
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
	// MaxClaimsSize bounds the forwarded claims of a token, encoded as
	// JSON, in bytes. A token over it is refused whole: they travel on
	// in every identity token, which must stay within MaxTokenSize.
	MaxClaimsSize = 2048
)

// Errors of Issue and Verify. Verify wraps one of ErrTokenInvalid and
// ErrTokenExpired; the wrapped detail is for logs, never for browsers.
var (
	ErrTokenInvalid = errors.New("identity: invalid session token")
	ErrTokenExpired = errors.New("identity: session expired")
	ErrBadSubject   = errors.New("identity: subject must be 1 to 256 printable ASCII characters")
	// ErrBadGrant is the error of Sign for a grant it cannot sign: a
	// session id that is not 1 to 256 printable ASCII characters, or a
	// claim with a reserved name. (A grant whose session has ended is
	// ErrTokenExpired.)
	ErrBadGrant = errors.New("identity: bad grant")
	// ErrClaimsTooLarge is the detail of a token whose forwarded claims
	// are over MaxClaimsSize.
	ErrClaimsTooLarge = errors.New("identity: forwarded claims are too large")
)

// Config describes how tokens are signed and verified: session tokens,
// and the identity tokens of calls to backends.
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
	// KeySet supplies verification keys that change while the verifier
	// runs, such as a JWKS the issuer publishes; it is asked for each kid
	// that VerificationKeys does not hold. Not with HS256.
	KeySet KeySet
	// Issuer is the "iss" claim written and required; empty means DefaultIssuer.
	Issuer string
	// Audience, when set, is the "aud" written and one that Verify
	// requires among the token's audiences; empty: aud is not checked.
	Audience string
	// UserClaim names the claim that holds the user; empty means "sub".
	// Its value must be a string that ValidSubject accepts, as it travels
	// in gRPC metadata. An issuer writes the user there and in "sub".
	UserClaim string
	// Claims names the claims that Verify copies into Principal.Claims,
	// and so passes on to backends (roles, tenant, …). A token without
	// one of them is accepted without it; one whose copied claims encode
	// to more than MaxClaimsSize bytes is refused.
	Claims []string
	// Actor, when set, names the service that signs the tokens on its
	// users' behalf: an Issuer writes it as the actor claim ("act":
	// {"sub": Actor}, RFC 8693) and a Verifier requires exactly it there.
	// A Verifier without Actor reads an actor claim into Principal.Actor
	// when there is one, and requires none.
	Actor string
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
	keySet   KeySet
	issuer   string
	audience string
	user     string
	claims   []string
	actor    string
	lifetime time.Duration
	skew     time.Duration
}

func (c Config) validate() (*keys, error) {
	k := &keys{
		issuer:   c.Issuer,
		audience: c.Audience,
		user:     c.UserClaim,
		keySet:   c.KeySet,
		actor:    c.Actor,
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
	if k.user == "" {
		k.user = "sub"
	}
	if err := CheckUserClaim(k.user); err != nil {
		return nil, err
	}
	if err := CheckClaims(c.Claims); err != nil {
		return nil, err
	}
	if k.actor != "" && !ValidSubject(k.actor) {
		return nil, fmt.Errorf("identity: actor %q is not 1 to %d printable ASCII characters", k.actor, MaxSubjectSize)
	}
	k.claims = append([]string(nil), c.Claims...)
	switch c.Algorithm {
	case "", HS256:
		k.alg = jwt.SigningMethodHS256
		if len(c.Secret) < MinSecretSize {
			return nil, fmt.Errorf("identity: HS256 needs a secret of at least %d bytes", MinSecretSize)
		}
		if c.SigningKey != nil || len(c.VerificationKeys) > 0 || c.KeySet != nil {
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
	if len(k.verify) == 0 && k.keySet == nil {
		return nil, fmt.Errorf("identity: %s needs a signing key, verification keys or a key set", c.Algorithm)
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

// registered are the claims with a meaning of their own, which cannot
// name the user ("sub" is the default user claim).
var registered = map[string]bool{"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true}

// CheckUserClaim reports whether name can be Config.UserClaim: not empty,
// and not a registered claim other than "sub".
func CheckUserClaim(name string) error {
	if name == "" || registered[name] {
		return fmt.Errorf("identity: user claim %q is empty or a registered claim", name)
	}
	return nil
}

// reserved are the claims an identity token gives a meaning of its own
// (see Grant): a forwarded claim cannot take one of these names.
var reserved = map[string]bool{
	"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"sub": true, "sid": true, "act": true, "session_exp": true,
}

// CheckClaims reports whether names can be Config.Claims: none empty, none
// twice, none a claim that identity tokens reserve (iss, sub, aud, exp,
// nbf, iat, jti, sid, act, session_exp).
func CheckClaims(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if name == "" || seen[name] || reserved[name] {
			return fmt.Errorf("identity: forwarded claim %q is empty, named twice or reserved", name)
		}
		seen[name] = true
	}
	return nil
}

// NewSessionID returns a fresh random session id: 26 lower-case letters
// and digits (128 random bits).
func NewSessionID() string { return strings.ToLower(rand.Text()) }

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

// Issuer signs tokens: session tokens (Issue) at a sign-in service,
// identity tokens (Sign, through a Minter) at the gateway and at services
// that call others for users.
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

// Issue signs a session token for subject with a fresh session id (the
// "sid" claim, which a revocation names), valid from now for the
// configured lifetime, and returns it with its expiry (whole seconds, as
// in the token).
func (i *Issuer) Issue(subject string, now time.Time) (string, time.Time, error) {
	return i.Sign(Grant{Subject: subject, Session: NewSessionID()}, now)
}

// Grant is what one token says: whom it names, for which audience, in
// which session, with which other claims.
type Grant struct {
	// Subject is the user, written as "sub" and in Config.UserClaim.
	Subject string
	// Audience is the "aud" claim; empty means Config.Audience.
	Audience string
	// Session is the "sid" claim, left out when empty.
	Session string
	// Claims are other claims to write (the forwarded claims); none may
	// be reserved (see CheckClaims).
	Claims map[string]any
	// NotAfter, when not zero, is when the session ends: it caps the
	// token's expiry, so an identity token never outlives its session, and
	// is written as "session_exp" (Principal.SessionExpiry), so a backend
	// can tell the user when to sign in again.
	NotAfter time.Time
}

// Sign signs a token of g, valid from now for the configured lifetime or
// until g.NotAfter if that is sooner, and returns it with its expiry
// (whole seconds, as in the token). With Config.Actor it names the actor.
func (i *Issuer) Sign(g Grant, now time.Time) (string, time.Time, error) {
	if !ValidSubject(g.Subject) {
		return "", time.Time{}, ErrBadSubject
	}
	if g.Session != "" && !ValidSubject(g.Session) {
		return "", time.Time{}, fmt.Errorf("%w: session id", ErrBadGrant)
	}
	now = now.Truncate(time.Second)
	exp := now.Add(i.k.lifetime)
	if !g.NotAfter.IsZero() && g.NotAfter.Before(exp) {
		exp = g.NotAfter.Truncate(time.Second)
	}
	if !exp.After(now) {
		return "", time.Time{}, fmt.Errorf("%w: the grant's session has ended", ErrTokenExpired)
	}
	c := make(jwt.MapClaims, len(g.Claims)+8)
	for name, v := range g.Claims {
		if reserved[name] || name == "" {
			return "", time.Time{}, fmt.Errorf("%w: claim %q is reserved", ErrBadGrant, name)
		}
		c[name] = v
	}
	c["iss"] = i.k.issuer
	c["sub"] = g.Subject
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = exp.Unix()
	if aud := cmp.Or(g.Audience, i.k.audience); aud != "" {
		c["aud"] = aud
	}
	if g.Session != "" {
		c["sid"] = g.Session
	}
	if !g.NotAfter.IsZero() {
		c["session_exp"] = g.NotAfter.Unix()
	}
	if i.k.actor != "" {
		c["act"] = map[string]any{"sub": i.k.actor}
	}
	c[i.k.user] = g.Subject
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
