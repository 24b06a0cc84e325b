package v2auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/storage/v2store"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// Doer serves v2 requests (server.Member): writes and quorum reads
// through raft, plain reads from the member's store.
type Doer interface {
	DoV2(ctx context.Context, r *v2store.Request) (server.V2Response, error)
}

// Store reads and changes the auth state in the v2 store.
type Store struct {
	lg      *zap.Logger
	d       Doer
	timeout time.Duration
	// dirsMade: /2, /2/users, /2/roles and /2/enabled exist (this process
	// made or found them before its first change, as etcd does once).
	dirsMade atomic.Bool
	// hash hashes a password (bcrypt at its default cost, as etcd).
	hash func(password string) (string, error)
}

// NewStore is the auth state served by d; timeout bounds each request.
func NewStore(lg *zap.Logger, d Doer, timeout time.Duration) *Store {
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Store{lg: lg, d: d, timeout: timeout, hash: bcryptHash}
}

func bcryptHash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// CheckPassword tells whether password is the user's.
func (s *Store) CheckPassword(u User, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) == nil
}

// AllUsers lists the users' names, sorted.
func (s *Store) AllUsers() ([]string, error) {
	names, err := s.list("/users/")
	if isCode(err, v2store.EcodeKeyNotFound) {
		return []string{}, nil
	}
	return names, err
}

// GetUser reads a user from the local store; the root user holds the
// root role whatever is stored.
func (s *Store) GetUser(name string) (User, error) { return s.getUser(name, false) }

func (s *Store) getUser(name string, quorum bool) (User, error) {
	var u User
	err := s.getJSON("/users/"+name, quorum, &u)
	if isCode(err, v2store.EcodeKeyNotFound) {
		return User{}, errorf(http.StatusNotFound, "User %s does not exist.", name)
	}
	if err != nil {
		return User{}, err
	}
	if u.User == RootUser {
		u = u.withRootRole()
	}
	return u, nil
}

// CreateOrUpdateUser updates the user if it exists, else creates it.
func (s *Store) CreateOrUpdateUser(u User) (out User, created bool, err error) {
	if _, err := s.getUser(u.User, true); err == nil {
		out, err := s.UpdateUser(u)
		return out, false, err
	}
	out, err = s.CreateUser(u)
	return out, true, err
}

// CreateUser creates a user with its password hashed; the root user is
// given the root role.
func (s *Store) CreateUser(u User) (User, error) {
	if u.User == RootUser {
		u = u.withRootRole()
	}
	if u.Password == "" {
		return u, errorf(http.StatusBadRequest, "Cannot create user %s with an empty password", u.User)
	}
	h, err := s.hash(u.Password)
	if err != nil {
		return u, fmt.Errorf("hash the password of user %s: %w", u.User, err)
	}
	u.Password = h
	err = s.put("/users/"+u.User, u, false)
	if isCode(err, v2store.EcodeNodeExist) {
		return u, errorf(http.StatusConflict, "User %s already exists.", u.User)
	}
	if err != nil {
		return u, err
	}
	s.lg.Info("created a user", zap.String("user-name", u.User))
	return u, nil
}

// DeleteUser deletes a user; not root while auth is on.
func (s *Store) DeleteUser(name string) error {
	// Enabled is read first, whoever the user: each read counts in the
	// store's statistics, as etcd's.
	if s.Enabled() && name == RootUser {
		return errorf(http.StatusForbidden, "Cannot delete root user while auth is enabled.")
	}
	err := s.delete("/users/" + name)
	if isCode(err, v2store.EcodeKeyNotFound) {
		return errorf(http.StatusNotFound, "User %s does not exist", name)
	}
	if err != nil {
		return err
	}
	s.lg.Info("deleted a user", zap.String("user-name", name))
	return nil
}

