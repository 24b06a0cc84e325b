package v2auth

import (
	"fmt"
	"net/http"
)

// The store's namespace and the names etcd gives special meaning.
const (
	// StorePrefix is where the state lives in the v2 store.
	StorePrefix = "/2"
	// RootRole may do anything; it is built in and never stored.
	RootRole = "root"
	// GuestRole is what a request without credentials acts as.
	GuestRole = "guest"
	// RootUser always holds the root role.
	RootUser = "root"
)

// User is a user as etcd stores it and as the /v2/auth/users API reads
// it: a request carries a password in clear and grant or revoke lists;
// the stored value carries the password's bcrypt hash.
type User struct {
	User     string   `json:"user"`
	Password string   `json:"password,omitempty"`
	Roles    []string `json:"roles"`
	Grant    []string `json:"grant,omitempty"`
	Revoke   []string `json:"revoke,omitempty"`
}

// Role is a role as etcd stores it and as the /v2/auth/roles API reads
// it; Grant and Revoke are only in requests (or stored where a create
// request carried them empty, as etcd stores it).
type Role struct {
	Role        string       `json:"role"`
	Permissions Permissions  `json:"permissions"`
	Grant       *Permissions `json:"grant,omitempty"`
	Revoke      *Permissions `json:"revoke,omitempty"`
}

// Permissions are a role's permissions; only key permissions exist.
type Permissions struct {
	KV RWPermission `json:"kv"`
}

// RWPermission lists the key patterns a role may read and write: a key,
// or a prefix when the pattern ends with '*'.
type RWPermission struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// Empty tells whether p grants nothing (nil included).
func (p *Permissions) Empty() bool {
	return p == nil || (len(p.KV.Read) == 0 && len(p.KV.Write) == 0)
}

// rootRole is the built-in root role; guestRole is the guest role that
// enabling auth creates when there is none: both may touch every key.
var (
	rootRole  = Role{Role: RootRole, Permissions: Permissions{KV: RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}
	guestRole = Role{Role: GuestRole, Permissions: Permissions{KV: RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}
)

// Error is a refusal of the auth API: an HTTP status and etcd's message,
// which clients read as {"message": ...}.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// errorf is an auth API error; its message starts "auth: " as etcd's do.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: "auth: " + fmt.Sprintf(format, args...)}
}

// noArgs formats a message a second time, as etcd does for the messages
// about duplicate and ungranted roles and permissions: a '%' in a name
// comes out as Go's fmt marks it.
var noArgs []any

func errorTwice(status int, msg string) *Error { return errorf(status, msg, noArgs...) }

var (
	errNotUpdatedUser = errorf(http.StatusBadRequest, "User not updated. Use grant/revoke/password to update the user.")
	errNotUpdatedRole = errorf(http.StatusBadRequest, "Role not updated. Use grant/revoke to update the role.")
)
