package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
)

func (e *env) newCompactionCommand() *cobra.Command {
	var physical bool
	cmd := &cobra.Command{
		Use:     "compaction [options] <revision>",
		Short:   "Compacts the event history in etcd",
		GroupID: groupKV,
	}
	cmd.Flags().BoolVar(&physical, "physical", false, "'true' to wait for compaction to physically remove all old revisions")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fail(ExitBadArgs, errors.New("compaction command needs 1 argument"))
		}
		rev, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return fail(ExitError, err)
		}
		var opts []clientv3.CompactOption
		if physical {
			opts = append(opts, clientv3.WithCompactPhysical())
		}
		if _, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.CompactResponse, error) {
			return cli.Compact(ctx, rev, opts...)
		}); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "compacted revision", rev)
		return nil
	})
	return cmd
}

func (e *env) newAlarmCommand() *cobra.Command {
	ac := &cobra.Command{
		Use:     "alarm <subcommand>",
		Short:   "Alarm related commands. Use `etcdctl alarm --help` to see subcommands",
		Long:    "Alarm related commands",
		GroupID: groupCluster,
	}
	alarm := func(use, short, name string, call func(context.Context, *clientv3.Client) (*clientv3.AlarmResponse, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			RunE: run(func(cmd *cobra.Command, args []string) error {
				if len(args) != 0 {
					return failf(ExitBadArgs, "alarm %s command accepts no arguments", name)
				}
				resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.AlarmResponse, error) {
					return call(ctx, cli)
				})
				if err != nil {
					return err
				}
				return e.display.Alarm(resp)
			}),
		}
	}
	ac.AddCommand(
		alarm("disarm", "Disarms all alarms", "disarm", func(ctx context.Context, c *clientv3.Client) (*clientv3.AlarmResponse, error) {
			return c.AlarmDisarm(ctx, &clientv3.AlarmMember{})
		}),
		alarm("list", "Lists all alarms", "list", func(ctx context.Context, c *clientv3.Client) (*clientv3.AlarmResponse, error) {
			return c.AlarmList(ctx)
		}),
	)
	return ac
}

func (e *env) newDefragCommand() *cobra.Command {
	var cluster bool
	cmd := &cobra.Command{
		Use:     "defrag",
		Short:   "Defragments the storage of the etcd members with given endpoints",
		GroupID: groupCluster,
	}
	cmd.PersistentFlags().BoolVar(&cluster, "cluster", false, "use all endpoints from the cluster member list")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		spec, err := e.clientSpec(cmd)
		if err != nil {
			return err
		}
		eps, err := e.targets(cmd, spec, cluster)
		if err != nil {
			return err
		}
		failures := 0
		for _, ep := range eps {
			cli, err := e.dialEndpoint(spec, ep)
			if err != nil {
				return err
			}
			ctx, cancel := e.commandCtx()
			start := time.Now()
			_, err = cli.Defragment(ctx, ep)
			took := time.Since(start)
			cancel()
			if err != nil {
				fmt.Fprintf(e.stderr, "Failed to defragment etcd member[%s]. took %s. (%v)\n", ep, took, err)
				failures++
			} else {
				fmt.Fprintf(e.stdout, "Finished defragmenting etcd member[%s]. took %s\n", ep, took)
			}
			cli.Close()
		}
		if failures != 0 {
			return exitQuietly(ExitError)
		}
		return nil
	})
	return cmd
}

// snapshotExample is indented two spaces on every line, blank ones too, as
// etcdctl's help shows it.
var snapshotExample = indentLines(`# Save snapshot to a given file
etcdctl snapshot save /backup/etcd-snapshot.db

# Get snapshot from given address and save it to file
etcdctl snapshot save --endpoints=127.0.0.1:3000 /backup/etcd-snapshot.db

# Get snapshot from given address with certificates
etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd.crt --key=/etc/etcd/etcd.key snapshot save /backup/etcd-snapshot.db

# Get snapshot with certain user and password
etcdctl --user=root --password=password123 snapshot save /backup/etcd-snapshot.db

# Get snapshot from given address with timeout
etcdctl --endpoints=https://127.0.0.1:2379 --dial-timeout=20s snapshot save /backup/etcd-snapshot.db

# Save snapshot with desirable time format
etcdctl snapshot save /mnt/backup/etcd/backup_$(date +%Y%m%d_%H%M%S).db`)

func indentLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func (e *env) newSnapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "snapshot <subcommand>",
		Short:   "Manages etcd node snapshots",
		Example: snapshotExample,
		GroupID: groupCluster,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "save <filename>",
		Short:   "Stores an etcd node backend snapshot to a given file",
		Example: snapshotExample,
		RunE:    run(e.snapshotSave),
	})
	return cmd
}

// snapshotSave streams the backend of the first endpoint into a file. The
// client library logs its progress (created temporary db file, fetching,
// fetched with size and speed, saved) as JSON lines on stderr.
func (e *env) snapshotSave(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fail(ExitBadArgs, errors.New("snapshot save expects one argument <filename>"))
	}
	lg, err := newLogger()
	if err != nil {
		return fail(ExitError, err)
	}
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return err
	}
	cfg, err := e.config(spec)
	if err != nil {
		return err
	}
	// Without an explicit --command-timeout a snapshot may take as long as
	// it needs.
	ctx, cancel := context.WithCancel(context.Background())
	if cmd.Flags().Changed("command-timeout") {
		cancel()
		ctx, cancel = e.commandCtx()
	}
	defer cancel()
	path := args[0]
	version, err := snapshot.SaveWithVersion(ctx, lg, *cfg, path)
	if err != nil {
		return fail(ExitInterrupted, err)
	}
	fmt.Fprintf(e.stdout, "Snapshot saved at %s\n", path)
	if version != "" {
		fmt.Fprintf(e.stdout, "Server version %s\n", version)
	}
	return nil
}
