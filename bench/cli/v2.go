package cli

import (
	"context"

	"github.com/basaltkv/basalt/bench"
	"github.com/spf13/cobra"
)

// v2PutCommand and v2GetCommand are basalt-bench's own: etcd's benchmark
// has no v2 workload.
func v2PutCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultV2Options()
	cmd := &cobra.Command{
		Use:   "v2-put",
		Short: "Benchmark PUT /v2/keys (servers with --enable-v2)",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.V2Put(ctx, config(), o) },
	}
	v2Flags(cmd, &o)
	cmd.Flags().IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of put request")
	return cmd
}

func v2GetCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultV2Options()
	cmd := &cobra.Command{
		Use:   "v2-get",
		Short: "Benchmark GET /v2/keys (servers with --enable-v2)",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.V2Get(ctx, config(), o) },
	}
	v2Flags(cmd, &o)
	cmd.Flags().BoolVar(&o.Quorum, "quorum", o.Quorum, "Read through raft (quorum=true)")
	return cmd
}

func v2Flags(cmd *cobra.Command, o *bench.V2Options) {
	f := cmd.Flags()
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size (characters)")
	f.IntVar(&o.Total, "total", o.Total, "Total number of requests")
	f.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "Maximum possible keys")
	f.BoolVar(&o.SequentialKeys, "sequential-keys", o.SequentialKeys, "Use sequential keys")
}
