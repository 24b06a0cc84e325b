package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The auth commands, bounded by --command-timeout. enable and disable
// print their sentence whatever the output format, as etcdctl does.

func (e *env) newAuthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "auth <enable or disable>",
		Short:   "Enable or disable authentication. Use `etcdctl auth --help` to see subcommands",
		Long:    "Enable or disable authentication",
		GroupID: groupAuth,
	}
	cmd.AddCommand(
		e.newAuthEnableCommand(),
		e.newAuthDisableCommand(),
		e.newAuthStatusCommand(),
	)
	return cmd
}

// authNoArgsCommand is an auth subcommand: no arguments, one call.
func (e *env) authNoArgsCommand(use, short string, call func(ctx context.Context, cli *clientv3.Client) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return fail(ExitBadArgs, errors.New("auth "+use+" command does not accept any arguments"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := e.commandCtx()
		defer cancel()
		return call(ctx, cli)
	})
	return cmd
}

func (e *env) newAuthEnableCommand() *cobra.Command {
	return e.authNoArgsCommand("enable", "Enables authentication", func(ctx context.Context, cli *clientv3.Client) error {
		if err := enableAuth(ctx, cli); err != nil {
			return fail(ExitError, err)
		}
		fmt.Fprintln(e.stdout, "Authentication Enabled")
		return nil
	})
}

// enableAuth enables authentication; when the server refuses because the
// root user lacks the root role, it creates the role, grants it to root
// and tries again, as etcdctl does.
func enableAuth(ctx context.Context, cli *clientv3.Client) error {
	for {
		_, err := cli.AuthEnable(ctx)
		if !errors.Is(err, rpctypes.ErrRootRoleNotExist) {
			return err
		}
		if _, err := cli.RoleAdd(ctx, rootRole); err != nil {
			return err
		}
		if _, err := cli.UserGrantRole(ctx, "root", rootRole); err != nil {
			return err
		}
	}
}

func (e *env) newAuthDisableCommand() *cobra.Command {
	return e.authNoArgsCommand("disable", "Disables authentication", func(ctx context.Context, cli *clientv3.Client) error {
		if _, err := cli.AuthDisable(ctx); err != nil {
			return fail(ExitError, err)
		}
		fmt.Fprintln(e.stdout, "Authentication Disabled")
		return nil
	})
}

func (e *env) newAuthStatusCommand() *cobra.Command {
	return e.authNoArgsCommand("status", "Returns authentication status", func(ctx context.Context, cli *clientv3.Client) error {
		resp, err := cli.AuthStatus(ctx)
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.AuthStatus(resp)
	})
}
