package v3rpc

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// maxNoLeaderChecks is how many consecutive election timeouts without a
// leader cancel the streams whose client required one: a stream is dear
// to re-establish, so the member waits a while before giving up on it.
const maxNoLeaderChecks = 3

const snapshotMethod = "/etcdserverpb.Maintenance/Snapshot"

// learner is implemented by a member that can be a raft learner; a
// learner serves only serializable reads and Status (and, of streams,
// Snapshot), as in etcd.
type learner interface {
	IsLearner() bool
}

func isLearner(m Member) bool {
	l, ok := m.(learner)
	return ok && l.IsLearner()
}

func learnerMaySupport(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.Serializable
	}
	return false
}

// requestMetadata checks the client's metadata: the API version it
// announces (counted per version) and whether it requires a leader.
func requestMetadata(ctx context.Context, rpcType string) (requireLeader bool, err error) {
	// Single-key lookups: FromIncomingContext would copy the whole map on
	// every request.
	ver := "unknown"
	if vs := metadata.ValueFromIncomingContext(ctx, rpctypes.MetadataClientAPIVersionKey); len(vs) > 0 {
		ver = vs[0]
	}
	if !utf8.ValidString(ver) {
		return false, rpctypes.ErrGRPCInvalidClientAPIVersion
	}
	clientRequests.WithLabelValues(rpcType, ver).Inc()
	ks := metadata.ValueFromIncomingContext(ctx, rpctypes.MetadataRequireLeaderKey)
	return len(ks) > 0 && ks[0] == rpctypes.MetadataHasLeader, nil
}

func unaryInterceptor(m Member, ao authOptions) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isLearner(m) && !learnerMaySupport(req) {
			return nil, rpctypes.ErrGRPCNotSupportedForLearner
		}
		requireLeader, err := requestMetadata(ctx, "unary")
		if err != nil {
			return nil, err
		}
		if requireLeader && m.Leader() == 0 {
			return nil, rpctypes.ErrGRPCNoLeader
		}
		if ctx, err = authContext(ctx, m, ao, info.FullMethod); err != nil {
			return nil, err
		}
		if isRecipe(info.FullMethod) {
			var done func()
			ctx, done = ao.callers.asCaller(ctx)
			defer done()
		}
		return handler(ctx, req)
	}
}

// logUnaryInterceptor logs requests slower than warnAfter, and every
// request at debug level, with etcd's "request stats" message.
func logUnaryInterceptor(lg *zap.Logger, warnAfter time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		took := time.Since(start)
		debug := lg.Core().Enabled(zap.DebugLevel)
		if !debug && took <= warnAfter {
			return resp, err
		}
		remote := "No remote client info."
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr.String()
		}
		fields := []zap.Field{
			zap.Time("start time", start),
			zap.Duration("time spent", took),
			zap.String("remote", remote),
			zap.String("response type", info.FullMethod),
			zap.Int("request size", messageSize(req)),
			zap.Int("response size", messageSize(resp)),
		}
		if took > warnAfter {
			lg.Warn("request stats", fields...)
		} else {
			lg.Debug("request stats", fields...)
		}
		return resp, err
	}
}

func messageSize(v any) int {
	if m, ok := v.(proto.Message); ok && m != nil {
		return proto.Size(m)
	}
	return -1
}

// leaderStreams holds the streams whose client required a leader, to
// cancel them when the member has none for too long.
type leaderStreams struct {
	mu      sync.Mutex
	streams map[*cancellableContext]struct{}
}

func (ls *leaderStreams) add(c *cancellableContext) {
	ls.mu.Lock()
	ls.streams[c] = struct{}{}
	ls.mu.Unlock()
}

func (ls *leaderStreams) remove(c *cancellableContext) {
	ls.mu.Lock()
	delete(ls.streams, c)
	ls.mu.Unlock()
}

func (ls *leaderStreams) cancelAll(reason error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for c := range ls.streams {
		c.cancel(reason)
	}
	clear(ls.streams)
}

// monitorLeader cancels the leader-requiring streams after
// maxNoLeaderChecks checks, one per interval, found no leader.
func monitorLeader(m Member, ls *leaderStreams, interval time.Duration, stopc <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-stopc:
			return
		case <-t.C:
		}
		if m.Leader() != 0 {
			missed = 0
			continue
		}
		missed++
		if missed >= maxNoLeaderChecks {
			ls.cancelAll(rpctypes.ErrGRPCNoLeader)
		}
	}
}

func streamInterceptor(m Member, ls *leaderStreams, ao authOptions) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isLearner(m) && info.FullMethod != snapshotMethod {
			return rpctypes.ErrGRPCNotSupportedForLearner
		}
		requireLeader, err := requestMetadata(ss.Context(), "stream")
		if err != nil {
			return err
		}
		actx, err := authContext(ss.Context(), m, ao, info.FullMethod)
		if err != nil {
			return err
		}
		if isRecipe(info.FullMethod) {
			var done func()
			actx, done = ao.callers.asCaller(actx)
			defer done()
		}
		if actx != ss.Context() {
			ss = &streamWithContext{ServerStream: ss, ctx: actx}
		}
		if requireLeader {
			if m.Leader() == 0 {
				return rpctypes.ErrGRPCNoLeader
			}
			ctx := newCancellableContext(ss.Context())
			ls.add(ctx)
			defer func() {
				ls.remove(ctx)
				ctx.cancel(nil)
			}()
			ss = &streamWithContext{ServerStream: ss, ctx: ctx}
		}
		return handler(srv, ss)
	}
}

// cancellableContext is a context that, cancelled with a reason, reports
// that reason from Err: a stream ended for lack of a leader then fails
// with ErrGRPCNoLeader rather than a bare "context canceled".
type cancellableContext struct {
	context.Context
	cancelFn context.CancelFunc

	mu     sync.Mutex
	reason error
}

func newCancellableContext(parent context.Context) *cancellableContext {
	ctx, cancel := context.WithCancel(parent)
	return &cancellableContext{Context: ctx, cancelFn: cancel}
}

func (c *cancellableContext) cancel(reason error) {
	c.mu.Lock()
	if c.reason == nil {
		c.reason = reason
	}
	c.mu.Unlock()
	c.cancelFn()
}

func (c *cancellableContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != nil {
		return c.reason
	}
	return c.Context.Err()
}

type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }
