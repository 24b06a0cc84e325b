package v2auth

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestRoleCanAccess(t *testing.T) {
	role := Role{Role: "r", Permissions: Permissions{KV: RWPermission{
		Read:  []string{"/pub/*", "/exact", "", "/dir"},
		Write: []string{"/w/*"},
	}}}
	everything := Role{Role: "all", Permissions: Permissions{KV: RWPermission{Read: []string{"*"}}}}
	root := Role{Role: RootRole}
	cases := []struct {
		name      string
		role      Role
		key       string
		write     bool
		recursive bool
		want      bool
	}{
		{"prefix", role, "/pub/a", false, false, true},
		{"prefix deep", role, "/pub/a/b", false, false, true},
		{"prefix itself", role, "/pub/", false, false, true},
		{"prefix without its slash", role, "/pub", false, false, false},
		{"exact", role, "/exact", false, false, true},
		{"exact child", role, "/exact/x", false, false, false},
		{"exact as a prefix", role, "/exactly", false, false, false},
		{"no write from a read pattern", role, "/pub/a", true, false, false},
		{"write prefix", role, "/w/a", true, false, true},
		{"no read from a write pattern", role, "/w/a", false, false, false},
		{"empty pattern matches nothing, not even the empty key", role, "", false, false, false},
		{"recursive under a prefix", role, "/pub/a", false, true, true},
		{"recursive on the prefix's parent", role, "/pub", false, true, false},
		{"recursive needs a prefix pattern", role, "/exact", false, true, false},
		{"recursive on a plain pattern's key", role, "/dir", false, true, false},
		{"recursive write", role, "/w/x", true, true, true},
		{"star", everything, "anything", false, false, true},
		{"star, empty key", everything, "", false, true, true},
		{"root reads", root, "", false, false, true},
		{"root writes recursively", root, "/x", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			if tc.recursive {
				got = tc.role.CanAccessRecursive(tc.key, tc.write)
			} else {
				got = tc.role.CanAccess(tc.key, tc.write)
			}
			if got != tc.want {
				t.Errorf("%+v on %q (write %v, recursive %v) = %v, want %v", tc.role.Permissions.KV, tc.key, tc.write, tc.recursive, got, tc.want)
			}
		})
	}
}

func perms(read, write []string) *Permissions {
	return &Permissions{KV: RWPermission{Read: read, Write: write}}
}

func TestRoleUpdated(t *testing.T) {
	held := Role{Role: "r", Permissions: *perms([]string{"/b", "/a"}, nil)}
	cases := []struct {
		name    string
		req     Role
		want    Role
		wantErr string
	}{
		{"grant sorts", Role{Role: "r", Grant: perms([]string{"/c"}, []string{"/z", "/y"})},
			Role{Role: "r", Permissions: *perms([]string{"/a", "/b", "/c"}, []string{"/y", "/z"})}, ""},
		{"revoke", Role{Role: "r", Revoke: perms([]string{"/a"}, nil)},
			Role{Role: "r", Permissions: *perms([]string{"/b"}, []string{})}, ""},
		{"revoke all is an empty list", Role{Role: "r", Revoke: perms([]string{"/a", "/b"}, nil)},
			Role{Role: "r", Permissions: *perms([]string{}, []string{})}, ""},
		{"revoke what is not held is ignored", Role{Role: "r", Revoke: perms([]string{"/none"}, []string{"/none"})},
			Role{Role: "r", Permissions: *perms([]string{"/a", "/b"}, []string{})}, ""},
		{"grant then revoke", Role{Role: "r", Grant: perms([]string{"/c"}, nil), Revoke: perms([]string{"/c"}, nil)},
			Role{Role: "r", Permissions: *perms([]string{"/a", "/b"}, []string{})}, ""},
		{"duplicate read", Role{Role: "r", Grant: perms([]string{"/a"}, nil)}, Role{}, "auth: Granting duplicate read permission /a"},
		{"duplicate in the request", Role{Role: "r", Grant: perms(nil, []string{"/x", "/x"})}, Role{}, "auth: Granting duplicate write permission /x"},
		{"nothing asked keeps the role as it is", Role{Role: "r"}, held, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := held.updated(zap.NewNop(), tc.req)
			if tc.wantErr != "" {
				var ae *Error
				if !errors.As(err, &ae) || ae.Message != tc.wantErr || ae.Status != http.StatusConflict {
					t.Fatalf("err = %v, want 409 %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUserUpdated(t *testing.T) {
	hash := func(p string) (string, error) { return "hash(" + p + ")", nil }
	held := User{User: "u", Password: "hash(old)", Roles: []string{"b", "a"}}
	cases := []struct {
		name    string
		req     User
		want    User
		wantErr string
	}{
		{"password", User{User: "u", Password: "new"}, User{User: "u", Password: "hash(new)", Roles: []string{"a", "b"}}, ""},
		{"grant", User{User: "u", Grant: []string{"c"}}, User{User: "u", Password: "hash(old)", Roles: []string{"a", "b", "c"}}, ""},
		{"revoke all", User{User: "u", Revoke: []string{"a", "b"}}, User{User: "u", Password: "hash(old)", Roles: []string{}}, ""},
		{"duplicate grant", User{User: "u", Grant: []string{"a"}}, User{}, "auth: Granting duplicate role a for user u"},
		{"ungranted revoke", User{User: "u", Revoke: []string{"z"}}, User{}, "auth: Revoking ungranted role z for user u"},
		// etcd formats these messages twice: a '%' in a name shows.
		{"percent in a name", User{User: "u", Grant: []string{"a"}, Revoke: []string{"x%d"}}, User{}, "auth: Granting duplicate role a for user u"},
		{"percent formatted twice", User{User: "u", Revoke: []string{"x%d"}}, User{}, "auth: Revoking ungranted role x%!d(MISSING) for user u"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := held.updated(zap.NewNop(), tc.req, hash)
			if tc.wantErr != "" {
				var ae *Error
				if !errors.As(err, &ae) || ae.Message != tc.wantErr || ae.Status != http.StatusConflict {
					t.Fatalf("err = %v, want 409 %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := held.updated(zap.NewNop(), User{User: "u", Password: "p"}, func(string) (string, error) { return "", errors.New("no entropy") }); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("a failing hash: err = %v", err)
	}
}

func TestPermissionsEmpty(t *testing.T) {
	cases := []struct {
		p    *Permissions
		want bool
	}{
		{nil, true},
		{&Permissions{}, true},
		{perms([]string{}, []string{}), true},
		{perms([]string{"/a"}, nil), false},
		{perms(nil, []string{"/a"}), false},
	}
	for _, tc := range cases {
		if got := tc.p.Empty(); got != tc.want {
			t.Errorf("%+v.Empty() = %v, want %v", tc.p, got, tc.want)
		}
	}
}
