package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (e *env) newLeaseCommand() *cobra.Command {
	lc := &cobra.Command{
		Use:     "lease <subcommand>",
		Short:   "Lease related commands. Use `etcdctl lease --help` to see subcommands",
		Long:    "Lease related commands",
		GroupID: groupKV,
	}
	lc.AddCommand(
		e.newLeaseGrantCommand(),
		e.newLeaseRevokeCommand(),
		e.newLeaseTimeToLiveCommand(),
		e.newLeaseListCommand(),
		e.newLeaseKeepAliveCommand(),
	)
	return lc
}

// leaseArg parses the one lease ID of lease timetolive and keep-alive,
// refusing other argument counts with etcdctl's message.
func leaseArg(args []string, command string) (clientv3.LeaseID, error) {
	if len(args) != 1 {
		return 0, failf(ExitBadArgs, "lease %s command needs lease ID as argument", command)
	}
	return parseLeaseID(args[0])
}

// parseLeaseID reads a lease ID written in hex.
func parseLeaseID(s string) (clientv3.LeaseID, error) {
	id, err := strconv.ParseInt(s, 16, 64)
	if err != nil {
		return 0, failf(ExitBadArgs, "bad lease ID arg (%w), expecting ID in Hex", err)
	}
	return clientv3.LeaseID(id), nil
}

func (e *env) newLeaseGrantCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "grant <ttl>",
		Short: "Creates leases",
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fail(ExitBadArgs, errors.New("lease grant command needs TTL argument"))
			}
			ttl, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return failf(ExitBadArgs, "bad TTL (%w)", err)
			}
			cli, err := e.client(cmd)
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := e.commandCtx()
			resp, err := cli.Grant(ctx, ttl)
			cancel()
			if err != nil {
				return failf(ExitError, "failed to grant lease (%w)", err)
			}
			return e.display.Grant(resp)
		}),
	}
}

func (e *env) newLeaseRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <leaseID>",
		Short: "Revokes leases",
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fail(ExitBadArgs, errors.New("lease revoke command needs 1 argument"))
			}
			id, err := parseLeaseID(args[0])
			if err != nil {
				return err
			}
			cli, err := e.client(cmd)
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := e.commandCtx()
			resp, err := cli.Revoke(ctx, id)
			cancel()
			if err != nil {
				return failf(ExitError, "failed to revoke lease (%w)", err)
			}
			return e.display.Revoke(id, resp)
		}),
	}
}

func (e *env) newLeaseTimeToLiveCommand() *cobra.Command {
	var keys bool
	cmd := &cobra.Command{
		Use:   "timetolive <leaseID> [options]",
		Short: "Get lease information",
	}
	cmd.Flags().BoolVar(&keys, "keys", false, "Get keys attached to this lease")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		id, err := leaseArg(args, "timetolive")
		if err != nil {
			return err
		}
		var opts []clientv3.LeaseOption
		if keys {
			opts = append(opts, clientv3.WithAttachedKeys())
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		// etcdctl gives this call no deadline.
		resp, err := cli.TimeToLive(context.TODO(), id, opts...)
		if err != nil {
			return fail(ExitBadConnection, err)
		}
		return e.display.TimeToLive(resp, keys)
	})
	return cmd
}

func (e *env) newLeaseListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List all active leases",
		RunE: run(func(cmd *cobra.Command, args []string) error {
			cli, err := e.client(cmd)
			if err != nil {
				return err
			}
			defer cli.Close()
			resp, err := cli.Leases(context.TODO())
			if err != nil {
				return fail(ExitBadConnection, err)
			}
			return e.display.Leases(resp)
		}),
	}
}

func (e *env) newLeaseKeepAliveCommand() *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "keep-alive [options] <leaseID>",
		Short: "Keeps leases alive (renew)",
	}
	cmd.Flags().BoolVar(&once, "once", false, "Resets the keep-alive time to its original value and cobrautl.Exits immediately")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		id, err := leaseArg(args, "keep-alive")
		if err != nil {
			return err
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		if once {
			resp, err := cli.KeepAliveOnce(context.TODO(), id)
			if err != nil {
				return fail(ExitBadConnection, err)
			}
			return e.display.KeepAlive(resp)
		}
		respc, err := cli.KeepAlive(context.TODO(), id)
		if err != nil {
			return fail(ExitBadConnection, err)
		}
		for resp := range respc {
			if err := e.display.KeepAlive(resp); err != nil {
				return err
			}
		}
		if _, ok := e.display.(*simplePrinter); ok {
			fmt.Fprintf(e.stdout, "lease %016x expired or revoked.\n", id)
		}
		return nil
	})
	return cmd
}
