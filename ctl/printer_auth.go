package ctl

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The printers of the user, role and auth commands. json and protobuf
// write the response message; fields knows the role responses and the
// headers of the user changes but not user get/list or auth status; table
// knows none of them. All as etcdctl.

// rootRole is the role that may do anything: etcd shows it with no
// permissions, and the simple format spells out what it grants.
const rootRole = "root"

func (p messagePrinter) UserAdd(_ string, r *clientv3.AuthUserAddResponse) error {
	return p.emit((*pb.AuthUserAddResponse)(r))
}
func (p messagePrinter) UserGet(_ string, r *clientv3.AuthUserGetResponse) error {
	return p.emit((*pb.AuthUserGetResponse)(r))
}
func (p messagePrinter) UserList(r *clientv3.AuthUserListResponse) error {
	return p.emit((*pb.AuthUserListResponse)(r))
}
func (p messagePrinter) UserDelete(_ string, r *clientv3.AuthUserDeleteResponse) error {
	return p.emit((*pb.AuthUserDeleteResponse)(r))
}
func (p messagePrinter) UserChangePassword(r *clientv3.AuthUserChangePasswordResponse) error {
	return p.emit((*pb.AuthUserChangePasswordResponse)(r))
}
func (p messagePrinter) UserGrantRole(_, _ string, r *clientv3.AuthUserGrantRoleResponse) error {
	return p.emit((*pb.AuthUserGrantRoleResponse)(r))
}
func (p messagePrinter) UserRevokeRole(_, _ string, r *clientv3.AuthUserRevokeRoleResponse) error {
	return p.emit((*pb.AuthUserRevokeRoleResponse)(r))
}
func (p messagePrinter) RoleAdd(_ string, r *clientv3.AuthRoleAddResponse) error {
	return p.emit((*pb.AuthRoleAddResponse)(r))
}
func (p messagePrinter) RoleGet(_ string, r *clientv3.AuthRoleGetResponse) error {
	return p.emit((*pb.AuthRoleGetResponse)(r))
}
func (p messagePrinter) RoleList(r *clientv3.AuthRoleListResponse) error {
	return p.emit((*pb.AuthRoleListResponse)(r))
}
func (p messagePrinter) RoleDelete(_ string, r *clientv3.AuthRoleDeleteResponse) error {
	return p.emit((*pb.AuthRoleDeleteResponse)(r))
}
func (p messagePrinter) RoleGrantPermission(_ string, r *clientv3.AuthRoleGrantPermissionResponse) error {
	return p.emit((*pb.AuthRoleGrantPermissionResponse)(r))
}
func (p messagePrinter) RoleRevokePermission(_, _, _ string, r *clientv3.AuthRoleRevokePermissionResponse) error {
	return p.emit((*pb.AuthRoleRevokePermissionResponse)(r))
}
func (p messagePrinter) AuthStatus(r *clientv3.AuthStatusResponse) error {
	return p.emit((*pb.AuthStatusResponse)(r))
}

func (s *simplePrinter) UserAdd(name string, _ *clientv3.AuthUserAddResponse) error {
	fmt.Fprintf(s.out, "User %s created\n", name)
	return nil
}

func (s *simplePrinter) UserGet(name string, r *clientv3.AuthUserGetResponse) error {
	fmt.Fprintf(s.out, "User: %s\nRoles:", name)
	for _, role := range (*pb.AuthUserGetResponse)(r).GetRoles() {
		fmt.Fprintf(s.out, " %s", role)
	}
	fmt.Fprintln(s.out)
	return nil
}

func (s *simplePrinter) UserList(r *clientv3.AuthUserListResponse) error {
	for _, u := range (*pb.AuthUserListResponse)(r).GetUsers() {
		fmt.Fprintln(s.out, u)
	}
	return nil
}

func (s *simplePrinter) UserDelete(name string, _ *clientv3.AuthUserDeleteResponse) error {
	fmt.Fprintf(s.out, "User %s deleted\n", name)
	return nil
}

func (s *simplePrinter) UserChangePassword(*clientv3.AuthUserChangePasswordResponse) error {
	fmt.Fprintln(s.out, "Password updated")
	return nil
}

func (s *simplePrinter) UserGrantRole(user, role string, _ *clientv3.AuthUserGrantRoleResponse) error {
	fmt.Fprintf(s.out, "Role %s is granted to user %s\n", role, user)
	return nil
}

func (s *simplePrinter) UserRevokeRole(user, role string, _ *clientv3.AuthUserRevokeRoleResponse) error {
	fmt.Fprintf(s.out, "Role %s is revoked from user %s\n", role, user)
	return nil
}

func (s *simplePrinter) RoleAdd(role string, _ *clientv3.AuthRoleAddResponse) error {
	fmt.Fprintf(s.out, "Role %s created\n", role)
	return nil
}

