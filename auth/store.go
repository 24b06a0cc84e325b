// Package auth is the member's access control, as etcd's: users (with
// bcrypt-hashed passwords), roles with permissions on keys and ranges, the
// root user and role, whether authentication is enabled, and the auth
// revision, which every change bumps so that a request authorised under
// an older revision is refused when applied. It is persisted in etcd's
// buckets and layout (auth, authUsers, authRoles), so a data dir or a
// snapshot carries its users between etcd and basalt.
//
// The member's applier is the only writer, in log order, through a
// Writer; any goroutine checks permissions against the Store.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
)

// etcd's buckets and keys.
var (
	Bucket      = []byte("auth")
	UsersBucket = []byte("authUsers")
	RolesBucket = []byte("authRoles")
	EnabledKey  = []byte("authEnabled")
	RevisionKey = []byte("authRevision")
)

// The root user and role: root may do anything, and auth cannot be
// enabled without it.
const (
	RootUser = "root"
	RootRole = "root"
)

// Reader reads the backend; Writer changes it within the applier's batch.
type Reader interface {
	ForEach(bucket []byte, f func(k, v []byte) error) error
}

type Writer interface {
	UnsafePut(bucket, key, value []byte) error
	UnsafeDelete(bucket, key []byte) error
}

// Info is who a request comes from: a user, and the auth revision its
// token was issued at.
type Info struct {
	Username string
	Revision uint64
}

// Store is the auth state. Every method is safe for concurrent use.
type Store struct {
	lg         *zap.Logger
	bcryptCost int
	tokens     TokenProvider

	mu       sync.RWMutex
	enabled  bool
	revision uint64
	users    map[string]*authpb.User
	roles    map[string]*authpb.Role
	// perms are each user's merged permissions, rebuilt at every change.
	perms map[string]*permissions
}

