package server

import (
	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// authInfo is who proposed r, as its header says.
func authInfo(r *pb.InternalRaftRequest) *auth.Info {
	if r.Header == nil {
		return &auth.Info{}
	}
	return &auth.Info{Username: r.Header.Username, Revision: r.Header.AuthRevision}
}

// needsAdmin are the requests only root may make (etcd's).
func needsAdmin(r *pb.InternalRaftRequest) bool {
	return r.AuthEnable != nil || r.AuthDisable != nil || r.AuthUserAdd != nil || r.AuthUserDelete != nil ||
		r.AuthUserChangePassword != nil || r.AuthUserGrantRole != nil || r.AuthUserRevokeRole != nil ||
		r.AuthRoleAdd != nil || r.AuthRoleGrantPermission != nil || r.AuthRoleRevokePermission != nil ||
		r.AuthRoleDelete != nil || r.AuthUserList != nil || r.AuthRoleList != nil
}

// authorize checks, when r is applied, that its user may make it, as
// etcd's auth applier does: against the auth state at this point of the
// log, so that a permission revoked before the request is refused
// (ErrAuthOldRevision when the user's token is older than the change).
func (a *applier) authorize(r *pb.InternalRaftRequest) error {
	return permChecker{as: a.st.auth, lessor: a.st.lessor}.check(authInfo(r), r)
}

// permChecker checks requests against the auth state: the applier's
// (writes, as they are applied) and reads served outside the log.
type permChecker struct {
	as     *auth.Store
	lessor *lease.Lessor
}

// check checks that info may make r.
func (c permChecker) check(info *auth.Info, r *pb.InternalRaftRequest) error {
	as := c.as
	if !as.Enabled() {
		return nil
	}
	if needsAdmin(r) {
		return as.IsAdminPermitted(info)
	}
	switch {
	case r.Range != nil:
		return as.IsRangePermitted(info, r.Range.Key, r.Range.RangeEnd)
	case r.Put != nil:
		return c.put(info, r.Put)
	case r.DeleteRange != nil:
		return c.deleteRange(info, r.DeleteRange)
	case r.Txn != nil:
		return c.txn(info, r.Txn)
	case r.LeaseRevoke != nil:
		return c.leaseKeys(info, lease.ID(r.LeaseRevoke.ID))
	case r.AuthUserGet != nil:
		// A user may read itself.
		if err := as.IsAdminPermitted(info); err != nil && r.AuthUserGet.Name != info.Username {
			return err
		}
	case r.AuthRoleGet != nil:
		// A user may read its roles.
		if err := as.IsAdminPermitted(info); err != nil && !as.HasRole(info.Username, r.AuthRoleGet.Role) {
			return err
		}
	}
	return nil
}

func (c permChecker) put(info *auth.Info, p *pb.PutRequest) error {
	as := c.as
	if err := as.IsPutPermitted(info, p.Key); err != nil {
		return err
	}
	if err := c.leaseKeys(info, lease.ID(p.Lease)); err != nil {
		return err
	}
	if p.PrevKv {
		return as.IsRangePermitted(info, p.Key, nil)
	}
	return nil
}

func (c permChecker) deleteRange(info *auth.Info, d *pb.DeleteRangeRequest) error {
	as := c.as
	if err := as.IsDeleteRangePermitted(info, d.Key, d.RangeEnd); err != nil {
		return err
	}
	if d.PrevKv {
		return as.IsRangePermitted(info, d.Key, d.RangeEnd)
	}
	return nil
}

// txn checks the compares and both branches, whichever runs.
func (c permChecker) txn(info *auth.Info, t *pb.TxnRequest) error {
	as := c.as
	for _, c := range t.Compare {
		if err := as.IsRangePermitted(info, c.Key, c.RangeEnd); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			var err error
			switch {
			case op.GetRequestRange() != nil:
				err = as.IsRangePermitted(info, op.GetRequestRange().Key, op.GetRequestRange().RangeEnd)
			case op.GetRequestPut() != nil:
				err = c.put(info, op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				err = c.deleteRange(info, op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				err = c.txn(info, op.GetRequestTxn())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// leaseKeys checks that the user may write every key attached to a lease
// it revokes or attaches a key to (root may).
func (c permChecker) leaseKeys(info *auth.Info, id lease.ID) error {
	if id == 0 {
		return nil
	}
	l := c.lessor.Lookup(id)
	if l == nil {
		return nil
	}
	as := c.as
	if as.IsAdminPermitted(info) == nil {
		return nil
	}
	for _, k := range l.Keys() {
		if err := as.IsPutPermitted(info, []byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// applyAuth applies an auth request; ok is false for other requests.
func (a *applier) applyAuth(tw *mvcc.WriteTxn, r *pb.InternalRaftRequest, index uint64) (res *applyResult, ok bool) {
	as := a.st.auth
	hdr := func() *pb.ResponseHeader { return &pb.ResponseHeader{} }
	var resp proto.Message
	var err error
	switch {
	case r.AuthEnable != nil:
		err = as.Enable(tw)
		resp = &pb.AuthEnableResponse{Header: hdr()}
	case r.AuthDisable != nil:
		err = as.Disable(tw)
		resp = &pb.AuthDisableResponse{Header: hdr()}
	case r.AuthStatus != nil:
		resp = &pb.AuthStatusResponse{Header: hdr(), Enabled: as.Enabled(), AuthRevision: as.Revision()}
	case r.Authenticate != nil:
		var token string
		token, err = as.Authenticate(r.Authenticate.Name, index, r.Authenticate.SimpleToken)
		resp = &pb.AuthenticateResponse{Header: hdr(), Token: token}
	case r.AuthUserAdd != nil:
		err = as.UserAdd(tw, r.AuthUserAdd)
		resp = &pb.AuthUserAddResponse{Header: hdr()}
	case r.AuthUserDelete != nil:
		err = as.UserDelete(tw, r.AuthUserDelete)
		resp = &pb.AuthUserDeleteResponse{Header: hdr()}
	case r.AuthUserChangePassword != nil:
		err = as.UserChangePassword(tw, r.AuthUserChangePassword)
		resp = &pb.AuthUserChangePasswordResponse{Header: hdr()}
	case r.AuthUserGrantRole != nil:
		err = as.UserGrantRole(tw, r.AuthUserGrantRole)
		resp = &pb.AuthUserGrantRoleResponse{Header: hdr()}
	case r.AuthUserRevokeRole != nil:
		err = as.UserRevokeRole(tw, r.AuthUserRevokeRole)
		resp = &pb.AuthUserRevokeRoleResponse{Header: hdr()}
	case r.AuthUserGet != nil:
		var roles []string
		roles, err = as.UserGet(r.AuthUserGet.Name)
		resp = &pb.AuthUserGetResponse{Header: hdr(), Roles: roles}
	case r.AuthUserList != nil:
		resp = &pb.AuthUserListResponse{Header: hdr(), Users: as.UserList()}
	case r.AuthRoleAdd != nil:
		err = as.RoleAdd(tw, r.AuthRoleAdd)
		resp = &pb.AuthRoleAddResponse{Header: hdr()}
	case r.AuthRoleDelete != nil:
		err = as.RoleDelete(tw, r.AuthRoleDelete)
		resp = &pb.AuthRoleDeleteResponse{Header: hdr()}
	case r.AuthRoleGrantPermission != nil:
		err = as.RoleGrantPermission(tw, r.AuthRoleGrantPermission)
		resp = &pb.AuthRoleGrantPermissionResponse{Header: hdr()}
	case r.AuthRoleRevokePermission != nil:
		err = as.RoleRevokePermission(tw, r.AuthRoleRevokePermission)
		resp = &pb.AuthRoleRevokePermissionResponse{Header: hdr()}
	case r.AuthRoleGet != nil:
		perms, gerr := as.RoleGet(r.AuthRoleGet.Role)
		err = gerr
		resp = &pb.AuthRoleGetResponse{Header: hdr(), Perm: perms}
	case r.AuthRoleList != nil:
		resp = &pb.AuthRoleListResponse{Header: hdr(), Roles: as.RoleList()}
	default:
		return nil, false
	}
	if err != nil {
		return &applyResult{err: err}, true
	}
	return &applyResult{resp: resp}, true
}
