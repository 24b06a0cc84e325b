package v2auth

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// CanAccess tells whether the role may read (or, with write, change) the
// key itself: a pattern names the key, or ends with '*' and is a prefix of
// it. The root role may touch every key.
func (r Role) CanAccess(key string, write bool) bool {
	if r.Role == RootRole {
		return true
	}
	for _, pattern := range r.Permissions.KV.patterns(write) {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			if strings.HasPrefix(key, prefix) {
				return true
			}
		} else if pattern != "" && pattern == key {
			return true
		}
	}
	return false
}

// CanAccessRecursive tells whether the role may read (or change) the key
// and everything under it: only prefix patterns ('*') grant that.
func (r Role) CanAccessRecursive(key string, write bool) bool {
	if r.Role == RootRole {
		return true
	}
	for _, pattern := range r.Permissions.KV.patterns(write) {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

func (rw RWPermission) patterns(write bool) []string {
	if write {
		return rw.Write
	}
	return rw.Read
}

// stringSet is a set of names; its values come out sorted, and as an
// empty list when there are none (etcd 3.4's JSON says [], not null).
type stringSet map[string]struct{}

func newStringSet(vals []string) stringSet {
	s := stringSet{}
	for _, v := range vals {
		s[v] = struct{}{}
	}
	return s
}

func (s stringSet) has(v string) bool { _, ok := s[v]; return ok }

func (s stringSet) sorted() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// withGrants is p with the grants added; granting a pattern the role
// holds already (or twice) is refused. Nil grants change nothing.
func (p Permissions) withGrants(g *Permissions) (Permissions, error) {
	if g == nil {
		return p, nil
	}
	read, err := grantAll(p.KV.Read, g.KV.Read, "Granting duplicate read permission %s")
	if err != nil {
		return Permissions{}, err
	}
	write, err := grantAll(p.KV.Write, g.KV.Write, "Granting duplicate write permission %s")
	if err != nil {
		return Permissions{}, err
	}
	return Permissions{KV: RWPermission{Read: read, Write: write}}, nil
}

func grantAll(held, granted []string, duplicate string) ([]string, error) {
	set := newStringSet(held)
	for _, v := range granted {
		if set.has(v) {
			return nil, errorf(http.StatusConflict, duplicate, v)
		}
		set[v] = struct{}{}
	}
	return set.sorted(), nil
}

// withRevokes is p without the revoked patterns; revoking one the role
// does not hold is only logged. Nil revokes change nothing.
func (p Permissions) withRevokes(lg *zap.Logger, r *Permissions) Permissions {
	if r == nil {
		return p
	}
	revoke := func(held, revoked []string, kind string) []string {
		set := newStringSet(held)
		for _, v := range revoked {
			if !set.has(v) {
				lg.Info("revoking ungranted "+kind+" permission", zap.String(kind+"-permission", v))
				continue
			}
			delete(set, v)
		}
		return set.sorted()
	}
	return Permissions{KV: RWPermission{Read: revoke(p.KV.Read, r.KV.Read, "read"), Write: revoke(p.KV.Write, r.KV.Write, "write")}}
}

// updated is the role a grant and revoke request asks for.
func (r Role) updated(lg *zap.Logger, req Role) (Role, error) {
	perms, err := r.Permissions.withGrants(req.Grant)
	if err != nil {
		return Role{}, err
	}
	return Role{Role: r.Role, Permissions: perms.withRevokes(lg, req.Revoke)}, nil
}

// updated is the user a request asks for: a new password (hashed with
// hash) and the roles granted and revoked. A role granted twice or
// revoked but not held refuses the whole request.
func (u User) updated(lg *zap.Logger, req User, hash func(string) (string, error)) (User, error) {
	out := User{User: u.User, Password: u.Password}
	roles := newStringSet(u.Roles)
	for _, g := range req.Grant {
		if roles.has(g) {
			lg.Warn("attempted to grant a duplicate role for a user", zap.String("user-name", req.User), zap.String("role-name", g))
			return User{}, errorTwice(http.StatusConflict, fmt.Sprintf("Granting duplicate role %s for user %s", g, req.User))
		}
		roles[g] = struct{}{}
	}
	for _, r := range req.Revoke {
		if !roles.has(r) {
			lg.Warn("attempted to revoke a ungranted role for a user", zap.String("user-name", req.User), zap.String("role-name", r))
			return User{}, errorTwice(http.StatusConflict, fmt.Sprintf("Revoking ungranted role %s for user %s", r, req.User))
		}
		delete(roles, r)
	}
	out.Roles = roles.sorted()
	if req.Password != "" {
		h, err := hash(req.Password)
		if err != nil {
			return User{}, fmt.Errorf("hash the password of user %s: %w", req.User, err)
		}
		out.Password = h
	}
	return out, nil
}

// withRootRole is u holding the root role, as the root user always does.
func (u User) withRootRole() User {
	if !slices.Contains(u.Roles, RootRole) {
		u.Roles = append(u.Roles, RootRole)
	}
	return u
}
