package auth

import "context"

type infoKey struct{}

// WithInfo is ctx carrying who a client request is from: the API layer
// resolves the request's token (or certificate) and the member reads it.
func WithInfo(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFromContext is who the request ctx carries is from, or nil.
func InfoFromContext(ctx context.Context) *Info {
	info, _ := ctx.Value(infoKey{}).(*Info)
	return info
}