// RoleGet lists the keys the role may read, then those it may write: a
// single key as is, a range as [key, end) or [key, <open ended>, with the
// prefix named when the range is one.
func (s *simplePrinter) RoleGet(role string, r *clientv3.AuthRoleGetResponse) error {
	perms := (*pb.AuthRoleGetResponse)(r).GetPerm()
	fmt.Fprintf(s.out, "Role %s\n", role)
	if role == rootRole && perms == nil {
		fmt.Fprint(s.out, "KV Read:\n\t[, <open ended>\nKV Write:\n\t[, <open ended>\n")
		return nil
	}
	for _, section := range []struct {
		title string
		match authpb.Permission_Type
	}{{"KV Read:", authpb.READ}, {"KV Write:", authpb.WRITE}} {
		fmt.Fprintln(s.out, section.title)
		for _, perm := range perms {
			if t := perm.GetPermType(); t == section.match || t == authpb.READWRITE {
				fmt.Fprintf(s.out, "\t%s\n", permRangeText(perm.GetKey(), perm.GetRangeEnd()))
			}
		}
	}
	return nil
}

// permRangeText is how the simple format writes a permission's keys.
func permRangeText(key, end []byte) string {
	k, e := string(key), string(end)
	if e == "" {
		return k
	}
	text := "[" + k + ", " + e + ")"
	if e == "\x00" {
		text = "[" + k + ", <open ended>"
	}
	// (A key of 0xff bytes has the open end as its prefix end.)
	if len(k) > 0 && clientv3.GetPrefixRangeEnd(k) == e {
		text += " (prefix " + k + ")"
	}
	return text
}

func (s *simplePrinter) RoleList(r *clientv3.AuthRoleListResponse) error {
	for _, role := range (*pb.AuthRoleListResponse)(r).GetRoles() {
		fmt.Fprintln(s.out, role)
	}
	return nil
}

func (s *simplePrinter) RoleDelete(role string, _ *clientv3.AuthRoleDeleteResponse) error {
	fmt.Fprintf(s.out, "Role %s deleted\n", role)
	return nil
}

func (s *simplePrinter) RoleGrantPermission(role string, _ *clientv3.AuthRoleGrantPermissionResponse) error {
	fmt.Fprintf(s.out, "Role %s updated\n", role)
	return nil
}

func (s *simplePrinter) RoleRevokePermission(role, key, end string, _ *clientv3.AuthRoleRevokePermissionResponse) error {
	switch end {
	case "":
		fmt.Fprintf(s.out, "Permission of key %s is revoked from role %s\n", key, role)
	case "\x00":
		fmt.Fprintf(s.out, "Permission of range [%s, <open ended> is revoked from role %s\n", key, role)
	default:
		fmt.Fprintf(s.out, "Permission of range [%s, %s) is revoked from role %s\n", key, end, role)
	}
	return nil
}

func (s *simplePrinter) AuthStatus(r *clientv3.AuthStatusResponse) error {
	resp := (*pb.AuthStatusResponse)(r)
	fmt.Fprintf(s.out, "Authentication Status: %t\nAuthRevision: %d\n", resp.GetEnabled(), resp.GetAuthRevision())
	return nil
}

// The fields format writes the header of every change, and a role's
// permissions; user get, user list and auth status fall through to the
// embedded messagePrinter, which refuses them.

func (p *fieldsPrinter) UserAdd(_ string, r *clientv3.AuthUserAddResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) UserDelete(_ string, r *clientv3.AuthUserDeleteResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) UserChangePassword(r *clientv3.AuthUserChangePasswordResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) UserGrantRole(_, _ string, r *clientv3.AuthUserGrantRoleResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) UserRevokeRole(_, _ string, r *clientv3.AuthUserRevokeRoleResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) RoleAdd(_ string, r *clientv3.AuthRoleAddResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) RoleGet(_ string, r *clientv3.AuthRoleGetResponse) error {
	p.hdr(r.Header)
	for _, perm := range r.Perm {
		// etcdctl prints the type with Println after a label that ends in
		// a space: two spaces.
		fmt.Fprintf(p.out, "\"PermType\" :  %s\n", perm.GetPermType())
		p.quoted("Key", string(perm.GetKey()))
		p.quoted("RangeEnd", string(perm.GetRangeEnd()))
	}
	return nil
}

func (p *fieldsPrinter) RoleList(r *clientv3.AuthRoleListResponse) error {
	p.hdr(r.Header)
	fmt.Fprint(p.out, `"Roles" :`)
	for _, role := range r.Roles {
		fmt.Fprintf(p.out, " %q", role)
	}
	fmt.Fprintln(p.out)
	return nil
}

func (p *fieldsPrinter) RoleDelete(_ string, r *clientv3.AuthRoleDeleteResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) RoleGrantPermission(_ string, r *clientv3.AuthRoleGrantPermissionResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) RoleRevokePermission(_, _, _ string, r *clientv3.AuthRoleRevokePermissionResponse) error {
	p.hdr(r.Header)
	return nil
}