// New is an empty, disabled store; Recover loads the persisted one.
// bcryptCost hashes passwords (etcd's default when out of bcrypt's
// range); tokens issues and checks tokens (nil: simple tokens with the
// default TTL, valid at once, for tests).
func New(lg *zap.Logger, bcryptCost int, tokens TokenProvider) *Store {
	if lg == nil {
		lg = zap.NewNop()
	}
	if bcryptCost < bcrypt.MinCost || bcryptCost > bcrypt.MaxCost {
		lg.Warn("use default bcrypt cost instead of the invalid given cost", zap.Int("min-cost", bcrypt.MinCost),
			zap.Int("max-cost", bcrypt.MaxCost), zap.Int("default-cost", bcrypt.DefaultCost), zap.Int("given-cost", bcryptCost))
		bcryptCost = bcrypt.DefaultCost
	}
	if tokens == nil {
		tokens = NewSimpleTokens(0, func(uint64) <-chan struct{} { return closed })
	}
	return &Store{lg: lg, bcryptCost: bcryptCost, tokens: tokens, users: map[string]*authpb.User{}, roles: map[string]*authpb.Role{},
		perms: map[string]*permissions{}}
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// BcryptCost is the cost passwords are hashed with before they are
// proposed.
func (s *Store) BcryptCost() int { return s.bcryptCost }

// Init writes revision 1 to a backend that has none yet, as etcd does at
// start (its revisions start at 1; 0 means "no user" in a check).
func Init(r Reader, w Writer) error {
	found := false
	if err := r.ForEach(Bucket, func(k, _ []byte) error {
		found = found || string(k) == string(RevisionKey)
		return nil
	}); err != nil {
		return err
	}
	if found {
		return nil
	}
	return w.UnsafePut(Bucket, RevisionKey, revisionBytes(1))
}

func revisionBytes(rev uint64) []byte { return binary.BigEndian.AppendUint64(nil, rev) }

// Recover replaces the state with what r holds: at start, and when a
// database snapshot is installed. On error nothing changes.
func (s *Store) Recover(r Reader) error {
	var enabled bool
	var revision uint64
	users := map[string]*authpb.User{}
	roles := map[string]*authpb.Role{}
	err := r.ForEach(Bucket, func(k, v []byte) error {
		switch string(k) {
		case string(EnabledKey):
			enabled = len(v) == 1 && v[0] == 1
		case string(RevisionKey):
			if len(v) != 8 {
				return fmt.Errorf("auth revision of %d bytes", len(v))
			}
			revision = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err == nil {
		err = r.ForEach(UsersBucket, func(k, v []byte) error {
			u := &authpb.User{}
			if err := proto.Unmarshal(v, u); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			users[string(u.Name)] = u
			return nil
		})
	}
	if err == nil {
		err = r.ForEach(RolesBucket, func(k, v []byte) error {
			role := &authpb.Role{}
			if err := proto.Unmarshal(v, role); err != nil {
				return fmt.Errorf("role %q: %w", k, err)
			}
			roles[string(role.Name)] = role
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("recover auth: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enabled, s.revision, s.users, s.roles = enabled, revision, users, roles
	s.refreshPerms()
	if enabled {
		s.tokens.Enable()
	} else {
		s.tokens.Disable()
	}
	return nil
}

// refreshPerms rebuilds every user's permissions; s.mu is held.
func (s *Store) refreshPerms() {
	s.perms = make(map[string]*permissions, len(s.users))
	for name, u := range s.users {
		var roles []*authpb.Role
		for _, r := range u.Roles {
			if role := s.roles[r]; role != nil {
				roles = append(roles, role)
			}
		}
		s.perms[name] = mergePermissions(roles)
	}
}

// Enabled reports whether authentication is enabled.
func (s *Store) Enabled() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.enabled
}

// Revision is the auth revision.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revision
}

// commit bumps the revision, persists it and rebuilds the permissions;
// s.mu is held for writing.
func (s *Store) commit(w Writer) error {
	s.revision++
	s.refreshPerms()
	return w.UnsafePut(Bucket, RevisionKey, revisionBytes(s.revision))
}

func hasRootRole(u *authpb.User) bool {
	i := sort.SearchStrings(u.Roles, RootRole)
	return i < len(u.Roles) && u.Roles[i] == RootRole
}

// Enable turns authentication on: the root user must exist and hold the
// root role. Enabling it again changes nothing.
func (s *Store) Enable(w Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enabled {
		s.lg.Info("authentication is already enabled; ignored auth enable request")
		return nil
	}
	root := s.users[RootUser]
	if root == nil {
		return ErrRootUserNotExist
	}
	if !hasRootRole(root) {
		return ErrRootRoleNotExist
	}
	if err := w.UnsafePut(Bucket, EnabledKey, []byte{1}); err != nil {
		return err
	}
	s.enabled = true
	s.tokens.Enable()
	s.lg.Info("enabled authentication")
	return s.commit(w)
}

// Disable turns authentication off.
func (s *Store) Disable(w Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enabled {
		return nil
	}
	if err := w.UnsafePut(Bucket, EnabledKey, []byte{0}); err != nil {
		return err
	}
	s.enabled = false
	s.tokens.Disable()
	s.lg.Info("disabled authentication")
	return s.commit(w)
}

// password is the hash to store: the one the proposer computed, or, for
// an entry of an etcd before 3.5, the plain password hashed now.
func (s *Store) password(plain, hashed string) ([]byte, error) {
	if plain != "" && hashed == "" {
		return bcrypt.GenerateFromPassword([]byte(plain), s.bcryptCost)
	}
	return base64.StdEncoding.DecodeString(hashed)
}

func (s *Store) putUser(w Writer, u *authpb.User) error {
	b, err := proto.Marshal(u)
	if err != nil {
		return err
	}
	s.users[string(u.Name)] = u
	return w.UnsafePut(UsersBucket, u.Name, b)
}

func (s *Store) putRole(w Writer, r *authpb.Role) error {
	b, err := proto.Marshal(r)
	if err != nil {
		return err
	}
	s.roles[string(r.Name)] = r
	return w.UnsafePut(RolesBucket, r.Name, b)
}

// UserAdd adds a user.
func (s *Store) UserAdd(w Writer, r *pb.AuthUserAddRequest) error {
	if r.Name == "" {
		return ErrUserEmpty
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[r.Name] != nil {
		return ErrUserAlreadyExist
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	var password []byte
	if !opts.NoPassword {
		var err error
		if password, err = s.password(r.Password, r.HashedPassword); err != nil {
			return ErrNoPasswordUser
		}
	}
	if err := s.putUser(w, &authpb.User{Name: []byte(r.Name), Password: password, Options: opts}); err != nil {
		return err
	}
	s.lg.Info("added a user", zap.String("user-name", r.Name))
	return s.commit(w)
}

// UserDelete deletes a user; root cannot be deleted while auth is on.
func (s *Store) UserDelete(w Writer, r *pb.AuthUserDeleteRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enabled && r.Name == RootUser {
		s.lg.Error("cannot delete 'root' user", zap.String("user-name", r.Name))
		return ErrInvalidAuthMgmt
	}
	if s.users[r.Name] == nil {
		return ErrUserNotFound
	}
	delete(s.users, r.Name)
	if err := w.UnsafeDelete(UsersBucket, []byte(r.Name)); err != nil {
		return err
	}
	s.tokens.InvalidateUser(r.Name)
	s.lg.Info("deleted a user", zap.String("user-name", r.Name))
	return s.commit(w)
}

// UserChangePassword replaces a user's password.
func (s *Store) UserChangePassword(w Writer, r *pb.AuthUserChangePasswordRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	password, err := s.password(r.Password, r.HashedPassword)
	if err != nil {
		return err
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Password = password
	if err := s.putUser(w, nu); err != nil {
		return err
	}
	s.tokens.InvalidateUser(r.Name)
	s.lg.Info("changed a password of a user", zap.String("user-name", r.Name))
	return s.commit(w)
}

// UserGrantRole grants a role to a user; granting it again changes
// nothing.
func (s *Store) UserGrantRole(w Writer, r *pb.AuthUserGrantRoleRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[r.User]
	if u == nil {
		return ErrUserNotFound
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if found {
		s.lg.Info("ignored duplicated granting", zap.String("user-name", r.User), zap.String("role-name", r.Role))
		return nil
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Insert(nu.Roles, i, r.Role)
	if err := s.putUser(w, nu); err != nil {
		return err
	}
	s.lg.Info("granted a role to a user", zap.String("user-name", r.User), zap.String("role-name", r.Role))
	return s.commit(w)
}

// UserRevokeRole takes a role from a user; root keeps root while auth is
// on.
func (s *Store) UserRevokeRole(w Writer, r *pb.AuthUserRevokeRoleRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enabled && r.Name == RootUser && r.Role == RootRole {
		s.lg.Error("'root' user cannot revoke 'root' role", zap.String("user-name", r.Name), zap.String("role-name", r.Role))
		return ErrInvalidAuthMgmt
	}
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if !found {
		return ErrRoleNotGranted
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.Delete(nu.Roles, i, i+1)
	if err := s.putUser(w, nu); err != nil {
		return err
	}
	s.lg.Info("revoked a role from a user", zap.String("user-name", r.Name), zap.String("role-name", r.Role))
	return s.commit(w)
}

// RoleAdd adds a role.
func (s *Store) RoleAdd(w Writer, r *pb.AuthRoleAddRequest) error {
	if r.Name == "" {
		return ErrRoleEmpty
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles[r.Name] != nil {
		return ErrRoleAlreadyExist
	}
	if err := s.putRole(w, &authpb.Role{Name: []byte(r.Name)}); err != nil {
		return err
	}
	s.lg.Info("created a role", zap.String("role-name", r.Name))
	return s.commit(w)
}

// RoleDelete deletes a role and takes it from every user; root's role
// stays while auth is on.
func (s *Store) RoleDelete(w Writer, r *pb.AuthRoleDeleteRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enabled && r.Role == RootRole {
		s.lg.Error("cannot delete 'root' role", zap.String("role-name", r.Role))
		return ErrInvalidAuthMgmt
	}
	if s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	delete(s.roles, r.Role)
	if err := w.UnsafeDelete(RolesBucket, []byte(r.Role)); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(s.users)) {
		u := s.users[name]
		i, found := slices.BinarySearch(u.Roles, r.Role)
		if !found {
			continue
		}
		nu := proto.Clone(u).(*authpb.User)
		nu.Roles = slices.Delete(nu.Roles, i, i+1)
		if err := s.putUser(w, nu); err != nil {
			return err
		}
	}
	s.lg.Info("deleted a role", zap.String("role-name", r.Role))
	return s.commit(w)
}

// RoleGrantPermission grants a permission to a role, or changes the type
// of one it has on the same keys.
func (s *Store) RoleGrantPermission(w Writer, r *pb.AuthRoleGrantPermissionRequest) error {
	if r.Perm == nil {
		return ErrPermissionNotGiven
	}
	if !validPermissionRange(r.Perm.Key, r.Perm.RangeEnd) {
		return ErrInvalidAuthMgmt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[r.Name]
	if role == nil {
		return ErrRoleNotFound
	}
	nr := proto.Clone(role).(*authpb.Role)
	i := sort.Search(len(nr.KeyPermission), func(i int) bool {
		return string(nr.KeyPermission[i].Key) >= string(r.Perm.Key)
	})
	if i < len(nr.KeyPermission) && string(nr.KeyPermission[i].Key) == string(r.Perm.Key) &&
		string(nr.KeyPermission[i].RangeEnd) == string(r.Perm.RangeEnd) {
		nr.KeyPermission[i].PermType = r.Perm.PermType
	} else {
		// Appended, then sorted by key as etcd sorts them (only the first
		// permission with the key is looked at above, so the order of
		// those with equal keys decides what a later grant updates).
		perm := &authpb.Permission{Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd, PermType: r.Perm.PermType}
		nr.KeyPermission = append(nr.KeyPermission, perm)
		sort.Sort(byKey(nr.KeyPermission))
	}
	if err := s.putRole(w, nr); err != nil {
		return err
	}
	s.lg.Info("granted/updated a permission to a user", zap.String("role-name", r.Name),
		zap.String("permission-name", authpb.Permission_Type_name[int32(r.Perm.PermType)]))
	return s.commit(w)
}

// RoleRevokePermission takes the permissions on the keys named from a
// role.
func (s *Store) RoleRevokePermission(w Writer, r *pb.AuthRoleRevokePermissionRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[r.Role]
	if role == nil {
		return ErrRoleNotFound
	}
	// Every permission on those keys goes (a role may hold several).
	nr := proto.Clone(role).(*authpb.Role)
	nr.KeyPermission = slices.DeleteFunc(nr.KeyPermission, func(p *authpb.Permission) bool {
		return string(p.Key) == string(r.Key) && string(p.RangeEnd) == string(r.RangeEnd)
	})
	if len(nr.KeyPermission) == len(role.KeyPermission) {
		return ErrPermissionNotGranted
	}
	if err := s.putRole(w, nr); err != nil {
		return err
	}
	s.lg.Info("revoked a permission on range", zap.String("role-name", r.Role), zap.String("key", string(r.Key)), zap.String("range-end", string(r.RangeEnd)))
	return s.commit(w)
}

// UserGet is a user's roles.
func (s *Store) UserGet(name string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	return slices.Clone(u.Roles), nil
}

// UserList is the users' names, sorted.
func (s *Store) UserList() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.users))
}

// RoleGet is a role's permissions (root's: every key).
func (s *Store) RoleGet(name string) ([]*authpb.Permission, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.roles[name]
	if r == nil {
		return nil, ErrRoleNotFound
	}
	if name == RootRole {
		// root may do anything: etcd shows it as read-write on every key.
		return []*authpb.Permission{{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}}}, nil
	}
	out := make([]*authpb.Permission, len(r.KeyPermission))
	for i, p := range r.KeyPermission {
		out[i] = proto.Clone(p).(*authpb.Permission)
	}
	return out, nil
}

// RoleList is the roles' names, sorted.
func (s *Store) RoleList() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.roles))
}

// HasRole reports whether a user holds a role.
func (s *Store) HasRole(user, role string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[user]
	if u == nil {
		return false
	}
	_, found := slices.BinarySearch(u.Roles, role)
	return found
}

// CheckPassword checks a user's password (bcrypt, outside any lock) and
// returns the revision it was checked at: the token is issued at that
// revision, and refused if the password changed meanwhile.
func (s *Store) CheckPassword(name, password string) (uint64, error) {
	s.mu.RLock()
	if !s.enabled {
		s.mu.RUnlock()
		return 0, ErrAuthNotEnabled
	}
	u := s.users[name]
	rev := s.revision
	s.mu.RUnlock()
	if u == nil {
		return 0, ErrAuthFailed
	}
	if u.Options != nil && u.Options.NoPassword {
		return 0, ErrNoPasswordUser
	}
	if bcrypt.CompareHashAndPassword(u.Password, []byte(password)) != nil {
		s.lg.Info("invalid password", zap.String("user-name", name))
		return 0, ErrAuthFailed
	}
	return rev, nil
}

// TokenPrefix is what the member that receives an Authenticate request
// proposes with it.
func (s *Store) TokenPrefix() (string, error) { return s.tokens.Prefix() }

// Authenticate issues a token to a user when the Authenticate entry is
// applied at index (on every member); the password was checked before it
// was proposed.
func (s *Store) Authenticate(name string, index uint64, prefix string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.enabled {
		return "", ErrAuthNotEnabled
	}
	u := s.users[name]
	if u == nil || u.Options != nil && u.Options.NoPassword {
		return "", ErrAuthFailed
	}
	return s.tokens.Assign(name, s.revision, index, prefix)
}

// InfoFromToken is who a token is, if it is valid.
func (s *Store) InfoFromToken(ctx context.Context, token string) (*Info, bool) {
	return s.tokens.Info(ctx, token, s.Revision())
}

// checkOp is etcd's permission check of an operation on keys.
func (s *Store) checkOp(info *Info, typ authpb.Permission_Type, key, end []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.enabled {
		return nil
	}
	if info == nil || info.Revision == 0 {
		return ErrUserEmpty
	}
	if info.Revision < s.revision {
		return ErrAuthOldRevision
	}
	u := s.users[info.Username]
	if u == nil {
		return ErrPermissionDenied
	}
	if hasRootRole(u) {
		return nil
	}
	if p := s.perms[info.Username]; p != nil && p.allows(typ, key, end) {
		return nil
	}
	return ErrPermissionDenied
}

// IsRangePermitted checks a read of key, or of [key, end).
func (s *Store) IsRangePermitted(info *Info, key, end []byte) error {
	return s.checkOp(info, authpb.READ, key, end)
}

// IsPutPermitted checks a write of key.
func (s *Store) IsPutPermitted(info *Info, key []byte) error {
	return s.checkOp(info, authpb.WRITE, key, nil)
}

// IsDeleteRangePermitted checks a deletion of key, or of [key, end).
func (s *Store) IsDeleteRangePermitted(info *Info, key, end []byte) error {
	return s.checkOp(info, authpb.WRITE, key, end)
}

// IsAdminPermitted checks that the user holds the root role (anyone may
// do anything while auth is off).
func (s *Store) IsAdminPermitted(info *Info) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.enabled {
		return nil
	}
	if info == nil || info.Username == "" {
		return ErrUserEmpty
	}
	u := s.users[info.Username]
	if u == nil {
		return ErrUserNotFound
	}
	if !hasRootRole(u) {
		return ErrPermissionDenied
	}
	return nil
}

// byKey orders permissions by key alone, as etcd's.
type byKey []*authpb.Permission

func (p byKey) Len() int           { return len(p) }
func (p byKey) Less(i, j int) bool { return string(p[i].Key) < string(p[j].Key) }
func (p byKey) Swap(i, j int)      { p[i], p[j] = p[j], p[i] }
