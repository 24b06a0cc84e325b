package auth

import (
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
)

// memBackend is buckets in memory.
type memBackend map[string]map[string][]byte

func (m memBackend) UnsafePut(bucket, key, value []byte) error {
	if m[string(bucket)] == nil {
		m[string(bucket)] = map[string][]byte{}
	}
	m[string(bucket)][string(key)] = value
	return nil
}

func (m memBackend) UnsafeDelete(bucket, key []byte) error {
	delete(m[string(bucket)], string(key))
	return nil
}

func (m memBackend) ForEach(bucket []byte, f func(k, v []byte) error) error {
	b := m[string(bucket)]
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if err := f([]byte(k), b[k]); err != nil {
			return err
		}
	}
	return nil
}

func hashed(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(h)
}

// newStore is a recovered store over a fresh backend, at revision 1.
func newStore(t *testing.T) (*Store, memBackend) {
	t.Helper()
	be := memBackend{}
	if err := Init(be, be); err != nil {
		t.Fatal(err)
	}
	s := New(nil, bcrypt.MinCost, nil)
	if err := s.Recover(be); err != nil {
		t.Fatal(err)
	}
	return s, be
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnableNeedsRoot(t *testing.T) {
	s, be := newStore(t)
	if err := s.Enable(be); !errors.Is(err, ErrRootUserNotExist) {
		t.Fatalf("enable without root: %v", err)
	}
	must(t, s.UserAdd(be, &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "pw")}))
	if err := s.Enable(be); !errors.Is(err, ErrRootRoleNotExist) {
		t.Fatalf("enable without the root role: %v", err)
	}
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"})) // root needs no RoleAdd
	must(t, s.Enable(be))
	if !s.Enabled() || s.Revision() != 4 {
		t.Fatalf("enabled %v revision %d, want true 4", s.Enabled(), s.Revision())
	}
	must(t, s.Enable(be)) // again: nothing changes
	if s.Revision() != 4 {
		t.Fatalf("revision %d after enabling twice", s.Revision())
	}
	for _, err := range []error{
		s.UserDelete(be, &pb.AuthUserDeleteRequest{Name: "root"}),
		s.UserRevokeRole(be, &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}),
		s.RoleDelete(be, &pb.AuthRoleDeleteRequest{Role: "root"}),
	} {
		if !errors.Is(err, ErrInvalidAuthMgmt) {
			t.Errorf("changing root while enabled: %v, want %v", err, ErrInvalidAuthMgmt)
		}
	}
	// What was persisted is what a restart recovers.
	again := New(nil, bcrypt.MinCost, nil)
	must(t, again.Recover(be))
	if !again.Enabled() || again.Revision() != 4 || !again.HasRole("root", "root") {
		t.Fatalf("recovered: enabled %v revision %d", again.Enabled(), again.Revision())
	}
	if rev, err := again.CheckPassword("root", "pw"); err != nil || rev != 4 {
		t.Fatalf("password after recovery: %d, %v", rev, err)
	}
	if _, err := again.CheckPassword("root", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestManagementErrors(t *testing.T) {
	s, be := newStore(t)
	must(t, s.UserAdd(be, &pb.AuthUserAddRequest{Name: "u", Options: &authpb.UserAddOptions{NoPassword: true}}))
	must(t, s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "r"}))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"user empty", s.UserAdd(be, &pb.AuthUserAddRequest{}), ErrUserEmpty},
		{"user exists", s.UserAdd(be, &pb.AuthUserAddRequest{Name: "u"}), ErrUserAlreadyExist},
		{"delete unknown user", s.UserDelete(be, &pb.AuthUserDeleteRequest{Name: "x"}), ErrUserNotFound},
		{"password of unknown user", s.UserChangePassword(be, &pb.AuthUserChangePasswordRequest{Name: "x", HashedPassword: hashed(t, "p")}), ErrUserNotFound},
		{"grant to unknown user", s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "x", Role: "r"}), ErrUserNotFound},
		{"grant unknown role", s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "x"}), ErrRoleNotFound},
		{"revoke role not granted", s.UserRevokeRole(be, &pb.AuthUserRevokeRoleRequest{Name: "u", Role: "r"}), ErrRoleNotGranted},
		{"role empty", s.RoleAdd(be, &pb.AuthRoleAddRequest{}), ErrRoleEmpty},
		{"role exists", s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "r"}), ErrRoleAlreadyExist},
		{"delete unknown role", s.RoleDelete(be, &pb.AuthRoleDeleteRequest{Role: "x"}), ErrRoleNotFound},
		{"no permission", s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r"}), ErrPermissionNotGiven},
		{"permission to unknown role", s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "x", Perm: &authpb.Permission{Key: []byte("a")}}), ErrRoleNotFound},
		{"permission without key", s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{}}), ErrInvalidAuthMgmt},
		{"permission range backwards", s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("b"), RangeEnd: []byte("a")}}), ErrInvalidAuthMgmt},
		{"revoke permission not granted", s.RoleRevokePermission(be, &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("a")}), ErrPermissionNotGranted},
		{"authenticate while disabled", func() error { _, err := s.Authenticate("u", 1, "p"); return err }(), ErrAuthNotEnabled},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if s.Revision() != 3 {
		t.Errorf("revision %d after two changes and refusals, want 3", s.Revision())
	}
}