// UpdateUser changes a user's password and roles as u asks: a request
// that changes nothing is refused.
func (s *Store) UpdateUser(u User) (User, error) {
	old, err := s.getUser(u.User, true)
	if err != nil {
		return old, err
	}
	nu, err := old.updated(s.lg, u, s.hash)
	if err != nil {
		return old, err
	}
	if reflect.DeepEqual(old, nu) {
		return old, errNotUpdatedUser
	}
	if err := s.put("/users/"+u.User, nu, true); err != nil {
		return nu, err
	}
	s.lg.Info("updated a user", zap.String("user-name", u.User))
	return nu, nil
}

// AllRoles lists the roles' names, the root role's included, sorted.
func (s *Store) AllRoles() ([]string, error) {
	names, err := s.list("/roles/")
	if isCode(err, v2store.EcodeKeyNotFound) {
		return []string{RootRole}, nil
	}
	if err != nil {
		return nil, err
	}
	names = append(names, RootRole)
	slices.Sort(names)
	return names, nil
}

// GetRole reads a role from the local store.
func (s *Store) GetRole(name string) (Role, error) { return s.getRole(name, false) }

func (s *Store) getRole(name string, quorum bool) (Role, error) {
	if name == RootRole {
		return rootRole, nil
	}
	var r Role
	err := s.getJSON("/roles/"+name, quorum, &r)
	if isCode(err, v2store.EcodeKeyNotFound) {
		return Role{}, errorf(http.StatusNotFound, "Role %s does not exist.", name)
	}
	return r, err
}

// CreateRole creates a role as given; root cannot be.
func (s *Store) CreateRole(r Role) error {
	if r.Role == RootRole {
		return errorf(http.StatusForbidden, "Cannot modify role %s: is root role.", r.Role)
	}
	err := s.put("/roles/"+r.Role, r, false)
	if isCode(err, v2store.EcodeNodeExist) {
		return errorf(http.StatusConflict, "Role %s already exists.", r.Role)
	}
	if err != nil {
		return err
	}
	s.lg.Info("created a new role", zap.String("role-name", r.Role))
	return nil
}

// DeleteRole deletes a role (users keep its name); root cannot be.
func (s *Store) DeleteRole(name string) error {
	if name == RootRole {
		return errorf(http.StatusForbidden, "Cannot modify role %s: is root role.", name)
	}
	err := s.delete("/roles/" + name)
	if isCode(err, v2store.EcodeKeyNotFound) {
		return errorf(http.StatusNotFound, "Role %s doesn't exist.", name)
	}
	if err != nil {
		return err
	}
	s.lg.Info("delete a new role", zap.String("role-name", name))
	return nil
}

// UpdateRole grants and revokes a role's permissions as r asks: a
// request that changes nothing is refused; root cannot be changed.
func (s *Store) UpdateRole(r Role) (Role, error) {
	if r.Role == RootRole {
		return Role{}, errorf(http.StatusForbidden, "Cannot modify role %s: is root role.", r.Role)
	}
	old, err := s.getRole(r.Role, true)
	if err != nil {
		return old, err
	}
	nr, err := old.updated(s.lg, r)
	if err != nil {
		return old, err
	}
	if reflect.DeepEqual(old, nr) {
		return old, errNotUpdatedRole
	}
	if err := s.put("/roles/"+r.Role, nr, true); err != nil {
		return nr, err
	}
	s.lg.Info("updated a new role", zap.String("role-name", r.Role))
	return nr, nil
}

// Enabled tells whether auth is on, from the local store; a state that
// cannot be read counts as off.
func (s *Store) Enabled() bool {
	var on bool
	err := s.getJSON("/enabled", false, &on)
	if err != nil && !isCode(err, v2store.EcodeKeyNotFound) {
		s.lg.Warn("failed to detect auth settings", zap.Error(err))
	}
	return err == nil && on
}

// Enable turns auth on: the root user must exist; a guest role with
// access to every key is created if there is none.
func (s *Store) Enable() error {
	if s.Enabled() {
		return errorf(http.StatusConflict, "already enabled")
	}
	if _, err := s.getUser(RootUser, true); err != nil {
		return errorf(http.StatusConflict, "No root user available, please create one")
	}
	if _, err := s.getRole(GuestRole, true); err != nil {
		s.lg.Info("no guest role access found; creating default", zap.String("role-name", GuestRole))
		if err := s.CreateRole(guestRole); err != nil {
			s.lg.Warn("failed to create a guest role; aborting auth enable", zap.String("role-name", GuestRole), zap.Error(err))
			return err
		}
	}
	if err := s.put("/enabled", true, true); err != nil {
		s.lg.Warn("failed to enable auth", zap.Error(err))
		return err
	}
	s.lg.Info("enabled auth")
	return nil
}

