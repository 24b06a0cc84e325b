package server

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// AuthEnabled reports whether authentication is on.
func (m *Member) AuthEnabled() bool { return m.st.auth.Enabled() }

// AuthInfoFromToken is who a token belongs to: nil when auth is off (a
// token is then ignored, as etcd does), ErrInvalidAuthToken when it is not
// valid.
func (m *Member) AuthInfoFromToken(ctx context.Context, token string) (*auth.Info, error) {
	if !m.st.auth.Enabled() {
		return nil, nil
	}
	info, ok := m.st.auth.InfoFromToken(ctx, token)
	if !ok {
		m.lg.Warn("invalid auth token", zap.String("token-fingerprint", redactToken(token)))
		return nil, auth.ErrInvalidAuthToken
	}
	return info, nil
}

// AuthInfoFromCommonName is the user a verified client certificate names
// (--client-cert-auth), at the current auth revision; nil when auth is
// off.
func (m *Member) AuthInfoFromCommonName(cn string) *auth.Info {
	if !m.st.auth.Enabled() || cn == "" {
		return nil
	}
	return &auth.Info{Username: cn, Revision: m.st.auth.Revision()}
}

// redactToken keeps a token out of the logs: etcd logs a fingerprint.
func redactToken(token string) string {
	if len(token) <= 8 {
		return "<redacted>"
	}
	return token[:4] + "…" + token[len(token)-4:]
}

// CheckAdmin checks that the request's user is root (anyone while auth is
// off): maintenance and membership changes.
func (m *Member) CheckAdmin(ctx context.Context) error {
	return m.st.auth.IsAdminPermitted(infoOrEmpty(ctx))
}

// CheckRange checks that the request's user may read key, or [key, end):
// a watch's creation, a lease's keys.
func (m *Member) CheckRange(ctx context.Context, key, end []byte) error {
	return m.st.auth.IsRangePermitted(infoOrEmpty(ctx), key, end)
}

func infoOrEmpty(ctx context.Context) *auth.Info {
	if info := auth.InfoFromContext(ctx); info != nil {
		return info
	}
	return &auth.Info{}
}

// readLocal serves a read outside the log (etcd's doSerialize): checked
// against the auth state before, refused if that state changed while it
// read, and logged if slower than --warning-apply-duration.
func readLocal[T any](ctx context.Context, m *Member, r *pb.InternalRaftRequest, prefix string, read func(*mvcc.ReadTxn) (T, error)) (T, error) {
	var zero T
	info := infoOrEmpty(ctx)
	if err := (permChecker{as: m.st.auth, lessor: m.st.lessor}).check(info, r); err != nil {
		return zero, err
	}
	start := time.Now()
	txn := m.st.kv.Read()
	resp, err := read(txn)
	txn.End()
	warnIfSlow(m.lg, m.metrics, m.cfg.warningApplyDuration(), start, prefix, r, err)
	if info.Revision != 0 && info.Revision != m.st.auth.Revision() {
		return zero, auth.ErrAuthOldRevision
	}
	return resp, err
}

// proposeAuth proposes an auth request and returns its response.
func proposeAuth[T any](ctx context.Context, m *Member, r *pb.InternalRaftRequest) (T, error) {
	var zero T
	res, err := m.propose(ctx, r)
	if err != nil {
		return zero, err
	}
	return res.resp.(T), nil
}

func (m *Member) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return proposeAuth[*pb.AuthEnableResponse](ctx, m, &pb.InternalRaftRequest{AuthEnable: r})
}

func (m *Member) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return proposeAuth[*pb.AuthDisableResponse](ctx, m, &pb.InternalRaftRequest{AuthDisable: r})
}

func (m *Member) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return proposeAuth[*pb.AuthStatusResponse](ctx, m, &pb.InternalRaftRequest{AuthStatus: r})
}

