package v3rpc

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// authServer is the Auth service: every call goes to the member, which
// applies it through the log (reads included, as etcd's); only root may
// manage users and roles once auth is on (the member checks).
type authServer struct {
	pb.UnimplementedAuthServer
	m   Member
	hdr header
}

// authCall runs one call and maps its error; fill sets the header.
func authCall[Req, Resp any](ctx context.Context, r Req, call func(context.Context, Req) (Resp, error), fill func(Resp)) (Resp, error) {
	resp, err := call(ctx, r)
	if err != nil {
		var zero Resp
		return zero, toGRPCError(err)
	}
	fill(resp)
	return resp, nil
}

func (s *authServer) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return authCall(ctx, r, s.m.AuthEnable, func(x *pb.AuthEnableResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return authCall(ctx, r, s.m.AuthDisable, func(x *pb.AuthDisableResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return authCall(ctx, r, s.m.AuthStatus, func(x *pb.AuthStatusResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	return authCall(ctx, r, s.m.Authenticate, func(x *pb.AuthenticateResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	return authCall(ctx, r, s.m.UserAdd, func(x *pb.AuthUserAddResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return authCall(ctx, r, s.m.UserGet, func(x *pb.AuthUserGetResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return authCall(ctx, r, s.m.UserList, func(x *pb.AuthUserListResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return authCall(ctx, r, s.m.UserDelete, func(x *pb.AuthUserDeleteResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	return authCall(ctx, r, s.m.UserChangePassword, func(x *pb.AuthUserChangePasswordResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return authCall(ctx, r, s.m.UserGrantRole, func(x *pb.AuthUserGrantRoleResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return authCall(ctx, r, s.m.UserRevokeRole, func(x *pb.AuthUserRevokeRoleResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return authCall(ctx, r, s.m.RoleAdd, func(x *pb.AuthRoleAddResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return authCall(ctx, r, s.m.RoleGet, func(x *pb.AuthRoleGetResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return authCall(ctx, r, s.m.RoleList, func(x *pb.AuthRoleListResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return authCall(ctx, r, s.m.RoleDelete, func(x *pb.AuthRoleDeleteResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return authCall(ctx, r, s.m.RoleGrantPermission, func(x *pb.AuthRoleGrantPermissionResponse) { x.Header = s.hdr.new(0) })
}

func (s *authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return authCall(ctx, r, s.m.RoleRevokePermission, func(x *pb.AuthRoleRevokePermissionResponse) { x.Header = s.hdr.new(0) })
}
