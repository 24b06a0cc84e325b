package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenProvider issues and checks the tokens clients authenticate with:
// simple (opaque, held in each member's memory) or JWT (signed, checked
// with a key).
type TokenProvider interface {
	// Prefix is what the member that receives an Authenticate request
	// proposes with it ("" when the token needs none).
	Prefix() (string, error)
	// Assign issues a token to user when the request is applied at index
	// on every member.
	Assign(user string, revision, index uint64, prefix string) (string, error)
	// Info is who token is, if it is valid; revision is the store's.
	Info(ctx context.Context, token string, revision uint64) (*Info, bool)
	// Enable and Disable follow authentication; Disable and
	// InvalidateUser drop tokens.
	Enable()
	Disable()
	InvalidateUser(user string)
}

// DefaultSimpleTokenTTL is how long a simple token lives unused
// (--auth-token-ttl, etcd's default).
const DefaultSimpleTokenTTL = 300 * time.Second

const tokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// simpleTokens are etcd's simple tokens: "<16 random letters>.<raft
// index>", assigned on every member when the Authenticate entry is
// applied, valid until unused for the TTL. A member that receives a token
// from a later index than it applied waits until it applies it.
type simpleTokens struct {
	ttl time.Duration
	// applied returns a channel closed once the member applied index.
	applied func(index uint64) <-chan struct{}
	now     func() time.Time

	mu        sync.Mutex
	enabled   bool
	tokens    map[string]simpleToken
	lastSweep time.Time
}

type simpleToken struct {
	user    string
	expires time.Time
}

// NewSimpleTokens is the simple token provider.
func NewSimpleTokens(ttl time.Duration, applied func(index uint64) <-chan struct{}) TokenProvider {
	if ttl <= 0 {
		ttl = DefaultSimpleTokenTTL
	}
	return &simpleTokens{ttl: ttl, applied: applied, now: time.Now, tokens: map[string]simpleToken{}}
}

func (t *simpleTokens) Prefix() (string, error) {
	b := make([]byte, 16)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(tokenLetters))))
		if err != nil {
			return "", err
		}
		b[i] = tokenLetters[n.Int64()]
	}
	return string(b), nil
}

func (t *simpleTokens) Assign(user string, _, index uint64, prefix string) (string, error) {
	token := prefix + "." + strconv.FormatUint(index, 10)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.sweep(now)
	t.tokens[token] = simpleToken{user: user, expires: now.Add(t.ttl)}
	return token, nil
}

// sweep drops expired tokens, at most once a second; t.mu is held.
func (t *simpleTokens) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < time.Second {
		return
	}
	t.lastSweep = now
	for k, v := range t.tokens {
		if now.After(v.expires) {
			delete(t.tokens, k)
		}
	}
}

func (t *simpleTokens) Info(ctx context.Context, token string, revision uint64) (*Info, bool) {
	_, idx, ok := strings.Cut(token, ".")
	if !ok {
		return nil, false
	}
	index, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return nil, false
	}
	select {
	case <-t.applied(index):
	case <-ctx.Done():
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tk, ok := t.tokens[token]
	now := t.now()
	if !ok || now.After(tk.expires) {
		delete(t.tokens, token)
		return nil, false
	}
	if t.enabled {
		tk.expires = now.Add(t.ttl) // each use extends it
		t.tokens[token] = tk
	}
	return &Info{Username: tk.user, Revision: revision}, true
}

func (t *simpleTokens) Enable() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = true
}

func (t *simpleTokens) Disable() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = false
	t.tokens = map[string]simpleToken{}
}

func (t *simpleTokens) InvalidateUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.tokens {
		if v.user == user {
			delete(t.tokens, k)
		}
	}
}

// NewTokenProvider reads --auth-token ("simple", or "jwt,<options>") as
// etcd does ("" is simple); ttl is --auth-token-ttl (simple tokens), applied the
// member's applied-index wait.
func NewTokenProvider(spec string, ttl time.Duration, applied func(index uint64) <-chan struct{}) (TokenProvider, error) {
	kind, opts, err := decomposeOpts(spec)
	if err != nil {
		return nil, ErrInvalidAuthOpts
	}
	switch kind {
	case "simple", "":
		return NewSimpleTokens(ttl, applied), nil
	case "jwt":
		return newJWTTokens(opts)
	}
	return nil, ErrInvalidAuthOpts
}

// decomposeOpts splits "kind,k=v,k=v"; a repeated key is an error.
func decomposeOpts(spec string) (string, map[string]string, error) {
	parts := strings.Split(spec, ",")
	opts := map[string]string{}
	for _, p := range parts[1:] {
		kv := strings.Split(p, "=")
		if len(kv) != 2 {
			return "", nil, fmt.Errorf("invalid option %q", p)
		}
		k, v := kv[0], kv[1]
		if _, dup := opts[k]; dup {
			return "", nil, fmt.Errorf("option %s is given twice", k)
		}
		opts[k] = v
	}
	return parts[0], opts, nil
}
