package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The member change commands. Their argument errors are etcdctl's, word for
// word, with its exit codes.

func (e *env) newMemberAddCommand() *cobra.Command {
	var peerURLs string
	var learner bool
	cmd := &cobra.Command{
		Use:   "add <memberName> [options]",
		Short: "Adds a member into the cluster",
	}
	cmd.Flags().StringVar(&peerURLs, "peer-urls", "", "comma separated peer URLs for the new member.")
	cmd.Flags().BoolVar(&learner, "learner", false, "indicates if the new member is raft learner")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 1 {
			return fail(ExitBadArgs, errors.New("member name not provided"))
		}
		if len(args) > 1 {
			msg := "too many arguments"
			for _, a := range args {
				if strings.HasPrefix(strings.ToLower(a), "http") {
					msg += ", did you mean --peer-urls=" + a
				}
			}
			return fail(ExitBadArgs, errors.New(msg))
		}
		name := args[0]
		if peerURLs == "" {
			return fail(ExitBadArgs, errors.New("member peer urls not provided"))
		}
		urls := strings.Split(peerURLs, ",")
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberAddResponse, error) {
			if learner {
				return cli.MemberAddAsLearner(ctx, urls)
			}
			return cli.MemberAdd(ctx, urls)
		})
		if err != nil {
			return err
		}
		if err := e.display.MemberAdd(resp); err != nil {
			return err
		}
		if _, ok := e.display.(*simplePrinter); ok {
			e.printNewMemberEnv(name, peerURLs, resp)
		}
		return nil
	})
	return cmd
}

// printNewMemberEnv writes the environment the new member starts with: its
// name in the initial cluster in place of the (still empty) name the
// cluster knows it by.
func (e *env) printNewMemberEnv(name, peerURLs string, resp *clientv3.MemberAddResponse) {
	var initial []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == resp.Member.GetID() {
			n = name
		}
		for _, u := range m.PeerURLs {
			initial = append(initial, n+"="+u)
		}
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "ETCD_NAME=%q\n", name)
	fmt.Fprintf(e.stdout, "ETCD_INITIAL_CLUSTER=%q\n", strings.Join(initial, ","))
	fmt.Fprintf(e.stdout, "ETCD_INITIAL_ADVERTISE_PEER_URLS=%q\n", peerURLs)
	fmt.Fprintln(e.stdout, `ETCD_INITIAL_CLUSTER_STATE="existing"`)
}

// memberIDArg is the one hex member ID a command takes.
func memberIDArg(args []string) (uint64, error) {
	if len(args) != 1 {
		return 0, fail(ExitBadArgs, errors.New("member ID is not provided"))
	}
	id, err := strconv.ParseUint(args[0], 16, 64)
	if err != nil {
		return 0, failf(ExitBadArgs, "bad member ID arg (%w), expecting ID in Hex", err)
	}
	return id, nil
}

func (e *env) newMemberRemoveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove <memberID>",
		Short: "Removes a member from the cluster",
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		id, err := memberIDArg(args)
		if err != nil {
			return err
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberRemoveResponse, error) {
			return cli.MemberRemove(ctx, id)
		})
		if err != nil {
			return err
		}
		return e.display.MemberRemove(id, resp)
	})
	return cmd
}

func (e *env) newMemberUpdateCommand() *cobra.Command {
	var peerURLs string
	cmd := &cobra.Command{
		Use:   "update <memberID> [options]",
		Short: "Updates a member in the cluster",
	}
	cmd.Flags().StringVar(&peerURLs, "peer-urls", "", "comma separated peer URLs for the updated member.")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		id, err := memberIDArg(args)
		if err != nil {
			return err
		}
		if peerURLs == "" {
			return fail(ExitBadArgs, errors.New("member peer urls not provided"))
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberUpdateResponse, error) {
			return cli.MemberUpdate(ctx, id, strings.Split(peerURLs, ","))
		})
		if err != nil {
			return err
		}
		return e.display.MemberUpdate(id, resp)
	})
	return cmd
}

func (e *env) newMemberPromoteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promote <memberID>",
		Short: "Promotes a non-voting member in the cluster",
		Long: `Promotes a non-voting learner member to a voting one in the cluster.
`,
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		id, err := memberIDArg(args)
		if err != nil {
			return err
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberPromoteResponse, error) {
			return cli.MemberPromote(ctx, id)
		})
		if err != nil {
			return err
		}
		return e.display.MemberPromote(id, resp)
	})
	return cmd
}
