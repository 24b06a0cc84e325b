package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (e *env) newMemberCommand() *cobra.Command {
	mc := &cobra.Command{
		Use:     "member <subcommand>",
		Short:   "Membership related commands. Use `etcdctl member --help` to see subcommands",
		Long:    "Membership related commands",
		GroupID: groupCluster,
	}
	mc.AddCommand(e.newMemberAddCommand(), e.newMemberRemoveCommand(), e.newMemberUpdateCommand(),
		e.newMemberListCommand(), e.newMemberPromoteCommand())
	return mc
}

func (e *env) newMemberListCommand() *cobra.Command {
	var consistency string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists all members in the cluster",
		Long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
	}
	cmd.Flags().StringVar(&consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		var opts []clientv3.OpOption
		s, err := serializable(consistency)
		if err != nil {
			return err
		}
		if s {
			opts = append(opts, clientv3.WithSerializable())
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberListResponse, error) {
			return cli.MemberList(ctx, opts...)
		})
		if err != nil {
			return err
		}
		return e.display.MemberList(resp)
	})
	return cmd
}

// endpointOptions are the flags of "endpoint" and "defrag".
type endpointOptions struct {
	cluster bool
	rev     int64
}

func (e *env) newEndpointCommand() *cobra.Command {
	var o endpointOptions
	ec := &cobra.Command{
		Use:     "endpoint <subcommand>",
		Short:   "Endpoint related commands. Use `etcdctl endpoint --help` to see subcommands",
		Long:    "Endpoint related commands",
		GroupID: groupCluster,
	}
	ec.PersistentFlags().BoolVar(&o.cluster, "cluster", false, "use all endpoints from the cluster member list")
	health := &cobra.Command{
		Use:   "health",
		Short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
		RunE:  run(func(cmd *cobra.Command, args []string) error { return e.endpointHealth(cmd, &o) }),
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Prints out the status of endpoints specified in `--endpoints` flag",
		Long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
`,
		RunE: run(func(cmd *cobra.Command, args []string) error { return e.endpointStatus(cmd, &o) }),
	}
	hashkv := &cobra.Command{
		Use:   "hashkv",
		Short: "Prints the KV history hash for each endpoint in --endpoints",
		RunE:  run(func(cmd *cobra.Command, args []string) error { return e.endpointHashKV(cmd, &o) }),
	}
	hashkv.PersistentFlags().Int64Var(&o.rev, "rev", 0, "maximum revision to hash (default: latest revision)")
	ec.AddCommand(health, status, hashkv)
	return ec
}

// targets are the endpoints a per-endpoint command visits: --endpoints, or
// with --cluster every client URL of the member list.
func (e *env) targets(cmd *cobra.Command, spec *clientv3.ConfigSpec, cluster bool) ([]string, error) {
	if !cluster {
		return e.g.endpoints, nil
	}
	cli, err := e.dial(spec)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			ee.code = ExitError
		}
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := e.commandCtx()
	defer cancel()
	membs, err := cli.MemberList(ctx)
	if err != nil {
		return nil, failf(ExitError, "failed to fetch endpoints from etcd cluster member list: %w", err)
	}
	var eps []string
	for _, m := range membs.Members {
		eps = append(eps, m.ClientURLs...)
	}
	return eps, nil
}

// dialEndpoint is a client of ep alone.
func (e *env) dialEndpoint(spec *clientv3.ConfigSpec, ep string) (*clientv3.Client, error) {
	one := spec.Clone()
	one.Endpoints = []string{ep}
	return e.dial(one)
}

func (e *env) endpointHealth(cmd *cobra.Command, o *endpointOptions) error {
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return err
	}
	eps, err := e.targets(cmd, spec, o.cluster)
	if err != nil {
		return err
	}
	cfgs := make([]*clientv3.Config, len(eps))
	for i, ep := range eps {
		one := spec.Clone()
		one.Endpoints = []string{ep}
		if cfgs[i], err = e.config(one); err != nil {
			return err
		}
	}
	lg, err := newLogger()
	if err != nil {
		return fail(ExitError, err)
	}
	healths := make([]epHealth, len(eps))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg.Logger = lg.Named("client")
			healths[i] = e.checkHealth(eps[i], cfg)
		}()
	}
	wg.Wait()
	unhealthy := false
	for _, h := range healths {
		if h.Error != "" {
			unhealthy = true
		}
	}
	if err := e.display.EndpointHealth(healths); err != nil {
		return err
	}
	if unhealthy {
		return fail(ExitError, errors.New("unhealthy cluster"))
	}
	return nil
}

// checkHealth reads a key through ep (any answer, even permission denied,
// means a quorum served it) and checks that no alarm is raised.
func (e *env) checkHealth(ep string, cfg *clientv3.Config) epHealth {
	cli, err := clientv3.New(*cfg)
	if err != nil {
		return epHealth{Ep: ep, Error: err.Error()}
	}
	defer cli.Close()
	start := time.Now()
	ctx, cancel := e.commandCtx()
	defer cancel()
	_, err = cli.Get(ctx, "health")
	h := epHealth{Ep: ep, Took: time.Since(start).String()}
	if err == nil || errors.Is(err, rpctypes.ErrPermissionDenied) {
		h.Health = true
	} else {
		h.Error = err.Error()
	}
	if !h.Health {
		return h
	}
	resp, err := cli.AlarmList(ctx)
	switch {
	case err != nil:
		h.Health = false
		h.Error = "Unable to fetch the alarm list"
	case len(resp.Alarms) > 0:
		h.Health = false
		h.Error = "Active Alarm(s): "
		for _, a := range resp.Alarms {
			switch a.Alarm {
			case etcdserverpb.AlarmType_NOSPACE:
				h.Error += "NOSPACE "
			case etcdserverpb.AlarmType_CORRUPT:
				h.Error += "CORRUPT "
			default:
				h.Error += "UNKNOWN "
			}
		}
	}
	return h
}

func (e *env) endpointStatus(cmd *cobra.Command, o *endpointOptions) error {
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return err
	}
	eps, err := e.targets(cmd, spec, o.cluster)
	if err != nil {
		return err
	}
	var sts []epStatus
	failed := false
	for _, ep := range eps {
		cli, err := e.dialEndpoint(spec, ep)
		if err != nil {
			return err
		}
		ctx, cancel := e.commandCtx()
		resp, err := cli.Status(ctx, ep)
		cancel()
		cli.Close()
		if err != nil {
			failed = true
			fmt.Fprintf(e.stderr, "Failed to get the status of endpoint %s (%v)\n", ep, err)
			continue
		}
		sts = append(sts, epStatus{Ep: ep, Resp: resp})
	}
	if err := e.display.EndpointStatus(sts); err != nil {
		return err
	}
	if failed {
		return exitQuietly(ExitError)
	}
	return nil
}

func (e *env) endpointHashKV(cmd *cobra.Command, o *endpointOptions) error {
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return err
	}
	eps, err := e.targets(cmd, spec, o.cluster)
	if err != nil {
		return err
	}
	var hs []epHashKV
	var lastErr error
	for _, ep := range eps {
		cli, err := e.dialEndpoint(spec, ep)
		if err != nil {
			return err
		}
		ctx, cancel := e.commandCtx()
		resp, err := cli.HashKV(ctx, ep, o.rev)
		cancel()
		cli.Close()
		if err != nil {
			lastErr = err
			fmt.Fprintf(e.stderr, "Failed to get the hash of endpoint %s (%v)\n", ep, err)
			continue
		}
		hs = append(hs, epHashKV{Ep: ep, Resp: resp})
	}
	if err := e.display.EndpointHashKV(hs); err != nil {
		return err
	}
	if lastErr != nil {
		return fail(ExitError, lastErr)
	}
	return nil
}

func (e *env) newMoveLeaderCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "move-leader <transferee-member-id>",
		Short:   "Transfers leadership to another etcd cluster member.",
		GroupID: groupCluster,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fail(ExitBadArgs, errors.New("move-leader command needs 1 argument"))
			}
			target, err := strconv.ParseUint(args[0], 16, 64)
			if err != nil {
				return fail(ExitBadArgs, err)
			}
			spec, err := e.clientSpec(cmd)
			if err != nil {
				return err
			}
			cli, err := e.dial(spec)
			if err != nil {
				return err
			}
			eps := cli.Endpoints()
			cli.Close()

			ctx, cancel := e.commandCtx()
			defer cancel()
			// Only the leader can hand leadership over: find it.
			var leaderCli *clientv3.Client
			var leaderID uint64
			for _, ep := range eps {
				c, err := e.dialEndpoint(spec, ep)
				if err != nil {
					return err
				}
				resp, err := c.Status(ctx, ep)
				if err != nil {
					c.Close()
					return fail(ExitError, err)
				}
				if resp.Header.GetMemberId() == resp.Leader {
					leaderCli, leaderID = c, resp.Leader
					break
				}
				c.Close()
			}
			if leaderCli == nil {
				return failf(ExitBadArgs, "no leader endpoint given at %v", eps)
			}
			defer leaderCli.Close()
			resp, err := leaderCli.MoveLeader(ctx, target)
			if err != nil {
				return fail(ExitError, err)
			}
			return e.display.MoveLeader(leaderID, target, resp)
		}),
	}
}
