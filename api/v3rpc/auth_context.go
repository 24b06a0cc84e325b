package v3rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/basaltkv/basalt/auth"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

const (
	authenticateMethod = "/etcdserverpb.Auth/Authenticate"
	watchMethod        = "/etcdserverpb.Watch/Watch"
	// watchCreate names a watch's creation on its stream.
	watchCreate = "watch create"
	// The gRPC health service answers anyone, as etcd's.
	healthPrefix = "/grpc.health.v1.Health/"
)

type watchAuthKey struct{}

// watchAuthContext resolves who a watch stream's new watch is from, as
// etcd does at each watch's creation rather than once for the stream: a
// token whose auth state moved on since the stream opened is looked at
// again (a simple token is then at the new revision), and an invalid one
// refuses the watch, not the stream (clients then get a new token and
// watch again).
func watchAuthContext(ctx context.Context, m Member) (context.Context, error) {
	opts, ok := ctx.Value(watchAuthKey{}).(authOptions)
	if !ok {
		return ctx, nil
	}
	return authContext(ctx, m, opts, watchCreate)
}

// authOptions are a server's ways to learn who a request is from.
type authOptions struct {
	// clientCertAuth: --client-cert-auth (the public server).
	clientCertAuth bool
	// internal: the in-process server, which honours the recipes' handles.
	internal bool
	callers  *callers
}

// authContext resolves who a request is from while auth is on, as etcd's
// AuthInfoFromCtx: the token in the "token" metadata (or the gateway's
// "authorization", without "Bearer "), else, with --client-cert-auth, the
// common name of the verified client certificate (not for requests the
// gateway forwards, whose certificate is the member's). An invalid token
// fails the request. Authenticate ignores any token: it is how a client
// with an expired one gets a new one; the health service ignores them.
func authContext(ctx context.Context, m Member, opts authOptions, method string) (context.Context, error) {
	if method == watchMethod {
		return context.WithValue(ctx, watchAuthKey{}, opts), nil
	}
	if method == authenticateMethod || strings.HasPrefix(method, healthPrefix) || !m.AuthEnabled() {
		return ctx, nil
	}
	if opts.internal {
		// A recipe's call on behalf of its caller.
		if info, ok := opts.callers.caller(ctx); ok {
			return auth.WithInfo(ctx, info), nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ts := md.Get(rpctypes.TokenFieldNameGRPC)
	if len(ts) == 0 {
		ts = md.Get(rpctypes.TokenFieldNameSwagger)
	}
	if len(ts) > 0 {
		info, err := m.AuthInfoFromToken(ctx, strings.TrimPrefix(ts[0], "Bearer "))
		if err != nil && method == watchCreate {
			return nil, err
		}
		if err != nil {
			return nil, toGRPCError(err)
		}
		if info != nil {
			ctx = auth.WithInfo(ctx, info)
		}
		return ctx, nil
	}
	if !opts.clientCertAuth || len(md.Get("grpcgateway-accept")) > 0 {
		return ctx, nil
	}
	if info := m.AuthInfoFromCommonName(verifiedCommonName(ctx)); info != nil {
		ctx = auth.WithInfo(ctx, info)
	}
	return ctx, nil
}

// verifiedCommonName is the common name of the client certificate the
// connection's TLS handshake verified, or "".
func verifiedCommonName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ""
	}
	for _, chain := range ti.State.VerifiedChains {
		if len(chain) > 0 {
			return chain[0].Subject.CommonName
		}
	}
	return ""
}

// internalAuthKey is the metadata with which the lock and election
// services, which run on the member's own client, pass on who their
// caller is to the in-process server: a random handle to the caller's
// resolved identity (token or certificate), valid while the call runs.
// Only the in-process server reads it, and a handle cannot be guessed.
const internalAuthKey = "basalt-internal-auth"

// callers holds the identities of the recipe calls in flight.
type callers struct {
	mu sync.Mutex
	m  map[string]*auth.Info
}

func newCallers() *callers { return &callers{m: map[string]*auth.Info{}} }

// asCaller is ctx with the handle of its caller's identity in its
// outgoing metadata; done forgets it.
func (c *callers) asCaller(ctx context.Context) (context.Context, func()) {
	info := auth.InfoFromContext(ctx)
	if info == nil {
		return ctx, func() {}
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return ctx, func() {}
	}
	handle := hex.EncodeToString(b)
	c.mu.Lock()
	c.m[handle] = info
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		delete(c.m, handle)
		c.mu.Unlock()
	}
	return metadata.AppendToOutgoingContext(ctx, internalAuthKey, handle), done
}

// caller is the identity a handle in ctx's metadata names, if any.
func (c *callers) caller(ctx context.Context) (*auth.Info, bool) {
	hs := metadata.ValueFromIncomingContext(ctx, internalAuthKey)
	if len(hs) == 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.m[hs[0]]
	return info, ok
}

// isRecipe reports whether method is one of the lock and election
// services'.
func isRecipe(method string) bool {
	return strings.HasPrefix(method, "/v3lockpb.Lock/") || strings.HasPrefix(method, "/v3electionpb.Election/")
}
