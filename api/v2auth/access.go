package v2auth

import (
	"net/http"
	"slices"

	"go.uber.org/zap"
)

// Access decides whether a v2 request may proceed while auth is on, as
// etcd 3.4 does: the user is the one the request's basic auth names (with
// its password), or with --client-cert-auth and no Authorization header
// the first name among its verified certificates' common names that is a
// user. A key request without either acts as the guest role.
type Access struct {
	lg             *zap.Logger
	s              *Store
	clientCertAuth bool
}

// NewAccess decides by the state in s; clientCertAuth is
// --client-cert-auth.
func NewAccess(lg *zap.Logger, s *Store, clientCertAuth bool) *Access {
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Access{lg: lg, s: s, clientCertAuth: clientCertAuth}
}

// Store is the auth state the decisions read.
func (a *Access) Store() *Store { return a.s }

// isWrite tells whether a request changes what it names.
func isWrite(r *http.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }

// RootOrRead lets reads (GET, HEAD) through and other methods only from
// a user with the root role (/v2/members, /v2/auth/enable).
func (a *Access) RootOrRead(r *http.Request) bool {
	return !isWrite(r) || a.Root(r)
}

// Root lets the request through if auth is off or its user holds the
// root role.
func (a *Access) Root(r *http.Request) bool {
	if !a.s.Enabled() {
		return true
	}
	var u *User
	if r.Header.Get("Authorization") == "" && a.clientCertAuth {
		u = a.certUser(r)
	} else {
		u = a.basicUser(r)
	}
	if u == nil {
		return false
	}
	if slices.Contains(u.Roles, RootRole) {
		return true
	}
	a.lg.Warn("a user does not have root role for resource", zap.String("root-user", u.User),
		zap.String("root-role-name", RootRole), zap.String("resource-path", r.URL.Path))
	return false
}

// Key lets a /v2/keys request on key (recursive: the key and all under
// it) through if auth is off or one of its user's roles grants it; a
// request without credentials is judged by the guest role, on the key
// alone.
func (a *Access) Key(r *http.Request, key string, recursive bool) bool {
	if !a.s.Enabled() {
		return true
	}
	var u *User
	if r.Header.Get("Authorization") != "" {
		if u = a.basicUser(r); u == nil {
			return false
		}
	} else {
		if a.clientCertAuth {
			u = a.certUser(r)
		}
		if u == nil {
			return a.guest(r, key)
		}
	}
	write := isWrite(r)
	for _, name := range u.Roles {
		role, err := a.s.GetRole(name)
		if err != nil {
			continue
		}
		if recursive && role.CanAccessRecursive(key, write) || !recursive && role.CanAccess(key, write) {
			return true
		}
	}
	a.lg.Warn("invalid access for user on key", zap.String("user-name", u.User), zap.String("key", key))
	return false
}

func (a *Access) guest(r *http.Request, key string) bool {
	role, err := a.s.GetRole(GuestRole)
	if err != nil {
		return false
	}
	if role.CanAccess(key, isWrite(r)) {
		return true
	}
	a.lg.Warn("invalid access for a guest role on key", zap.String("role-name", GuestRole), zap.String("key", key))
	return false
}

// basicUser is the user the request's basic auth names, if its password
// is right.
func (a *Access) basicUser(r *http.Request) *User {
	name, password, ok := r.BasicAuth()
	if !ok {
		a.lg.Warn("malformed basic auth encoding")
		return nil
	}
	u, err := a.s.GetUser(name)
	if err != nil {
		return nil
	}
	if !a.s.CheckPassword(u, password) {
		a.lg.Warn("incorrect password", zap.String("user-name", name))
		return nil
	}
	return &u
}

// certUser is the first user named by a common name in the request's
// verified certificate chains, leaf to root.
func (a *Access) certUser(r *http.Request) *User {
	if r.TLS == nil {
		return nil
	}
	for _, chain := range r.TLS.VerifiedChains {
		for _, cert := range chain {
			u, err := a.s.GetUser(cert.Subject.CommonName)
			if err == nil {
				a.lg.Debug("authenticated a user via common name", zap.String("user-name", u.User),
					zap.String("common-name", cert.Subject.CommonName))
				return &u
			}
		}
	}
	return nil
}
