package v2client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
)

const authPrefix = "/v2/auth"

// anyStatus in call's withMessage stands for every status not in ok.
const anyStatus = -1

func authURL(elem ...string) func(url.URL) *url.URL {
	return func(ep url.URL) *url.URL {
		ep.Path = path.Join(append([]string{ep.Path, authPrefix}, elem...)...)
		return &ep
	}
}

var (
	okOrCreated = []int{http.StatusOK, http.StatusCreated}
	onlyOK      = []int{http.StatusOK}
	// anyError: every failure of these calls carries the server's message.
	anyError = []int{anyStatus}
)

// EnableAuth turns v2 auth on; the server requires a root user.
func (c *Client) EnableAuth(ctx context.Context) error {
	_, err := c.call(ctx, jsonRequest(http.MethodPut, authURL("enable"), nil), okOrCreated, anyError, nil)
	return err
}

// DisableAuth turns v2 auth off.
func (c *Client) DisableAuth(ctx context.Context) error {
	_, err := c.call(ctx, jsonRequest(http.MethodDelete, authURL("enable"), nil), okOrCreated, anyError, nil)
	return err
}

// AuthEnabled reports whether v2 auth is on.
func (c *Client) AuthEnabled(ctx context.Context) (bool, error) {
	var out struct {
		Enabled bool `json:"enabled"`
	}
	_, err := c.call(ctx, jsonRequest(http.MethodGet, authURL("enable"), nil), onlyOK, anyError, &out)
	return out.Enabled, err
}

// User is a v2 auth user.
type User struct {
	User     string   `json:"user"`
	Password string   `json:"password,omitempty"`
	Roles    []string `json:"roles"`
	Grant    []string `json:"grant,omitempty"`
	Revoke   []string `json:"revoke,omitempty"`
}

// userWithRoles is how the server lists users: their roles in full.
type userWithRoles struct {
	User  string `json:"user"`
	Roles []Role `json:"roles"`
}

// ListUsers lists the users' names.
func (c *Client) ListUsers(ctx context.Context) ([]string, error) {
	var out struct {
		Users []userWithRoles `json:"users"`
	}
	r := jsonRequest(http.MethodGet, authURL("users"), nil)
	r.contentType = "application/json"
	if _, err := c.call(ctx, r, onlyOK, anyError, &out); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out.Users))
	for _, u := range out.Users {
		names = append(names, u.User)
	}
	return names, nil
}

// AddUser creates a user.
func (c *Client) AddUser(ctx context.Context, name, password string) error {
	_, err := c.call(ctx, jsonRequest(http.MethodPut, authURL("users", name), &User{User: name, Password: password}), okOrCreated, anyError, nil)
	return err
}

// RemoveUser deletes a user.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	_, err := c.call(ctx, jsonRequest(http.MethodDelete, authURL("users", name), nil), okOrCreated, anyError, nil)
	return err
}

// GetUser reads a user and the names of its roles.
func (c *Client) GetUser(ctx context.Context, name string) (*User, error) {
	return c.modUser(ctx, http.MethodGet, name, nil)
}

// GrantUser adds roles to a user.
func (c *Client) GrantUser(ctx context.Context, name string, roles []string) (*User, error) {
	return c.modUser(ctx, http.MethodPut, name, &User{User: name, Grant: roles})
}

// RevokeUser removes roles from a user.
func (c *Client) RevokeUser(ctx context.Context, name string, roles []string) (*User, error) {
	return c.modUser(ctx, http.MethodPut, name, &User{User: name, Revoke: roles})
}

// ChangePassword sets a user's password.
func (c *Client) ChangePassword(ctx context.Context, name, password string) (*User, error) {
	return c.modUser(ctx, http.MethodPut, name, &User{User: name, Password: password})
}

