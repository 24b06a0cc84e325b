package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The user commands. As in etcdctl, they are not bounded by
// --command-timeout, and their argument errors and exit codes are
// etcdctl's word for word.

func (e *env) newUserCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "user <subcommand>",
		Short:   "User related commands. Use `etcdctl user --help` to see subcommands",
		Long:    "User related commands",
		GroupID: groupAuth,
	}
	cmd.AddCommand(
		e.newUserAddCommand(),
		e.newUserDeleteCommand(),
		e.newUserGetCommand(),
		e.newUserListCommand(),
		e.newUserPasswdCommand(),
		e.newUserGrantRoleCommand(),
		e.newUserRevokeRoleCommand(),
	)
	return cmd
}

func (e *env) newUserAddCommand() *cobra.Command {
	var interactive, noPassword bool
	var newPassword string
	cmd := &cobra.Command{
		Use:   "add <user name or user:password> [options]",
		Short: "Adds a new user",
	}
	cmd.Flags().BoolVar(&interactive, "interactive", true, "Read password from stdin instead of interactive terminal")
	cmd.Flags().StringVar(&newPassword, "new-user-password", "", "Supply password from the command line flag")
	cmd.Flags().BoolVar(&noPassword, "no-password", false, "Create a user without password (CN based auth only)")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("user add command requires user name as its argument"))
		}
		name, password := args[0], ""
		opts := &clientv3.UserAddOptions{NoPassword: noPassword}
		switch {
		case noPassword:
		case newPassword != "":
			password = newPassword
		default:
			if n, p, ok := strings.Cut(args[0], ":"); ok {
				if n == "" {
					return fail(ExitBadArgs, errors.New("empty user name is not allowed"))
				}
				name, password = n, p
				break
			}
			var err error
			if password, err = e.newPassword(name, interactive); err != nil {
				return err
			}
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserAddWithOptions(context.Background(), name, password, opts)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserAdd(name, resp)
	})
	return cmd
}

// newPassword reads the password for user name: typed twice at prompts, or
// with --interactive=false the first word of stdin (etcdctl scans it with
// %s, and so takes an empty stdin as an empty password).
func (e *env) newPassword(name string, interactive bool) (string, error) {
	if !interactive {
		var password string
		fmt.Fscanf(e.stdin, "%s", &password)
		return password, nil
	}
	first, err := e.askPassword(fmt.Sprintf("Password of %s: ", name))
	if err != nil {
		return "", failf(ExitBadArgs, "failed to ask password: %w", err)
	}
	if first == "" {
		return "", fail(ExitBadArgs, errors.New("empty password"))
	}
	again, err := e.askPassword(fmt.Sprintf("Type password of %s again for confirmation: ", name))
	if err != nil {
		return "", failf(ExitBadArgs, "failed to ask password: %w", err)
	}
	if first != again {
		return "", fail(ExitBadArgs, errors.New("given passwords are different"))
	}
	return first, nil
}

func (e *env) newUserDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete <user name>",
		Short: "Deletes a user",
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("user delete command requires user name as its argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserDelete(context.Background(), args[0])
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserDelete(args[0], resp)
	})
	return cmd
}

func (e *env) newUserGetCommand() *cobra.Command {
	var detail bool
	cmd := &cobra.Command{
		Use:   "get <user name> [options]",
		Short: "Gets detailed information of a user",
	}
	cmd.Flags().BoolVar(&detail, "detail", false, "Show permissions of roles granted to the user")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("user get command requires user name as its argument"))
		}
		name := args[0]
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserGet(context.Background(), name)
		if err != nil {
			return fail(ExitError, err)
		}
		if !detail {
			return e.display.UserGet(name, resp)
		}
		// The detail is the user's name, then each of its roles as
		// "role get" shows it in the chosen format.
		fmt.Fprintf(e.stdout, "User: %s\n", name)
		for _, role := range resp.Roles {
			fmt.Fprintln(e.stdout)
			rr, err := cli.RoleGet(context.Background(), role)
			if err != nil {
				return fail(ExitError, err)
			}
			if err := e.display.RoleGet(role, rr); err != nil {
				return err
			}
		}
		return nil
	})
	return cmd
}

func (e *env) newUserListCommand() *cobra.Command {
	return e.noArgCommand("list", "Lists all users", "user list", func(cli *clientv3.Client) error {
		resp, err := cli.UserList(context.Background())
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserList(resp)
	})
}

// noArgCommand is a command that takes no arguments and runs f with a
// client; name is how its usage error names it.
func (e *env) noArgCommand(use, short, name string, f func(cli *clientv3.Client) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return fail(ExitBadArgs, fmt.Errorf("%s command requires no arguments", name))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		return f(cli)
	})
	return cmd
}

func (e *env) newUserPasswdCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:   "passwd <user name> [options]",
		Short: "Changes password of user",
	}
	cmd.Flags().BoolVar(&interactive, "interactive", true, "If true, read password from stdin instead of interactive terminal")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("user passwd command requires user name as its argument"))
		}
		password, err := e.newPassword(args[0], interactive)
		if err != nil {
			return err
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserChangePassword(context.Background(), args[0], password)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserChangePassword(resp)
	})
	return cmd
}

func (e *env) newUserGrantRoleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grant-role <user name> <role name>",
		Short: "Grants a role to a user",
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 2 {
			return fail(ExitBadArgs, errors.New("user grant command requires user name and role name as its argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserGrantRole(context.Background(), args[0], args[1])
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserGrantRole(args[0], args[1], resp)
	})
	return cmd
}

func (e *env) newUserRevokeRoleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke-role <user name> <role name>",
		Short: "Revokes a role from a user",
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 2 {
			return fail(ExitBadArgs, errors.New("user revoke-role requires user name and role name as its argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		resp, err := cli.UserRevokeRole(context.Background(), args[0], args[1])
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.UserRevokeRole(args[0], args[1], resp)
	})
	return cmd
}
