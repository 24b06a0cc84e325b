package v3rpc

import (
	"context"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is what the client API needs of the member (package server
// implements it). Its methods return the server's own errors (sentinels
// of package server, mvcc, lease); the API layer maps them to etcd's
// rpctypes errors once, in errors.go. Requests arrive already validated
// by this package (sizes, txn op counts, duplicate keys, empty keys).
type Member interface {
	// Header fields.
	ID() uint64
	ClusterID() uint64
	Term() uint64
	Leader() uint64

	// KV. Range honours Serializable (local read) or is linearizable.
	Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error)
	Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error)
	DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
	Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error)
	// Compact returns once the compaction is applied, and, if Physical,
	// once the backend is cleaned.
	Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error)

	// Leases. LeaseRenew forwards to the leader when this member is not it.
	LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error)
	LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error)
	LeaseRenew(ctx context.Context, id int64) (ttl int64, err error)
	LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error)
	LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error)

	// Watch: streams over the member's store; KV reads at a revision for
	// prev_kv come from Store().Read().
	Store() *mvcc.Store

	// Cluster. Changes return once applied on this member; peerURLs
	// arrive parsed and sorted.
	MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error)
	MemberAdd(ctx context.Context, peerURLs []string, isLearner bool) (*pb.MemberAddResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*pb.MemberRemoveResponse, error)
	MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error)
	MemberPromote(ctx context.Context, id uint64) (*pb.MemberPromoteResponse, error)

	// Maintenance.
	Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error)
	Alarms() []*pb.AlarmMember
	Status(ctx context.Context) (*pb.StatusResponse, error)
	Defragment(ctx context.Context) error
	Hash(ctx context.Context) (*pb.HashResponse, error)
	HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error)
	// Snapshot returns a consistent copy of the backend to stream.
	Snapshot(ctx context.Context) (*backend.Snapshot, error)
	MoveLeader(ctx context.Context, transferee uint64) error

	// Health: whether the member has a leader (and, for /health and
	// readyz, can serve a linearizable read within the context).
	HasLeader() bool
	LinearizableReadNotify(ctx context.Context) error

	Authenticator
}

// Authenticator is the member's access control. The API layer resolves
// who a request is from (AuthInfoFromToken, AuthInfoFromCommonName) and
// passes it in the context (auth.WithInfo); the member checks it.
type Authenticator interface {
	AuthEnabled() bool
	// AuthInfoFromToken is nil while auth is off.
	AuthInfoFromToken(ctx context.Context, token string) (*auth.Info, error)
	AuthInfoFromCommonName(cn string) *auth.Info
	// CheckAdmin: the user is root. RequireAuthInfo: there is a user.
	// CheckRange: the user may read the keys.
	CheckAdmin(ctx context.Context) error
	RequireAuthInfo(ctx context.Context) error
	CheckRange(ctx context.Context, key, end []byte) error

	AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error)
	AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error)
	AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error)
	Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error)
	UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error)
	UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error)
	UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error)
	UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error)
	UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error)
	UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error)
	UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error)
	RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error)
	RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error)
	RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error)
	RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error)
	RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error)
	RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error)
}
