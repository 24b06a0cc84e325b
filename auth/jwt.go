package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWTTTL is a JWT's lifetime without a ttl option (etcd's).
const DefaultJWTTTL = 5 * time.Minute

// jwtTokens are etcd's JWT tokens: claims username, revision and exp,
// signed with the private key given (any member holding the same key
// issues tokens every member accepts); a member given only the public key
// verifies tokens and issues none.
type jwtTokens struct {
	method     jwt.SigningMethod
	key        any // private key, public key (verify only), or HMAC secret
	ttl        time.Duration
	verifyOnly bool
}

// newJWTTokens reads etcd's options: sign-method, pub-key, priv-key (key
// files, PEM; priv-key is the secret for HS*), ttl.
func newJWTTokens(opts map[string]string) (*jwtTokens, error) {
	t := &jwtTokens{ttl: DefaultJWTTTL}
	if v := opts["ttl"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, ErrInvalidAuthOpts
		}
		t.ttl = d
	}
	t.method = jwt.GetSigningMethod(opts["sign-method"])
	if t.method == nil {
		return nil, ErrInvalidAuthOpts
	}
	read := func(name string) ([]byte, error) {
		if opts[name] == "" {
			return nil, nil
		}
		b, err := os.ReadFile(opts[name])
		if err != nil {
			return nil, ErrInvalidAuthOpts
		}
		return b, nil
	}
	pubPEM, err := read("pub-key")
	if err != nil {
		return nil, err
	}
	privPEM, err := read("priv-key")
	if err != nil {
		return nil, err
	}
	if t.key, err = jwtKey(t.method, pubPEM, privPEM); err != nil {
		return nil, err
	}
	switch t.key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		t.verifyOnly = true
	}
	return t, nil
}

// jwtKey is the key for method from the PEM files given: the private key
// (which must match a public key also given), else the public key alone.
func jwtKey(method jwt.SigningMethod, pubPEM, privPEM []byte) (any, error) {
	var parsePriv func([]byte) (crypto.Signer, error)
	var parsePub func([]byte) (crypto.PublicKey, error)
	switch method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(privPEM) == 0 {
			return nil, ErrMissingKey
		}
		return privPEM, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		parsePriv = func(b []byte) (crypto.Signer, error) { return jwt.ParseRSAPrivateKeyFromPEM(b) }
		parsePub = func(b []byte) (crypto.PublicKey, error) { return jwt.ParseRSAPublicKeyFromPEM(b) }
	case *jwt.SigningMethodECDSA:
		parsePriv = func(b []byte) (crypto.Signer, error) { return jwt.ParseECPrivateKeyFromPEM(b) }
		parsePub = func(b []byte) (crypto.PublicKey, error) { return jwt.ParseECPublicKeyFromPEM(b) }
	case *jwt.SigningMethodEd25519:
		parsePriv = func(b []byte) (crypto.Signer, error) {
			k, err := jwt.ParseEdPrivateKeyFromPEM(b)
			if err != nil {
				return nil, err
			}
			return k.(crypto.Signer), nil
		}
		parsePub = jwt.ParseEdPublicKeyFromPEM
	default:
		return nil, fmt.Errorf("unsupported signing method: %T", method)
	}
	var priv crypto.Signer
	var pub crypto.PublicKey
	var err error
	if len(privPEM) > 0 {
		if priv, err = parsePriv(privPEM); err != nil {
			return nil, err
		}
	}
	if len(pubPEM) > 0 {
		if pub, err = parsePub(pubPEM); err != nil {
			return nil, err
		}
	}
	switch {
	case priv == nil && pub == nil:
		return nil, ErrMissingKey
	case priv == nil:
		return pub, nil
	case pub != nil && !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.Public()):
		return nil, ErrKeyMismatch
	}
	return priv, nil
}

func (t *jwtTokens) Prefix() (string, error) { return "", nil }
func (t *jwtTokens) Enable()                 {}
func (t *jwtTokens) Disable()                {}
func (t *jwtTokens) InvalidateUser(string)   {}

func (t *jwtTokens) Assign(user string, revision, _ uint64, _ string) (string, error) {
	if t.verifyOnly {
		return "", ErrVerifyOnly
	}
	tk := jwt.NewWithClaims(t.method, jwt.MapClaims{
		"username": user,
		"revision": revision,
		"exp":      time.Now().Add(t.ttl).Unix(),
	})
	return tk.SignedString(t.key)
}

func (t *jwtTokens) Info(_ context.Context, token string, _ uint64) (*Info, bool) {
	parsed, err := jwt.Parse(token, func(tk *jwt.Token) (any, error) {
		if tk.Method.Alg() != t.method.Alg() {
			return nil, errors.New("invalid signing method")
		}
		if s, ok := t.key.(crypto.Signer); ok {
			return s.Public(), nil
		}
		return t.key, nil
	})
	if err != nil || !parsed.Valid {
		return nil, false
	}
	claims, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return nil, false
	}
	user, ok := claims["username"].(string)
	if !ok {
		return nil, false
	}
	rev, ok := claims["revision"].(float64)
	if !ok {
		return nil, false
	}
	return &Info{Username: user, Revision: uint64(rev)}, true
}
