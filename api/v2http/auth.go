package v2http

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/basaltkv/basalt/api/v2auth"
	"github.com/basaltkv/basalt/storage/v2store"
	"go.uber.org/zap"
)

const authPrefix = "/v2/auth"

// authHandler serves etcd 3.4's /v2/auth: the auth state's users, roles
// and switch. Reads and changes alike need the root role while auth is
// on, but for reading the switch.
type authHandler struct {
	lg     *zap.Logger
	m      Member
	access *v2auth.Access
}

func (h *authHandler) handlers() map[string]http.Handler {
	return map[string]http.Handler{
		authPrefix + "/roles":  http.HandlerFunc(h.serveRoles),
		authPrefix + "/roles/": http.HandlerFunc(h.serveRolesPath),
		authPrefix + "/users":  http.HandlerFunc(h.serveUsers),
		authPrefix + "/users/": http.HandlerFunc(h.serveUsersPath),
		authPrefix + "/enable": http.HandlerFunc(h.serveEnable),
	}
}

// admit checks the method and the caller's root role (for writes only
// if readsOpen), then sets the headers every answer past that point
// carries.
func (h *authHandler) admit(w http.ResponseWriter, r *http.Request, readsOpen bool, methods ...string) bool {
	if !allowMethod(w, r.Method, methods...) {
		return false
	}
	ok := h.access.Root
	if readsOpen {
		ok = h.access.RootOrRead
	}
	if !ok(r) {
		writeNoAuth(w)
		return false
	}
	w.Header().Set("X-Etcd-Cluster-ID", fmt.Sprintf("%x", h.m.ClusterID()))
	w.Header().Set("Content-Type", "application/json")
	return true
}

func (h *authHandler) sec() *v2auth.Store { return h.access.Store() }

// writeAuthError answers with an auth refusal as {"message": ...}, a v2
// store error as the keys API does, anything else as writeError.
func (h *authHandler) writeAuthError(w http.ResponseWriter, err error) {
	var ae *v2auth.Error
	var se *v2store.Error
	switch {
	case errors.As(err, &ae):
		(&httpError{Message: ae.Message, code: ae.Status}).writeTo(w)
	case errors.As(err, &se):
		if err := se.WriteTo(w); err != nil {
			h.lg.Debug("failed to write v2 error", zap.Error(err))
		}
	default:
		writeError(h.lg, w, err)
	}
}

func (h *authHandler) encode(w http.ResponseWriter, r *http.Request, v any) {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.lg.Warn("failed to encode a v2 auth response", zap.String("url", r.URL.String()), zap.Error(err))
	}
}

// authName is the name in /v2/auth/<kind>/<name>: "" for the collection
// itself, false (after answering 400) for a deeper path.
func (h *authHandler) authName(w http.ResponseWriter, r *http.Request) (string, bool) {
	pieces := strings.Split(path.Clean(r.URL.Path[len(authPrefix):]), "/")
	switch len(pieces) {
	case 2:
		return "", true
	case 3:
		return pieces[2], true
	}
	(&httpError{Message: "Invalid path", code: http.StatusBadRequest}).writeTo(w)
	return "", false
}

func (h *authHandler) serveRoles(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r, false, "GET") {
		return
	}
	names, err := h.sec().AllRoles()
	if err != nil {
		h.writeAuthError(w, err)
		return
	}
	var out struct {
		Roles []v2auth.Role `json:"roles"`
	}
	for _, name := range names {
		role, err := h.sec().GetRole(name)
		if err != nil {
			h.writeAuthError(w, err)
			return
		}
		out.Roles = append(out.Roles, role)
	}
	h.encode(w, r, out)
}

func (h *authHandler) serveRolesPath(w http.ResponseWriter, r *http.Request) {
	name, ok := h.authName(w, r)
	switch {
	case !ok:
	case name == "":
		h.serveRoles(w, r)
	default:
		h.serveRole(w, r, name)
	}
}

func (h *authHandler) serveRole(w http.ResponseWriter, r *http.Request, name string) {
	if !h.admit(w, r, false, "GET", "PUT", "DELETE") {
		return
	}
	switch r.Method {
	case http.MethodGet:
		role, err := h.sec().GetRole(name)
		if err != nil {
			h.writeAuthError(w, err)
			return
		}
		h.encode(w, r, role)
	case http.MethodPut:
		var in v2auth.Role
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			(&httpError{Message: "Invalid JSON in request body.", code: http.StatusBadRequest}).writeTo(w)
			return
		}
		if in.Role != name {
			(&httpError{Message: "Role JSON name does not match the name in the URL", code: http.StatusBadRequest}).writeTo(w)
			return
		}
		out := in
		status := http.StatusCreated
		if in.Grant.Empty() && in.Revoke.Empty() {
			if err := h.sec().CreateRole(in); err != nil {
				h.writeAuthError(w, err)
				return
			}
		} else {
			if !in.Permissions.Empty() {
				(&httpError{Message: "Role JSON contains both permissions and grant/revoke", code: http.StatusBadRequest}).writeTo(w)
				return
			}
			var err error
			if out, err = h.sec().UpdateRole(in); err != nil {
				h.writeAuthError(w, err)
				return
			}
			status = http.StatusOK
		}
		w.WriteHeader(status)
		h.encode(w, r, out)
	case http.MethodDelete:
		if err := h.sec().DeleteRole(name); err != nil {
			h.writeAuthError(w, err)
		}
	}
}

