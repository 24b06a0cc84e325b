package fakemember

import (
	"context"

	"github.com/basaltkv/basalt/auth"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The fake's auth is always off, as a new etcd's: checks pass, tokens are
// ignored, and the management calls are not simulated (the member's auth
// is tested against real members).

var errNoAuth = status.Error(codes.Unimplemented, "fakemember: auth is not simulated")

func (f *Member) AuthEnabled() bool { return false }

func (f *Member) AuthInfoFromToken(context.Context, string) (*auth.Info, error) { return nil, nil }

func (f *Member) AuthInfoFromCommonName(string) *auth.Info { return nil }

func (f *Member) CheckAdmin(context.Context) error { return nil }

func (f *Member) WithRoot(ctx context.Context) context.Context { return ctx }

func (f *Member) RequireAuthInfo(context.Context) error { return nil }

func (f *Member) CheckRange(context.Context, []byte, []byte) error { return nil }

func (f *Member) AuthEnable(context.Context, *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return nil, errNoAuth
}

func (f *Member) AuthDisable(context.Context, *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return &pb.AuthDisableResponse{}, nil
}

func (f *Member) AuthStatus(context.Context, *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return &pb.AuthStatusResponse{AuthRevision: 1}, nil
}

func (f *Member) Authenticate(context.Context, *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	return nil, auth.ErrAuthNotEnabled
}

func (f *Member) UserAdd(context.Context, *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserDelete(context.Context, *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserChangePassword(context.Context, *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserGrantRole(context.Context, *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserRevokeRole(context.Context, *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserGet(context.Context, *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return nil, errNoAuth
}

func (f *Member) UserList(context.Context, *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleAdd(context.Context, *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleGet(context.Context, *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleList(context.Context, *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleDelete(context.Context, *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleGrantPermission(context.Context, *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return nil, errNoAuth
}

func (f *Member) RoleRevokePermission(context.Context, *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return nil, errNoAuth
}
