package ctl

import (
	"context"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/basaltkv/basalt/pkg/v2client"
)

func v2AuthCommand() *v2Command {
	return &v2Command{name: "auth", usage: "overall auth controls", subcommands: []*v2Command{
		{name: "enable", usage: "enable auth access controls", argsUsage: " ", action: func(c *v2Context) error { return v2AuthEnable(c, true) }},
		{name: "disable", usage: "disable auth access controls", argsUsage: " ", action: func(c *v2Context) error { return v2AuthEnable(c, false) }},
	}}
}

func v2AuthEnable(c *v2Context, enable bool) error {
	if len(c.args) != 0 {
		return c.failLine(1, "No arguments accepted\n")
	}
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	if enable {
		err = cli.EnableAuth(ctx)
	} else {
		err = cli.DisableAuth(ctx)
	}
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	if enable {
		fmt.Fprintln(c.e.stdout, "Authentication Enabled")
	} else {
		fmt.Fprintln(c.e.stdout, "Authentication Disabled")
	}
	return nil
}

var rolesFlag = v2Flag{names: "roles", usage: "List of roles to grant or revoke", kind: "strings"}

func v2UserCommand() *v2Command {
	return &v2Command{name: "user", usage: "user add, grant and revoke subcommands", subcommands: []*v2Command{
		{name: "add", usage: "add a new user for the etcd cluster", argsUsage: "<user>", action: v2UserAdd},
		{name: "get", usage: "get details for a user", argsUsage: "<user>", action: v2UserGet},
		{name: "list", usage: "list all current users", argsUsage: "<user>", action: v2UserList},
		{name: "remove", usage: "remove a user for the etcd cluster", argsUsage: "<user>", action: v2UserRemove},
		{name: "grant", usage: "grant roles to an etcd user", argsUsage: "<user>", flags: []v2Flag{rolesFlag}, action: func(c *v2Context) error { return v2UserGrant(c, true) }},
		{name: "revoke", usage: "revoke roles for an etcd user", argsUsage: "<user>", flags: []v2Flag{rolesFlag}, action: func(c *v2Context) error { return v2UserGrant(c, false) }},
		{name: "passwd", usage: "change password for a user", argsUsage: "<user>", action: v2UserPasswd},
	}}
}

// userAndClient is etcdctl's mustUserAPIAndName.
func userAndClient(c *v2Context, what string) (*v2client.Client, string, error) {
	if len(c.args) != 1 {
		return nil, "", c.failLine(1, "Please provide a %s\n", what)
	}
	cli, err := c.mustClient()
	if err != nil {
		return nil, "", err
	}
	return cli, c.args[0], nil
}

func v2UserList(c *v2Context) error { return v2List(c, (*v2client.Client).ListUsers) }

// v2List prints the names list returns, one per line.
func v2List(c *v2Context, list func(*v2client.Client, context.Context) ([]string, error)) error {
	if len(c.args) != 0 {
		return c.failLine(1, "No arguments accepted\n")
	}
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	names, err := list(cli, ctx)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	for _, n := range names {
		fmt.Fprintf(c.e.stdout, "%s\n", n)
	}
	return nil
}

func v2UserAdd(c *v2Context) error {
	cli, arg, err := userAndClient(c, "username")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	name, pass, ok := strings.Cut(arg, ":")
	if !ok {
		if pass, err = c.e.askPassword("New password: "); err != nil {
			return c.failLine(1, "Error reading password: %s\n", err)
		}
	}
	if err := cli.AddUser(ctx, name, pass); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "User %s created\n", name)
	return nil
}

func v2UserRemove(c *v2Context) error {
	cli, name, err := userAndClient(c, "username")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	if err := cli.RemoveUser(ctx, name); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "User %s removed\n", name)
	return nil
}

func v2UserPasswd(c *v2Context) error {
	cli, name, err := userAndClient(c, "username")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	pass, err := c.e.askPassword("New password: ")
	if err != nil {
		return c.failLine(1, "Error reading password: %s\n", err)
	}
	if _, err := cli.ChangePassword(ctx, name, pass); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Password updated\n")
	return nil
}

func v2UserGrant(c *v2Context, grant bool) error {
	roles := c.Strings("roles")
	if len(roles) == 0 {
		return c.failLine(1, "No roles specified; please use `--roles`\n")
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	cli, name, err := userAndClient(c, "username")
	if err != nil {
		return err
	}
	if grant {
		_, err = cli.GrantUser(ctx, name, roles)
	} else {
		_, err = cli.RevokeUser(ctx, name, roles)
	}
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "User %s updated\n", name)
	return nil
}