func TestRoleDeleteTakesItFromUsers(t *testing.T) {
	s, be := newStore(t)
	must(t, s.UserAdd(be, &pb.AuthUserAddRequest{Name: "u", HashedPassword: hashed(t, "p")}))
	must(t, s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "r"}))
	must(t, s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "a"}))
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "r"}))
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "a"}))
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "a"})) // again: ignored
	if roles, _ := s.UserGet("u"); !slices.Equal(roles, []string{"a", "r"}) {
		t.Fatalf("roles %v, want sorted [a r]", roles)
	}
	must(t, s.RoleDelete(be, &pb.AuthRoleDeleteRequest{Role: "r"}))
	if roles, _ := s.UserGet("u"); !slices.Equal(roles, []string{"a"}) {
		t.Fatalf("roles %v after deleting r", roles)
	}
	again := New(nil, bcrypt.MinCost, nil)
	must(t, again.Recover(be))
	if roles, _ := again.UserGet("u"); !slices.Equal(roles, []string{"a"}) || !slices.Equal(again.RoleList(), []string{"a"}) {
		t.Fatalf("recovered roles %v, role list %v", roles, again.RoleList())
	}
}

// TestPermissions checks etcd's permission semantics: a key, a range, a
// prefix, from a key; READWRITE counts for both; a range needs the union
// of permissions to cover it; root may do anything; an old revision is
// refused.
func TestPermissions(t *testing.T) {
	s, be := newStore(t)
	must(t, s.UserAdd(be, &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "p")}))
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
	must(t, s.UserAdd(be, &pb.AuthUserAddRequest{Name: "u", HashedPassword: hashed(t, "p")}))
	must(t, s.RoleAdd(be, &pb.AuthRoleAddRequest{Name: "r"}))
	for _, p := range []*authpb.Permission{
		{Key: []byte("k"), PermType: authpb.READ},
		{Key: []byte("a"), RangeEnd: []byte("c"), PermType: authpb.READWRITE},
		{Key: []byte("c"), RangeEnd: []byte("e"), PermType: authpb.READ}, // touches [a,c): [a,e) readable
		{Key: []byte("p/"), RangeEnd: []byte("p0"), PermType: authpb.WRITE},
		{Key: []byte("z"), RangeEnd: []byte{0}, PermType: authpb.READ},
	} {
		must(t, s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: p}))
	}
	must(t, s.UserGrantRole(be, &pb.AuthUserGrantRoleRequest{User: "u", Role: "r"}))
	must(t, s.Enable(be))
	u := &Info{Username: "u", Revision: s.Revision()}
	root := &Info{Username: "root", Revision: s.Revision()}
	tests := []struct {
		name     string
		info     *Info
		write    bool
		key, end string
		want     error
	}{
		{"read the key", u, false, "k", "", nil},
		{"write the key", u, true, "k", "", ErrPermissionDenied},
		{"read past the key", u, false, "k", "l", ErrPermissionDenied},
		{"read in a range", u, false, "b", "", nil},
		{"write in a range", u, true, "b", "", nil},
		{"read across touching ranges", u, false, "a", "e", nil},
		{"write across touching ranges", u, true, "a", "e", ErrPermissionDenied},
		{"read the range end", u, false, "e", "", ErrPermissionDenied},
		{"write under a prefix", u, true, "p/x", "", nil},
		{"delete the prefix", u, true, "p/", "p0", nil},
		{"read under a prefix", u, false, "p/x", "", ErrPermissionDenied},
		{"read from a key", u, false, "zz", "\x00", nil},
		{"read everything", u, false, "\x00", "\x00", ErrPermissionDenied},
		{"root anywhere", root, true, "\x00", "\x00", nil},
		{"no user", &Info{}, false, "k", "", ErrUserEmpty},
		{"unknown user", &Info{Username: "x", Revision: s.Revision()}, false, "k", "", ErrPermissionDenied},
		{"old revision", &Info{Username: "u", Revision: s.Revision() - 1}, false, "k", "", ErrAuthOldRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var end []byte
			if tt.end != "" {
				end = []byte(tt.end)
			}
			var err error
			if tt.write {
				err = s.IsDeleteRangePermitted(tt.info, []byte(tt.key), end)
			} else {
				err = s.IsRangePermitted(tt.info, []byte(tt.key), end)
			}
			if !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := s.IsAdminPermitted(u); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("admin check of u: %v", err)
	}
	if err := s.IsAdminPermitted(root); err != nil {
		t.Errorf("admin check of root: %v", err)
	}
	// A revoked permission is gone, and the revision moved.
	must(t, s.RoleRevokePermission(be, &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("k")}))
	if err := s.IsRangePermitted(u, []byte("k"), nil); !errors.Is(err, ErrAuthOldRevision) {
		t.Fatalf("with the old revision: %v", err)
	}
	if err := s.IsRangePermitted(&Info{Username: "u", Revision: s.Revision()}, []byte("k"), nil); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("after the revocation: %v", err)
	}
	// Granting the same keys again changes the type.
	must(t, s.RoleGrantPermission(be, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("a"), RangeEnd: []byte("c"), PermType: authpb.READ}}))
	perms, _ := s.RoleGet("r")
	if len(perms) != 4 || string(perms[0].Key) != "a" || perms[0].PermType != authpb.READ {
		t.Fatalf("permissions %v", perms)
	}
}
