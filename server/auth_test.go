package server

import (
	"errors"
	"testing"

	"github.com/basaltkv/basalt/auth"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestAuthRevisionAtApply: a request carries the auth revision its user
// was authorised at, and the applier refuses it when the auth state
// changed since (ErrAuthOldRevision): a permission revoked is revoked for
// requests already proposed.
func TestAuthRevisionAtApply(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.BcryptCost = 4 })
	c.waitReady()
	m := c.members[0].m
	ctx := ctxT(t)
	steps := []error{
		func() error {
			_, err := m.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "pw"})
			return err
		}(),
		func() error {
			_, err := m.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"})
			return err
		}(),
		func() error { _, err := m.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "u", Password: "pw"}); return err }(),
		func() error { _, err := m.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "r"}); return err }(),
		func() error {
			_, err := m.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r",
				Perm: &authpb.Permission{Key: []byte("k"), PermType: authpb.READWRITE}})
			return err
		}(),
		func() error {
			_, err := m.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "u", Role: "r"})
			return err
		}(),
		func() error { _, err := m.AuthEnable(ctx, &pb.AuthEnableRequest{}); return err }(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	rev := m.st.auth.Revision()
	root := auth.WithInfo(ctx, &auth.Info{Username: "root", Revision: rev})
	user := auth.WithInfo(ctx, &auth.Info{Username: "u", Revision: rev})
	if _, err := m.Put(user, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("put within the permission: %v", err)
	}
	if _, err := m.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); !errors.Is(err, auth.ErrUserEmpty) {
		t.Fatalf("put without a user: %v", err)
	}
	if _, err := m.Put(user, &pb.PutRequest{Key: []byte("other"), Value: []byte("v")}); !errors.Is(err, auth.ErrPermissionDenied) {
		t.Fatalf("put outside the permission: %v", err)
	}
	// The permission goes: a request authorised before is refused when
	// applied after.
	if _, err := m.RoleRevokePermission(root, &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Put(user, &pb.PutRequest{Key: []byte("k"), Value: []byte("v2")}); !errors.Is(err, auth.ErrAuthOldRevision) {
		t.Fatalf("put authorised before the revocation: %v", err)
	}
	if _, err := m.Range(user, &pb.RangeRequest{Key: []byte("k")}); !errors.Is(err, auth.ErrAuthOldRevision) {
		t.Fatalf("range authorised before the revocation: %v", err)
	}
	// A user's password is checked before the proposal; the hash is the
	// cost asked for.
	if _, err := m.Authenticate(ctx, &pb.AuthenticateRequest{Name: "u", Password: "wrong"}); !errors.Is(err, auth.ErrAuthFailed) {
		t.Fatalf("authenticate with a wrong password: %v", err)
	}
	resp, err := m.Authenticate(ctx, &pb.AuthenticateRequest{Name: "u", Password: "pw"})
	if err != nil || resp.Token == "" {
		t.Fatalf("authenticate: %v, %v", resp, err)
	}
	if info, err := m.AuthInfoFromToken(ctx, resp.Token); err != nil || info.Username != "u" {
		t.Fatalf("token's user: %v, %v", info, err)
	}
}