// Disable turns auth off.
func (s *Store) Disable() error {
	if !s.Enabled() {
		return errorf(http.StatusConflict, "already disabled")
	}
	if err := s.put("/enabled", false, true); err != nil {
		s.lg.Warn("failed to disable auth", zap.Error(err))
		return err
	}
	s.lg.Info("disabled auth")
	return nil
}

// do sends one v2 request to the member with the store's timeout.
func (s *Store) do(r *v2store.Request) (*v2store.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	resp, err := s.d.DoV2(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.Event == nil {
		return nil, fmt.Errorf("%s %s: no event in the response", r.Method, r.Path)
	}
	return resp.Event, nil
}

func (s *Store) get(res string, quorum bool) (*v2store.Event, error) {
	r := &v2store.Request{Method: "GET", Path: path.Join(StorePrefix, res), Quorum: quorum}
	return s.do(r)
}

// getJSON reads the value at res into v.
func (s *Store) getJSON(res string, quorum bool, v any) error {
	ev, err := s.get(res, quorum)
	if err != nil {
		return err
	}
	if ev.Node == nil || ev.Node.Value == nil {
		return fmt.Errorf("read %s: not a value", path.Join(StorePrefix, res))
	}
	if err := json.Unmarshal([]byte(*ev.Node.Value), v); err != nil {
		return fmt.Errorf("read %s: %w", path.Join(StorePrefix, res), err)
	}
	return nil
}

// list names the children of the directory res.
func (s *Store) list(res string) ([]string, error) {
	ev, err := s.get(res, false)
	if err != nil {
		return nil, err
	}
	var names []string
	if ev.Node != nil {
		for _, n := range ev.Node.Nodes {
			names = append(names, path.Base(n.Key))
		}
	}
	slices.Sort(names)
	return names, nil
}

// put writes v as JSON at res: over an existing value with prevExist,
// else as a new one.
func (s *Store) put(res string, v any, prevExist bool) error {
	if err := s.makeDirs(); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", res, err)
	}
	_, err = s.do(&v2store.Request{Method: "PUT", Path: path.Join(StorePrefix, res), Val: string(b), PrevExist: &prevExist})
	return err
}

func (s *Store) delete(res string) error {
	if err := s.makeDirs(); err != nil {
		return err
	}
	prevExist := true
	_, err := s.do(&v2store.Request{Method: "DELETE", Path: path.Join(StorePrefix, res), PrevExist: &prevExist})
	return err
}

// makeDirs creates /2, /2/users and /2/roles and writes /2/enabled false
// unless they exist, once per process before its first change, as etcd
// does (each write that creates one is an index of the v2 store).
func (s *Store) makeDirs() error {
	if s.dirsMade.Load() {
		return nil
	}
	notExist := false
	for _, dir := range []string{StorePrefix, StorePrefix + "/users/", StorePrefix + "/roles/"} {
		_, err := s.do(&v2store.Request{Method: "PUT", Path: dir, Dir: true, PrevExist: &notExist})
		if err != nil && !isCode(err, v2store.EcodeNodeExist) {
			s.lg.Warn("failed to create auth directories", zap.Error(err))
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	_, err := s.do(&v2store.Request{Method: "PUT", Path: StorePrefix + "/enabled", Val: "false", PrevExist: &notExist})
	if err != nil && !isCode(err, v2store.EcodeNodeExist) {
		return fmt.Errorf("create %s/enabled: %w", StorePrefix, err)
	}
	s.dirsMade.Store(true)
	return nil
}

// isCode tells whether err is a v2 store error with that code.
func isCode(err error, code int) bool {
	var e *v2store.Error
	return errors.As(err, &e) && e.ErrorCode == code
}