func (c *Client) modUser(ctx context.Context, method, name string, body *User) (*User, error) {
	var raw json.RawMessage
	r := jsonRequest(method, authURL("users", name), nil)
	if body != nil {
		r = jsonRequest(method, authURL("users", name), body)
	}
	if _, err := c.call(ctx, r, onlyOK, anyError, &raw); err != nil {
		return nil, err
	}
	// The server names the roles in answer to a change, and describes
	// them in full in answer to a GET.
	var wire struct {
		User  string            `json:"user"`
		Roles []json.RawMessage `json:"roles"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("decode user %s: %w", name, err)
	}
	u := &User{User: wire.User, Roles: []string{}}
	if wire.Roles == nil {
		u.Roles = nil
	}
	for _, r := range wire.Roles {
		var roleName string
		if err := json.Unmarshal(r, &roleName); err == nil {
			u.Roles = append(u.Roles, roleName)
			continue
		}
		var role Role
		if err := json.Unmarshal(r, &role); err != nil {
			return nil, fmt.Errorf("decode user %s: %w", name, err)
		}
		u.Roles = append(u.Roles, role.Role)
	}
	return u, nil
}

// Permissions are the key prefixes a role may read and write.
type Permissions struct {
	KV RWPermission `json:"kv"`
}

// RWPermission lists paths; a path ending in "*" is a prefix.
type RWPermission struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// Role is a v2 auth role.
type Role struct {
	Role        string       `json:"role"`
	Permissions Permissions  `json:"permissions"`
	Grant       *Permissions `json:"grant,omitempty"`
	Revoke      *Permissions `json:"revoke,omitempty"`
}

// Permission is which access a grant or revoke is about.
type Permission int

const (
	ReadPermission Permission = iota
	WritePermission
	ReadWritePermission
)

func (p Permission) paths(prefixes []string) Permissions {
	var rw RWPermission
	switch p {
	case ReadPermission:
		rw.Read = prefixes
	case WritePermission:
		rw.Write = prefixes
	case ReadWritePermission:
		rw.Read, rw.Write = prefixes, prefixes
	}
	return Permissions{KV: rw}
}

// ListRoles lists the roles' names.
func (c *Client) ListRoles(ctx context.Context) ([]string, error) {
	var out struct {
		Roles []Role `json:"roles"`
	}
	r := jsonRequest(http.MethodGet, authURL("roles"), nil)
	r.contentType = "application/json"
	// etcd's client reports any failure here by its status alone.
	if _, err := c.call(ctx, r, onlyOK, nil, &out); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out.Roles))
	for _, role := range out.Roles {
		names = append(names, role.Role)
	}
	return names, nil
}

// AddRole creates a role without permissions.
func (c *Client) AddRole(ctx context.Context, name string) error {
	_, err := c.call(ctx, jsonRequest(http.MethodPut, authURL("roles", name), &Role{Role: name}), okOrCreated, anyError, nil)
	return err
}

// RemoveRole deletes a role.
func (c *Client) RemoveRole(ctx context.Context, name string) error {
	_, err := c.call(ctx, jsonRequest(http.MethodDelete, authURL("roles", name), nil), okOrCreated, anyError, nil)
	return err
}

// GetRole reads a role.
func (c *Client) GetRole(ctx context.Context, name string) (*Role, error) {
	return c.modRole(ctx, jsonRequest(http.MethodGet, authURL("roles", name), nil))
}

// GrantRoleKV gives a role access to paths.
func (c *Client) GrantRoleKV(ctx context.Context, name string, paths []string, p Permission) (*Role, error) {
	g := p.paths(paths)
	return c.modRole(ctx, jsonRequest(http.MethodPut, authURL("roles", name), &Role{Role: name, Grant: &g}))
}

// RevokeRoleKV takes a role's access to paths away.
func (c *Client) RevokeRoleKV(ctx context.Context, name string, paths []string, p Permission) (*Role, error) {
	rv := p.paths(paths)
	return c.modRole(ctx, jsonRequest(http.MethodPut, authURL("roles", name), &Role{Role: name, Revoke: &rv}))
}

func (c *Client) modRole(ctx context.Context, r *request) (*Role, error) {
	var role Role
	if _, err := c.call(ctx, r, onlyOK, anyError, &role); err != nil {
		return nil, err
	}
	return &role, nil
}
