package v3rpc

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterServer lists members; changing membership at runtime comes with
// reconfiguration, later.
type clusterServer struct {
	pb.UnimplementedClusterServer
	m   Member
	hdr header
}

func (s *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	resp, err := s.m.MemberList(ctx, r.Linearizable)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *clusterServer) MemberAdd(context.Context, *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	return nil, errMemberChangesNotImplemented
}

func (s *clusterServer) MemberRemove(context.Context, *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	return nil, errMemberChangesNotImplemented
}

func (s *clusterServer) MemberUpdate(context.Context, *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	return nil, errMemberChangesNotImplemented
}

func (s *clusterServer) MemberPromote(context.Context, *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	return nil, errMemberChangesNotImplemented
}
