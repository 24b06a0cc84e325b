package ctl

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// newDowngradeCommand is etcdctl 3.7's "downgrade": validate, enable and
// cancel a cluster downgrade through the Maintenance.Downgrade RPC.
func (e *env) newDowngradeCommand() *cobra.Command {
	dc := &cobra.Command{
		Use:     "downgrade <TARGET_VERSION>",
		Short:   "Downgrade related commands. Use `etcdctl downgrade --help` to see subcommands",
		Long:    "Downgrade related commands",
		GroupID: groupCluster,
	}
	dc.AddCommand(
		&cobra.Command{
			Use:   "validate <TARGET_VERSION>",
			Short: "Validate downgrade capability before starting downgrade",
			RunE:  run(e.downgradeFunc(clientv3.DowngradeValidate)),
		},
		&cobra.Command{
			Use:   "enable <TARGET_VERSION>",
			Short: "Start a downgrade action to cluster",
			RunE:  run(e.downgradeFunc(clientv3.DowngradeEnable)),
		},
		&cobra.Command{
			Use:   "cancel",
			Short: "Cancel the ongoing downgrade action to cluster",
			RunE:  run(e.downgradeFunc(clientv3.DowngradeCancel)),
		},
	)
	return dc
}

// downgradeFunc runs one downgrade action. validate and enable take exactly
// one non-empty target version; cancel sends none and, as in etcdctl,
// ignores any arguments.
func (e *env) downgradeFunc(action clientv3.DowngradeAction) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		var version string
		if action != clientv3.DowngradeCancel {
			switch {
			case len(args) < 1:
				return fail(ExitBadArgs, errors.New("TARGET_VERSION not provided"))
			case len(args) > 1:
				return fail(ExitBadArgs, errors.New("too many arguments"))
			case args[0] == "":
				return fail(ExitBadArgs, errors.New("target version not provided"))
			}
			version = args[0]
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.DowngradeResponse, error) {
			return cli.Downgrade(ctx, action, version)
		})
		if err != nil {
			return err
		}
		return e.display.Downgrade(action, resp)
	}
}
