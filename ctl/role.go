package ctl

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The role commands. As in etcdctl, they are not bounded by
// --command-timeout.

func (e *env) newRoleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "role <subcommand>",
		Short:   "Role related commands. Use `etcdctl role --help` to see subcommands",
		Long:    "Role related commands",
		GroupID: groupAuth,
	}
	cmd.AddCommand(
		e.newRoleAddCommand(),
		e.newRoleDeleteCommand(),
		e.newRoleGetCommand(),
		e.newRoleListCommand(),
		e.newRoleGrantPermissionCommand(),
		e.newRoleRevokePermissionCommand(),
	)
	return cmd
}

// roleNameCommand is a role command that takes one role name: add, delete
// and get.
func (e *env) roleNameCommand(use, short, verb string, call func(cli *clientv3.Client, role string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("role "+verb+" command requires role name as its argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		return call(cli, args[0])
	})
	return cmd
}

func (e *env) newRoleAddCommand() *cobra.Command {
	return e.roleNameCommand("add <role name>", "Adds a new role", "add", func(cli *clientv3.Client, role string) error {
		resp, err := cli.RoleAdd(context.Background(), role)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.RoleAdd(role, resp)
	})
}

func (e *env) newRoleDeleteCommand() *cobra.Command {
	return e.roleNameCommand("delete <role name>", "Deletes a role", "delete", func(cli *clientv3.Client, role string) error {
		resp, err := cli.RoleDelete(context.Background(), role)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.RoleDelete(role, resp)
	})
}

func (e *env) newRoleGetCommand() *cobra.Command {
	return e.roleNameCommand("get <role name>", "Gets detailed information of a role", "get", func(cli *clientv3.Client, role string) error {
		resp, err := cli.RoleGet(context.Background(), role)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.RoleGet(role, resp)
	})
}

func (e *env) newRoleListCommand() *cobra.Command {
	return e.noArgCommand("list", "Lists all roles", "role list", func(cli *clientv3.Client) error {
		resp, err := cli.RoleList(context.Background())
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.RoleList(resp)
	})
}

// permRangeFlags are grant-permission's and revoke-permission's --prefix
// and --from-key.
type permRangeFlags struct {
	prefix, fromKey bool
}

func (f *permRangeFlags) register(cmd *cobra.Command, verb string) {
	cmd.Flags().BoolVar(&f.prefix, "prefix", false, verb+" a prefix permission")
	cmd.Flags().BoolVar(&f.fromKey, "from-key", false, verb+" a permission of keys that are greater than or equal to the given key using byte compare")
}

var errPrefixAndFromKey = errors.New("--from-key and --prefix flags are mutually exclusive")

// keyRange is the key and range end of a permission given as <key>
// [endkey] and the flags. An empty key stands for all keys with --prefix
// or --from-key ("\x00" to the open end "\x00"), else for the key "\x00";
// as in etcdctl, an end key after an empty key is ignored.
func (f *permRangeFlags) keyRange(args []string) (key, end string, err error) {
	if f.prefix && f.fromKey && (args[0] == "" || len(args) == 1) {
		return "", "", fail(ExitBadArgs, errPrefixAndFromKey)
	}
	key = args[0]
	if key == "" {
		if f.prefix || f.fromKey {
			return "\x00", "\x00", nil
		}
		return "\x00", "", nil
	}
	if len(args) == 1 {
		switch {
		case f.prefix:
			return key, clientv3.GetPrefixRangeEnd(key), nil
		case f.fromKey:
			return key, "\x00", nil
		}
		return key, "", nil
	}
	switch {
	case f.prefix:
		return "", "", fail(ExitBadArgs, errors.New("unexpected endkey argument with --prefix flag"))
	case f.fromKey:
		return "", "", fail(ExitBadArgs, errors.New("unexpected endkey argument with --from-key flag"))
	}
	return key, args[1], nil
}

func (e *env) newRoleGrantPermissionCommand() *cobra.Command {
	var flags permRangeFlags
	cmd := &cobra.Command{
		Use:   "grant-permission [options] <role name> <permission type> <key> [endkey]",
		Short: "Grants a key to a role",
	}
	flags.register(cmd, "grant")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 3 {
			return fail(ExitBadArgs, errors.New("role grant command requires role name, permission type, and key [endkey] as its argument"))
		}
		perm, err := clientv3.StrToPermissionType(args[1])
		if err != nil {
			return fail(ExitBadArgs, err)
		}
		key, end, err := flags.keyRange(args[2:])
		if err != nil {
			return err
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.RoleGrantPermission(context.Background(), args[0], key, end, perm)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.RoleGrantPermission(args[0], resp)
	})
	return cmd
}

func (e *env) newRoleRevokePermissionCommand() *cobra.Command {
	var flags permRangeFlags
	cmd := &cobra.Command{
		Use:   "revoke-permission <role name> <key> [endkey]",
		Short: "Revokes a key from a role",
	}
	flags.register(cmd, "revoke")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 2 {
			return fail(ExitBadArgs, errors.New("role revoke-permission command requires role name and key [endkey] as its argument"))
		}
		key, end, err := flags.keyRange(args[1:])
		if err != nil {
			return err
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.RoleRevokePermission(context.Background(), args[0], key, end)
		if err != nil {
			return fail(ExitError, err)
		}
		// The message names the key as given, not the "\x00" an empty
		// key is sent as.
		return e.display.RoleRevokePermission(args[0], args[1], end, resp)
	})
	return cmd
}
