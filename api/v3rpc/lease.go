package v3rpc

import (
	"context"
	"errors"
	"io"

	"go.uber.org/zap"

	"github.com/basaltkv/basalt/lease"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

type leaseServer struct {
	pb.UnimplementedLeaseServer
	m               Member
	hdr             header
	lg              *zap.Logger
	maxRequestBytes uint
}

func (s *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if err := s.m.RequireAuthInfo(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	if err := checkLeaseGrant(r); err != nil {
		return nil, err
	}
	resp, err := s.m.LeaseGrant(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := s.m.LeaseRevoke(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

// LeaseTimeToLive answers TTL -1, not an error, for an unknown lease, as
// etcd does.
func (s *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := s.m.LeaseTimeToLive(ctx, r)
	if errors.Is(err, lease.ErrLeaseNotFound) {
		resp, err = &pb.LeaseTimeToLiveResponse{ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *leaseServer) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	resp, err := s.m.LeaseLeases(ctx, r)
	if errors.Is(err, lease.ErrLeaseNotFound) {
		resp, err = &pb.LeaseLeasesResponse{Leases: []*pb.LeaseStatus{}}, nil
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

// LeaseKeepAlive renews a lease per request. An unknown lease is answered
// with TTL 0 (the client then reports the lease gone); any other renewal
// error ends the stream.
func (s *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	// Receive in a goroutine so that a cancelled stream (client gone, or
	// no leader for too long) ends the RPC even while Recv blocks.
	errc := make(chan error, 1)
	go func() { errc <- s.keepAliveLoop(stream) }()
	select {
	case err := <-errc:
		return err
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
}

func (s *leaseServer) keepAliveLoop(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			s.logStreamError(ctx, "failed to receive lease keepalive request from gRPC stream", "receive", err)
			return err
		}
		// The header is taken before renewing: its revision is then at or
		// below the one at which the renewal happened, so a client never
		// sees a renewal "after" the revision that revoked the lease.
		resp := &pb.LeaseKeepAliveResponse{ID: req.ID, Header: s.hdr.new(0)}
		ttl, err := s.m.LeaseRenew(ctx, req.ID)
		if errors.Is(err, lease.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPCError(err)
		}
		resp.TTL = ttl
		if err := stream.Send(resp); err != nil {
			s.logStreamError(ctx, "failed to send lease keepalive response to gRPC stream", "send", err)
			return err
		}
	}
}

func (s *leaseServer) logStreamError(ctx context.Context, msg, direction string, err error) {
	if isClientCtxErr(ctx.Err(), err) {
		s.lg.Debug(msg, zap.Error(err))
		return
	}
	s.lg.Warn(msg, zap.Error(err))
	streamFailures.WithLabelValues(direction, "lease-keepalive").Inc()
}