func v2UserGet(c *v2Context) error {
	cli, name, err := userAndClient(c, "username")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	u, err := cli.GetUser(ctx, name)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	// etcd's client decodes the answer's role objects as strings first:
	// each leaves an empty name before the names it then appends, so
	// etcdctl prints one more space per role.
	fmt.Fprintf(c.e.stdout, "User: %s\nRoles: %s\n", u.User, strings.Join(append(make([]string, len(u.Roles)), u.Roles...), " "))
	return nil
}

func v2RoleCommand() *v2Command {
	permFlags := func(verb string) []v2Flag {
		return []v2Flag{
			{names: "path", usage: "Path " + verb + " for the role to access", kind: "string"},
			{names: "read", usage: map[string]string{"granted": "Grant read-only access", "revoked": "Revoke read access"}[verb], kind: "bool"},
			{names: "write", usage: map[string]string{"granted": "Grant write-only access", "revoked": "Revoke write access"}[verb], kind: "bool"},
			{names: "readwrite, rw", usage: map[string]string{"granted": "Grant read-write access", "revoked": "Revoke read-write access"}[verb], kind: "bool"},
		}
	}
	return &v2Command{name: "role", usage: "role add, grant and revoke subcommands", subcommands: []*v2Command{
		{name: "add", usage: "add a new role for the etcd cluster", argsUsage: "<role> ", action: v2RoleAdd},
		{name: "get", usage: "get details for a role", argsUsage: "<role>", action: v2RoleGet},
		{name: "list", usage: "list all roles", argsUsage: " ", action: v2RoleList},
		{name: "remove", usage: "remove a role from the etcd cluster", argsUsage: "<role>", action: v2RoleRemove},
		{name: "grant", usage: "grant path matches to an etcd role", argsUsage: "<role>", flags: permFlags("granted"), action: func(c *v2Context) error { return v2RoleGrant(c, true) }},
		{name: "revoke", usage: "revoke path matches for an etcd role", argsUsage: "<role>", flags: permFlags("revoked"), action: func(c *v2Context) error { return v2RoleGrant(c, false) }},
	}}
}

func v2RoleList(c *v2Context) error { return v2List(c, (*v2client.Client).ListRoles) }

func v2RoleAdd(c *v2Context) error {
	cli, name, err := userAndClient(c, "role name")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	if r, _ := cli.GetRole(ctx, name); r != nil {
		return c.failLine(1, "Role %s already exists\n", name)
	}
	if err := cli.AddRole(ctx, name); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Role %s created\n", name)
	return nil
}

func v2RoleRemove(c *v2Context) error {
	cli, name, err := userAndClient(c, "role name")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	if err := cli.RemoveRole(ctx, name); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Role %s removed\n", name)
	return nil
}

// canonicalURLPath is etcd's pathutil.CanonicalURLPath.
func canonicalURLPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func v2RoleGrant(c *v2Context, grant bool) error {
	p := c.String("path")
	if p == "" {
		return c.failLine(1, "No path specified; please use `--path`\n")
	}
	if canonicalURLPath(p) != p {
		return c.failLine(1, "Not canonical path; please use `--path=%s`\n", canonicalURLPath(p))
	}
	n := 0
	var perm v2client.Permission
	for _, f := range []struct {
		name string
		perm v2client.Permission
	}{{"read", v2client.ReadPermission}, {"write", v2client.WritePermission}, {"readwrite", v2client.ReadWritePermission}} {
		if c.Bool(f.name) {
			n++
			perm = f.perm
		}
	}
	if n != 1 {
		return c.failLine(1, "Please specify exactly one of --read, --write or --readwrite\n")
	}
	cli, name, err := userAndClient(c, "role name")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	current, err := cli.GetRole(ctx, name)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	var updated *v2client.Role
	if grant {
		updated, err = cli.GrantRoleKV(ctx, name, []string{p}, perm)
	} else {
		updated, err = cli.RevokeRoleKV(ctx, name, []string{p}, perm)
	}
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	if reflect.DeepEqual(updated, current) {
		// etcdctl prints this without a newline before the next line.
		if grant {
			fmt.Fprintf(c.e.stdout, "Role unchanged; already granted")
		} else {
			fmt.Fprintf(c.e.stdout, "Role unchanged; already revoked")
		}
	}
	fmt.Fprintf(c.e.stdout, "Role %s updated\n", name)
	return nil
}

func v2RoleGet(c *v2Context) error {
	cli, name, err := userAndClient(c, "role name")
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	r, err := cli.GetRole(ctx, name)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Role: %s\nKV Read:\n", r.Role)
	for _, v := range r.Permissions.KV.Read {
		fmt.Fprintf(c.e.stdout, "\t%s\n", v)
	}
	fmt.Fprintf(c.e.stdout, "KV Write:\n")
	for _, v := range r.Permissions.KV.Write {
		fmt.Fprintf(c.e.stdout, "\t%s\n", v)
	}
	return nil
}