// userWithRoles is a user as the API lists it: its roles in full.
type userWithRoles struct {
	User  string        `json:"user"`
	Roles []v2auth.Role `json:"roles,omitempty"`
}

func (h *authHandler) serveUsers(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r, false, "GET") {
		return
	}
	names, err := h.sec().AllUsers()
	if err != nil {
		h.writeAuthError(w, err)
		return
	}
	var out struct {
		Users []userWithRoles `json:"users"`
	}
	for _, name := range names {
		u, err := h.sec().GetUser(name)
		if err != nil {
			h.writeAuthError(w, err)
			return
		}
		uwr := userWithRoles{User: u.User}
		for _, rn := range u.Roles {
			// A role deleted since it was granted is left out here.
			if role, err := h.sec().GetRole(rn); err == nil {
				uwr.Roles = append(uwr.Roles, role)
			}
		}
		out.Users = append(out.Users, uwr)
	}
	h.encode(w, r, out)
}

func (h *authHandler) serveUsersPath(w http.ResponseWriter, r *http.Request) {
	name, ok := h.authName(w, r)
	switch {
	case !ok:
	case name == "":
		h.serveUsers(w, r)
	default:
		h.serveUser(w, r, name)
	}
}

func (h *authHandler) serveUser(w http.ResponseWriter, r *http.Request, name string) {
	if !h.admit(w, r, false, "GET", "PUT", "DELETE") {
		return
	}
	switch r.Method {
	case http.MethodGet:
		u, err := h.sec().GetUser(name)
		if err != nil {
			h.writeAuthError(w, err)
			return
		}
		uwr := userWithRoles{User: u.User}
		for _, rn := range u.Roles {
			// Unlike the list, a user's role that is gone fails the read.
			role, err := h.sec().GetRole(rn)
			if err != nil {
				h.writeAuthError(w, err)
				return
			}
			uwr.Roles = append(uwr.Roles, role)
		}
		h.encode(w, r, uwr)
	case http.MethodPut:
		h.putUser(w, r, name)
	case http.MethodDelete:
		if err := h.sec().DeleteUser(name); err != nil {
			h.writeAuthError(w, err)
		}
	}
}

// putUser creates or updates a user. A body with roles creates the user
// (answering 200, as etcd); one with only a password creates it (201) or
// changes its password; grant and revoke change its roles.
func (h *authHandler) putUser(w http.ResponseWriter, r *http.Request, name string) {
	var in v2auth.User
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		(&httpError{Message: "Invalid JSON in request body.", code: http.StatusBadRequest}).writeTo(w)
		return
	}
	if in.User != name {
		(&httpError{Message: "User JSON name does not match the name in the URL", code: http.StatusBadRequest}).writeTo(w)
		return
	}
	var out v2auth.User
	var created bool
	var err error
	switch {
	case len(in.Grant) == 0 && len(in.Revoke) == 0 && len(in.Roles) != 0:
		out, err = h.sec().CreateUser(in)
	case len(in.Grant) == 0 && len(in.Revoke) == 0:
		out, created, err = h.sec().CreateOrUpdateUser(in)
	case len(in.Roles) != 0:
		err = &httpError{Message: "User JSON contains both roles and grant/revoke", code: http.StatusBadRequest}
	default:
		out, err = h.sec().UpdateUser(in)
	}
	if err != nil {
		h.writeAuthError(w, err)
		return
	}
	if created {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	out.Password = ""
	h.encode(w, r, out)
}

func (h *authHandler) serveEnable(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r, true, "GET", "PUT", "DELETE") {
		return
	}
	// Read for every method, as etcd does: the read counts in the store's
	// statistics.
	enabled := h.sec().Enabled()
	var err error
	switch r.Method {
	case http.MethodGet:
		h.encode(w, r, struct {
			Enabled bool `json:"enabled"`
		}{enabled})
	case http.MethodPut:
		err = h.sec().Enable()
	case http.MethodDelete:
		err = h.sec().Disable()
	}
	if err != nil {
		h.writeAuthError(w, err)
	}
}

// writeNoAuth refuses a request of the members or auth API for want of
// the root role.
func writeNoAuth(w http.ResponseWriter) {
	(&httpError{Message: "Insufficient credentials", code: http.StatusUnauthorized}).writeTo(w)
}

// writeKeyNoAuth refuses a keys request for want of access to the key.
func writeKeyNoAuth(lg *zap.Logger, w http.ResponseWriter) {
	writeKeyError(lg, w, v2store.NewError(v2store.EcodeUnauthorized, "Insufficient credentials", 0))
}
