package v3rpc

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The lock and election services are etcd's v3lock and v3election:
// recipes of package concurrency run by the member on behalf of clients,
// through a clientv3 client connected to the member itself (see
// inprocess.go).

// errMissingLeaderKey is etcd's answer to an election request without its
// "leader" field.
var errMissingLeaderKey = errors.New(`"leader" field must be provided`)

// recipeError turns an error of the member's own client back into the
// gRPC error the member returned, keeping its code; other errors (the
// recipes' own) travel as codes.Unknown with their text, as in etcd.
func recipeError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return status.Error(ee.Code(), ee.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// session opens a session on lease (a new lease when 0) and orphans it:
// the session's lease is the client's to keep alive, not the member's.
func session(ctx context.Context, c *clientv3.Client, lease int64) (*concurrency.Session, error) {
	s, err := concurrency.NewSession(c, concurrency.WithLease(clientv3.LeaseID(lease)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	s.Orphan()
	return s, nil
}

type lockServer struct {
	v3lockpb.UnimplementedLockServer
	c *clientv3.Client
}

func (s *lockServer) Lock(ctx context.Context, r *v3lockpb.LockRequest) (*v3lockpb.LockResponse, error) {
	sess, err := session(ctx, s.c, r.Lease)
	if err != nil {
		return nil, recipeError(err)
	}
	mu := concurrency.NewMutex(sess, string(r.Name))
	if err := mu.Lock(ctx); err != nil {
		return nil, recipeError(err)
	}
	return &v3lockpb.LockResponse{Header: mu.Header(), Key: []byte(mu.Key())}, nil
}

func (s *lockServer) Unlock(ctx context.Context, r *v3lockpb.UnlockRequest) (*v3lockpb.UnlockResponse, error) {
	resp, err := s.c.Delete(ctx, string(r.Key))
	if err != nil {
		return nil, recipeError(err)
	}
	return &v3lockpb.UnlockResponse{Header: resp.Header}, nil
}

type electionServer struct {
	v3electionpb.UnimplementedElectionServer
	c *clientv3.Client
}

func (s *electionServer) Campaign(ctx context.Context, r *v3electionpb.CampaignRequest) (*v3electionpb.CampaignResponse, error) {
	sess, err := session(ctx, s.c, r.Lease)
	if err != nil {
		return nil, recipeError(err)
	}
	e := concurrency.NewElection(sess, string(r.Name))
	if err := e.Campaign(ctx, string(r.Value)); err != nil {
		return nil, recipeError(err)
	}
	return &v3electionpb.CampaignResponse{
		Header: e.Header(),
		Leader: &v3electionpb.LeaderKey{Name: r.Name, Key: []byte(e.Key()), Rev: e.Rev(), Lease: int64(sess.Lease())},
	}, nil
}

func (s *electionServer) Proclaim(ctx context.Context, r *v3electionpb.ProclaimRequest) (*v3electionpb.ProclaimResponse, error) {
	if r.Leader == nil {
		return nil, recipeError(errMissingLeaderKey)
	}
	sess, err := session(ctx, s.c, r.Leader.Lease)
	if err != nil {
		return nil, recipeError(err)
	}
	e := concurrency.ResumeElection(sess, string(r.Leader.Name), string(r.Leader.Key), r.Leader.Rev)
	if err := e.Proclaim(ctx, string(r.Value)); err != nil {
		return nil, recipeError(err)
	}
	return &v3electionpb.ProclaimResponse{Header: e.Header()}, nil
}

func (s *electionServer) Leader(ctx context.Context, r *v3electionpb.LeaderRequest) (*v3electionpb.LeaderResponse, error) {
	sess, err := session(ctx, s.c, -1)
	if err != nil {
		return nil, recipeError(err)
	}
	l, err := concurrency.NewElection(sess, string(r.Name)).Leader(ctx)
	if err != nil {
		return nil, recipeError(err)
	}
	return &v3electionpb.LeaderResponse{Header: l.Header, Kv: l.Kvs[0]}, nil
}

func (s *electionServer) Observe(r *v3electionpb.LeaderRequest, stream grpc.ServerStreamingServer[v3electionpb.LeaderResponse]) error {
	ctx := stream.Context()
	sess, err := session(ctx, s.c, -1)
	if err != nil {
		return recipeError(err)
	}
	ch := concurrency.NewElection(sess, string(r.Name)).Observe(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok := <-ch:
			if !ok {
				return nil
			}
			if err := stream.Send(&v3electionpb.LeaderResponse{Header: resp.Header, Kv: resp.Kvs[0]}); err != nil {
				return err
			}
		}
	}
}

func (s *electionServer) Resign(ctx context.Context, r *v3electionpb.ResignRequest) (*v3electionpb.ResignResponse, error) {
	if r.Leader == nil {
		return nil, recipeError(errMissingLeaderKey)
	}
	sess, err := session(ctx, s.c, r.Leader.Lease)
	if err != nil {
		return nil, recipeError(err)
	}
	e := concurrency.ResumeElection(sess, string(r.Leader.Name), string(r.Leader.Key), r.Leader.Rev)
	if err := e.Resign(ctx); err != nil {
		return nil, recipeError(err)
	}
	return &v3electionpb.ResignResponse{Header: e.Header()}, nil
}
