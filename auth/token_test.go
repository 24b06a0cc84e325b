package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSimpleTokens(t *testing.T) {
	applied := map[uint64]chan struct{}{1: make(chan struct{}), 2: make(chan struct{})}
	close(applied[1])
	tp := NewSimpleTokens(time.Minute, func(i uint64) <-chan struct{} { return applied[i] }).(*simpleTokens)
	now := time.Unix(1000, 0)
	tp.now = func() time.Time { return now }
	tp.Enable()
	prefix, err := tp.Prefix()
	if err != nil || len(prefix) != 16 || strings.Trim(prefix, tokenLetters) != "" {
		t.Fatalf("prefix %q, %v", prefix, err)
	}
	tok, _ := tp.Assign("alice", 7, 1, prefix)
	if tok != prefix+".1" {
		t.Fatalf("token %q", tok)
	}
	ctx := context.Background()
	if info, ok := tp.Info(ctx, tok, 9); !ok || info.Username != "alice" || info.Revision != 9 {
		t.Fatalf("info %+v, %v: want alice at the store's revision", info, ok)
	}
	// A token from an index not applied yet waits for it.
	later, _ := tp.Assign("bob", 7, 2, "abcdefghijklmnop")
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, ok := tp.Info(short, later, 9); ok {
		t.Fatal("a token from an index not applied was accepted")
	}
	close(applied[2])
	if _, ok := tp.Info(ctx, later, 9); !ok {
		t.Fatal("the token once its index is applied")
	}
	// Each use extends the TTL; unused for the TTL, it expires.
	now = now.Add(50 * time.Second)
	if _, ok := tp.Info(ctx, tok, 9); !ok {
		t.Fatal("token expired before its TTL")
	}
	now = now.Add(50 * time.Second)
	if _, ok := tp.Info(ctx, tok, 9); !ok {
		t.Fatal("a use did not extend the token")
	}
	now = now.Add(61 * time.Second)
	if _, ok := tp.Info(ctx, tok, 9); ok {
		t.Fatal("token valid after its TTL unused")
	}
	for _, bad := range []string{"", "nodot", "abc.x"} {
		if _, ok := tp.Info(ctx, bad, 9); ok {
			t.Errorf("malformed token %q accepted", bad)
		}
	}
	tp.InvalidateUser("bob")
	if _, ok := tp.Info(ctx, later, 9); ok {
		t.Fatal("token of an invalidated user")
	}
	tok, _ = tp.Assign("alice", 7, 1, prefix)
	tp.Disable()
	if _, ok := tp.Info(ctx, tok, 9); ok {
		t.Fatal("token after auth was disabled")
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyFiles writes a key pair of the kind as PEM files.
func keyFiles(t *testing.T, kind string) (pub, priv string) {
	t.Helper()
	dir := t.TempDir()
	var signer any
	var err error
	switch kind {
	case "rsa":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	var pubKey any
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		pubKey = &k.PublicKey
	case *ecdsa.PrivateKey:
		pubKey = &k.PublicKey
	case ed25519.PrivateKey:
		pubKey = k.Public()
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pubKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "pub.pem", "PUBLIC KEY", pubDER), writePEM(t, dir, "priv.pem", "PRIVATE KEY", privDER)
}

// TestJWTTokens signs and verifies with each kind of key; a member given
// only the public key verifies and cannot sign; an expired token, one
// signed with another key or another method, is refused.
func TestJWTTokens(t *testing.T) {
	for _, tt := range []struct{ kind, method string }{
		{"rsa", "RS256"}, {"rsa", "PS384"}, {"ec", "ES256"}, {"ed", "EdDSA"},
	} {
		t.Run(tt.method, func(t *testing.T) {
			pub, priv := keyFiles(t, tt.kind)
			signer, err := NewTokenProvider("jwt,pub-key="+pub+",priv-key="+priv+",sign-method="+tt.method+",ttl=1h", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			verifier, err := NewTokenProvider("jwt,pub-key="+pub+",sign-method="+tt.method, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := signer.Assign("alice", 42, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, tp := range []TokenProvider{signer, verifier} {
				if info, ok := tp.Info(context.Background(), tok, 1); !ok || info.Username != "alice" || info.Revision != 42 {
					t.Fatalf("info %+v, %v: want alice at the token's revision 42", info, ok)
				}
			}
			if _, err := verifier.Assign("alice", 1, 0, ""); !errors.Is(err, ErrVerifyOnly) {
				t.Fatalf("verify-only assign: %v", err)
			}
			otherPub, otherPriv := keyFiles(t, tt.kind)
			other, err := NewTokenProvider("jwt,pub-key="+otherPub+",priv-key="+otherPriv+",sign-method="+tt.method, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := other.Info(context.Background(), tok, 1); ok {
				t.Fatal("a token signed with another key was accepted")
			}
			if _, err := NewTokenProvider("jwt,pub-key="+otherPub+",priv-key="+priv+",sign-method="+tt.method, 0, nil); !errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("mismatched keys: %v", err)
			}
			expired, err := NewTokenProvider("jwt,priv-key="+priv+",sign-method="+tt.method+",ttl=-1m", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			old, _ := expired.Assign("alice", 1, 0, "")
			if _, ok := signer.Info(context.Background(), old, 1); ok {
				t.Fatal("an expired token was accepted")
			}
		})
	}
	t.Run("HS256", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("a shared secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		tp, err := NewTokenProvider("jwt,priv-key="+secret+",sign-method=HS256", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := tp.Assign("bob", 3, 0, "")
		if info, ok := tp.Info(context.Background(), tok, 1); !ok || info.Username != "bob" {
			t.Fatalf("info %+v, %v", info, ok)
		}
	})
}

func TestNewTokenProviderErrors(t *testing.T) {
	pub, _ := keyFiles(t, "ec")
	for _, tt := range []struct {
		spec string
		want error
	}{
		{"unknown", ErrInvalidAuthOpts},
		{"jwt,sign-method=RS256,sign-method=RS384", ErrInvalidAuthOpts},
		{"jwt,novalue", ErrInvalidAuthOpts},
		{"jwt,sign-method=XX999", ErrInvalidAuthOpts},
		{"jwt,sign-method=RS256", ErrMissingKey},
		{"jwt,sign-method=HS256", ErrMissingKey},
		{"jwt,pub-key=/no/such/file,sign-method=RS256", ErrInvalidAuthOpts},
		{"jwt,pub-key=" + pub + ",sign-method=ES256,ttl=soon", ErrInvalidAuthOpts},
	} {
		if _, err := NewTokenProvider(tt.spec, 0, nil); !errors.Is(err, tt.want) {
			t.Errorf("%q: %v, want %v", tt.spec, err, tt.want)
		}
	}
	if _, err := NewTokenProvider("simple", 0, nil); err != nil {
		t.Errorf("simple: %v", err)
	}
}
