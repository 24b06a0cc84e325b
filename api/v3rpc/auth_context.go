package v3rpc

import (
	"context"
	"strings"

	"github.com/basaltkv/basalt/auth"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

const (
	authenticateMethod = "/etcdserverpb.Auth/Authenticate"
	watchMethod        = "/etcdserverpb.Watch/Watch"
)

type authErrKey struct{}

// authError is the error resolving a watch stream's token met: etcd
// opens the stream and refuses each watch with it (clients then get a
// new token and watch again).
func authError(ctx context.Context) error {
	err, _ := ctx.Value(authErrKey{}).(error)
	return err
}

// authContext resolves who a request is from while auth is on, as etcd's
// AuthInfoFromCtx: the token in the "token" metadata (or the gateway's
// "authorization", without "Bearer "), else, with --client-cert-auth, the
// common name of the verified client certificate (not for requests the
// gateway forwards, whose certificate is the member's). An invalid token
// fails the request. Authenticate ignores any token: it is how a client
// with an expired one gets a new one.
func authContext(ctx context.Context, m Member, clientCertAuth bool, method string) (context.Context, error) {
	if method == authenticateMethod || !m.AuthEnabled() {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ts := md.Get(rpctypes.TokenFieldNameGRPC)
	if len(ts) == 0 {
		ts = md.Get(rpctypes.TokenFieldNameSwagger)
	}
	if len(ts) > 0 {
		info, err := m.AuthInfoFromToken(ctx, strings.TrimPrefix(ts[0], "Bearer "))
		if err != nil && method == watchMethod {
			return context.WithValue(ctx, authErrKey{}, err), nil
		}
		if err != nil {
			return nil, toGRPCError(err)
		}
		if info != nil {
			ctx = auth.WithInfo(ctx, info)
		}
		return ctx, nil
	}
	if !clientCertAuth || len(md.Get("grpcgateway-accept")) > 0 {
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
