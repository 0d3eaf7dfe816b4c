package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseSigningKeyPEM reads an ECDSA, RSA or Ed25519 private key from the
// first PEM block of data: PKCS #8 ("PRIVATE KEY", every type), SEC 1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"). Encrypted PEM is not
// supported.
func ParseSigningKeyPEM(data []byte) (crypto.Signer, error) {
	key, err := parsePEM(data, "private key", map[string]func([]byte) (any, error){
		"PRIVATE KEY":     x509.ParsePKCS8PrivateKey,
		"EC PRIVATE KEY":  func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) },
		"RSA PRIVATE KEY": func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) },
	})
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("identity: unsupported private key type %T", key)
}

// ParseVerificationKeyPEM reads an ECDSA, RSA or Ed25519 public key from
// the first PEM block of data: PKIX ("PUBLIC KEY"), PKCS #1 ("RSA PUBLIC
// KEY") or the public key of a certificate ("CERTIFICATE").
func ParseVerificationKeyPEM(data []byte) (crypto.PublicKey, error) {
	key, err := parsePEM(data, "public key", map[string]func([]byte) (any, error){
		"PUBLIC KEY":     x509.ParsePKIXPublicKey,
		"RSA PUBLIC KEY": func(der []byte) (any, error) { return x509.ParsePKCS1PublicKey(der) },
		"CERTIFICATE": func(der []byte) (any, error) {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			return cert.PublicKey, nil
		},
	})
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return k, nil
	case *rsa.PublicKey:
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("identity: unsupported public key type %T", key)
}

// parsePEM decodes the first PEM block of data with the parser for its type.
func parsePEM(data []byte, what string, parsers map[string]func([]byte) (any, error)) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("identity: no PEM block")
	}
	parse, ok := parsers[block.Type]
	if !ok {
		return nil, fmt.Errorf("identity: PEM block %q is not a %s", block.Type, what)
	}
	key, err := parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: parse %s: %w", what, err)
	}
	return key, nil
}

// LoadSigningKey reads a private key PEM file; see ParseSigningKeyPEM.
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read signing key: %w", err)
	}
	return ParseSigningKeyPEM(data)
}

// LoadVerificationKeys reads one public key PEM file per kid, given as
// "kid=path" pairs (the form of the session-verification-keys setting);
// see ParseVerificationKeyPEM. The result is ready for
// Config.VerificationKeys.
func LoadVerificationKeys(pairs []string) (map[string]crypto.PublicKey, error) {
	keys := make(map[string]crypto.PublicKey, len(pairs))
	for _, pair := range pairs {
		kid, path, ok := strings.Cut(pair, "=")
		if !ok || kid == "" || path == "" {
			return nil, fmt.Errorf("identity: verification key %q is not kid=path", pair)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("identity: read verification key %q: %w", kid, err)
		}
		if keys[kid], err = ParseVerificationKeyPEM(data); err != nil {
			return nil, fmt.Errorf("identity: verification key %q: %w", kid, err)
		}
	}
	return keys, nil
}

// AlgorithmOf names the algorithm that keys of pub's type sign with:
// ES256 for ECDSA P-256, EdDSA for Ed25519, RS256 for RSA of at least 2048
// bits.
func AlgorithmOf(pub crypto.PublicKey) (string, error) {
	for _, alg := range []string{ES256, EdDSA, RS256} {
		if CheckKey(alg, pub) == nil {
			return alg, nil
		}
	}
	return "", fmt.Errorf("identity: no algorithm for a %T", pub)
}

// NewSigningKey returns a fresh ECDSA P-256 key for ES256, for a process
// whose identity tokens only verifiers in the same process need to check.
func NewSigningKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}