// Authenticate checks the password here (bcrypt is slow: not in the
// applier) and proposes only the name and the token prefix, never the
// password. If the auth state changed between the check and the entry,
// it checks again.
func (m *Member) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if err := m.LinearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	for {
		checked, err := m.st.auth.CheckPassword(r.Name, r.Password)
		if err != nil {
			if err != auth.ErrAuthNotEnabled {
				m.lg.Warn("invalid authentication was requested", zap.String("user", r.Name), zap.Error(err))
			}
			return nil, err
		}
		prefix, err := m.st.auth.TokenPrefix()
		if err != nil {
			return nil, err
		}
		resp, err := proposeAuth[*pb.AuthenticateResponse](ctx, m, &pb.InternalRaftRequest{
			Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: prefix}})
		if err != nil {
			return nil, err
		}
		if checked == m.st.auth.Revision() {
			return resp, nil
		}
		m.lg.Info("revision when password checked became stale; retrying")
	}
}

// hashPassword hashes a password before it is proposed, so that neither
// the log nor a snapshot holds it in clear.
func (m *Member) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), m.st.auth.BcryptCost())
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h), nil
}

func (m *Member) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if r.Options == nil || !r.Options.NoPassword {
		h, err := m.hashPassword(r.Password)
		if err != nil {
			return nil, err
		}
		r = &pb.AuthUserAddRequest{Name: r.Name, HashedPassword: h, Options: r.Options}
	}
	return proposeAuth[*pb.AuthUserAddResponse](ctx, m, &pb.InternalRaftRequest{AuthUserAdd: r})
}

func (m *Member) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return proposeAuth[*pb.AuthUserDeleteResponse](ctx, m, &pb.InternalRaftRequest{AuthUserDelete: r})
}

func (m *Member) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	h, err := m.hashPassword(r.Password)
	if err != nil {
		return nil, err
	}
	return proposeAuth[*pb.AuthUserChangePasswordResponse](ctx, m, &pb.InternalRaftRequest{
		AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: r.Name, HashedPassword: h}})
}

func (m *Member) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return proposeAuth[*pb.AuthUserGrantRoleResponse](ctx, m, &pb.InternalRaftRequest{AuthUserGrantRole: r})
}

func (m *Member) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return proposeAuth[*pb.AuthUserRevokeRoleResponse](ctx, m, &pb.InternalRaftRequest{AuthUserRevokeRole: r})
}

func (m *Member) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return proposeAuth[*pb.AuthUserGetResponse](ctx, m, &pb.InternalRaftRequest{AuthUserGet: r})
}

func (m *Member) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return proposeAuth[*pb.AuthUserListResponse](ctx, m, &pb.InternalRaftRequest{AuthUserList: r})
}

func (m *Member) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return proposeAuth[*pb.AuthRoleAddResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleAdd: r})
}

func (m *Member) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return proposeAuth[*pb.AuthRoleGetResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleGet: r})
}

func (m *Member) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return proposeAuth[*pb.AuthRoleListResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleList: r})
}

func (m *Member) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return proposeAuth[*pb.AuthRoleDeleteResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleDelete: r})
}

func (m *Member) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return proposeAuth[*pb.AuthRoleGrantPermissionResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleGrantPermission: r})
}

func (m *Member) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return proposeAuth[*pb.AuthRoleRevokePermissionResponse](ctx, m, &pb.InternalRaftRequest{AuthRoleRevokePermission: r})
}

// RequireAuthInfo checks that a request names a user while auth is on
// (etcd's requireAuthInfo: member list, lease grant, status, alarm list).
func (m *Member) RequireAuthInfo(ctx context.Context) error {
	if m.st.auth.Enabled() && auth.InfoFromContext(ctx) == nil {
		return auth.ErrUserEmpty
	}
	return nil
}

// WithRoot is ctx for a request the member makes itself (an expired
// lease's revocation, the health checks' reads): as root, at the current
// auth revision, while auth is on.
func (m *Member) WithRoot(ctx context.Context) context.Context {
	if !m.st.auth.Enabled() {
		return ctx
	}
	return auth.WithInfo(ctx, &auth.Info{Username: auth.RootUser, Revision: m.st.auth.Revision()})
}
