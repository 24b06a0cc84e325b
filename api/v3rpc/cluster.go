package v3rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// clusterServer lists and changes the membership. Its headers carry no
// revision, as etcd's.
type clusterServer struct {
	pb.UnimplementedClusterServer
	m   Member
	hdr header
}

func (s *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if err := s.m.RequireAuthInfo(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.MemberList(ctx, r.Linearizable)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fillWithoutRevision(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	urls, err := parsePeerURLs(r.PeerURLs)
	if err != nil {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	resp, err := s.m.MemberAdd(ctx, urls, r.IsLearner)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fillWithoutRevision(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.MemberRemove(ctx, r.ID)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fillWithoutRevision(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.MemberUpdate(ctx, r.ID, r.PeerURLs)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fillWithoutRevision(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.MemberPromote(ctx, r.ID)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fillWithoutRevision(ensureHeader(&resp.Header))
	return resp, nil
}

// parsePeerURLs checks a new member's peer URLs as etcd does (http or
// https with host:port and no path, or unix and unixs) and sorts them.
func parsePeerURLs(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New("no valid URLs given")
	}
	out := make([]string, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		switch u.Scheme {
		case "http", "https":
			if _, _, err := net.SplitHostPort(u.Host); err != nil {
				return nil, fmt.Errorf(`URL address does not have the form "host:port": %s`, s)
			}
			if u.Path != "" {
				return nil, fmt.Errorf("URL must not contain a path: %s", s)
			}
		case "unix", "unixs":
		default:
			return nil, fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", s)
		}
		out[i] = u.String()
	}
	slices.Sort(out)
	return out, nil
}
