package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ParseSigningKeyPEM reads an ECDSA or RSA private key from the first PEM
// block of data: PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or
// PKCS #1 ("RSA PRIVATE KEY"). Encrypted PEM is not supported.
func ParseSigningKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: no PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("auth: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: parse private key: %w", err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("auth: unsupported private key type %T", key)
}

// ParseVerificationKeyPEM reads an ECDSA or RSA public key from the first PEM
// block of data: PKIX ("PUBLIC KEY"), PKCS #1 ("RSA PUBLIC KEY") or the
// public key of a certificate ("CERTIFICATE").
func ParseVerificationKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: no PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("auth: PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: parse public key: %w", err)
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return k, nil
	case *rsa.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("auth: unsupported public key type %T", key)
}

// LoadSigningKey reads a private key PEM file; see ParseSigningKeyPEM.
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	return ParseSigningKeyPEM(data)
}

// LoadVerificationKeys reads one public key PEM file per kid; see
// ParseVerificationKeyPEM. The result is ready for Config.VerificationKeys.
func LoadVerificationKeys(files map[string]string) (map[string]crypto.PublicKey, error) {
	keys := make(map[string]crypto.PublicKey, len(files))
	for kid, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: read verification key %q: %w", kid, err)
		}
		if keys[kid], err = ParseVerificationKeyPEM(data); err != nil {
			return nil, fmt.Errorf("auth: verification key %q: %w", kid, err)
		}
	}
	return keys, nil
}
