package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/basaltkv/basalt/bench"
)

type configFunc func() *bench.Config

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

func putCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultPutOptions()
	cmd := &cobra.Command{
		Use:   "put",
		Short: "Benchmark put",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.Put(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size of put request")
	f.IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of put request")
	f.IntVar(&o.Rate, "rate", o.Rate, "Maximum puts per second (0 is no limit)")
	f.IntVar(&o.Total, "total", o.Total, "Total number of put requests")
	f.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "Maximum possible keys")
	f.BoolVar(&o.SequentialKeys, "sequential-keys", o.SequentialKeys, "Use sequential keys")
	f.DurationVar(&o.CompactInterval, "compact-interval", o.CompactInterval,
		"Interval to compact database (do not duplicate this with the server's --auto-compaction-retention) (e.g. --compact-interval=5m compacts every 5 minutes)")
	f.Int64Var(&o.CompactIndexDelta, "compact-index-delta", o.CompactIndexDelta,
		"Delta between current revision and compact revision (e.g. current revision 10000, compact at 9000)")
	f.BoolVar(&o.CheckHashKV, "check-hashkv", o.CheckHashKV, "'true' to check hashkv")
	return cmd
}

func rangeCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultRangeOptions()
	cmd := &cobra.Command{
		Use:   "range key [end-range]",
		Short: "Benchmark range",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			end := ""
			if len(args) == 2 {
				end = args[1]
			}
			return bench.Range(ctx, config(), args[0], end, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Rate, "rate", o.Rate, "Maximum range requests per second (0 is no limit)")
	f.IntVar(&o.Total, "total", o.Total, "Total number of range requests")
	f.StringVar(&o.Consistency, "consistency", o.Consistency, "Linearizable(l) or Serializable(s)")
	f.Int64Var(&o.Limit, "limit", o.Limit, "Maximum number of results to return from range request (0 is no limit)")
	f.BoolVar(&o.CountOnly, "count-only", o.CountOnly, "Only returns the count of keys")
	return cmd
}

func txnPutCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultTxnPutOptions()
	cmd := &cobra.Command{
		Use:   "txn-put",
		Short: "Benchmark txn-put",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.TxnPut(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size of txn put")
	f.IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of txn put")
	f.IntVar(&o.OpsPerTxn, "txn-ops", o.OpsPerTxn, "Number of puts per txn")
	f.IntVar(&o.Rate, "rate", o.Rate, "Maximum txns per second (0 is no limit)")
	f.IntVar(&o.Total, "total", o.Total, "Total number of txn requests")
	f.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "Maximum possible keys")
	return cmd
}

func txnMixedCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultTxnMixedOptions()
	cmd := &cobra.Command{
		Use:   "txn-mixed key [end-range]",
		Short: "Benchmark a mixed load of txn-put & txn-range.",
		Args:  cobra.MaximumNArgs(2),
		RunE:  func(*cobra.Command, []string) error { return bench.TxnMixed(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size of mixed txn")
	f.IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of mixed txn")
	f.IntVar(&o.Rate, "rate", o.Rate, "Maximum txns per second (0 is no limit)")
	f.IntVar(&o.Total, "total", o.Total, "Total number of txn requests")
	f.StringVar(&o.EndKey, "end-key", o.EndKey, "Read operation range end key. By default, reads range over every key, up to --limit.")
	f.Int64Var(&o.Limit, "limit", o.Limit, "Read operation range result limit")
	f.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "Maximum possible keys")
	f.StringVar(&o.Consistency, "consistency", o.Consistency, "Linearizable(l) or Serializable(s)")
	f.Float64Var(&o.RWRatio, "rw-ratio", o.RWRatio, "Read/write ops ratio")
	return cmd
}

func watchCommand(ctx context.Context, config configFunc, stderr io.Writer) *cobra.Command {
	o := bench.DefaultWatchOptions()
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Benchmark watch",
		Long: "Benchmark watch measures creating watchers and then delivering events to them:\n" +
			"puts change the watched keys in turn while every watcher counts its events.\n\n" +
			"The --streams × --watch-per-stream watchers share --watched-key-total keys, so\n" +
			"each key has (streams × watch-per-stream / watched-key-total) watchers, and a\n" +
			"watcher may watch a key more than once when there are few keys.",
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return bench.Watch(ctx, config(), o, stderr) },
	}
	f := cmd.Flags()
	f.IntVar(&o.Streams, "streams", o.Streams, "Total watch streams")
	f.IntVar(&o.WatchPerStream, "watch-per-stream", o.WatchPerStream, "Total watchers per stream")
	f.IntVar(&o.WatchedKeyTotal, "watched-key-total", o.WatchedKeyTotal, "Total number of keys to be watched")
	f.IntVar(&o.PutRate, "put-rate", o.PutRate, "Number of keys to put per second")
	f.IntVar(&o.PutTotal, "put-total", o.PutTotal, "Number of put requests")
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size of watch request")
	f.IntVar(&o.KeySpaceSize, "key-space-size", o.KeySpaceSize, "Maximum possible keys")
	f.BoolVar(&o.SequentialKeys, "sequential-keys", o.SequentialKeys, "Use sequential keys")
	return cmd
}

func watchGetCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultWatchGetOptions()
	cmd := &cobra.Command{
		Use:   "watch-get",
		Short: "Benchmark watch with get",
		Long:  "Benchmark serializable gets while many unsynced watchers catch up on past events",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.WatchGet(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.Watchers, "watchers", o.Watchers, "Total number of watchers")
	f.IntVar(&o.Streams, "streams", o.Streams, "Total number of watcher streams")
	f.IntVar(&o.Events, "events", o.Events, "Number of events per watcher")
	return cmd
}

func watchLatencyCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultWatchLatencyOptions()
	cmd := &cobra.Command{
		Use:   "watch-latency",
		Short: "Benchmark watch latency",
		Long: "Benchmark the latency of watches: the time from a put's response to each\n" +
			"watcher's receipt of the event it caused.",
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return bench.WatchLatency(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.Streams, "streams", o.Streams, "Total watch streams")
	f.IntVar(&o.WatchersPerStream, "watchers-per-stream", o.WatchersPerStream, "Total watchers per stream")
	f.BoolVar(&o.PrevKV, "prevkv", o.PrevKV, "PrevKV enabled on watch requests")
	f.IntVar(&o.PutTotal, "put-total", o.PutTotal, "Total number of put requests")
	f.IntVar(&o.PutRate, "put-rate", o.PutRate, "Number of keys to put per second")
	f.IntVar(&o.KeySize, "key-size", o.KeySize, "Key size of watch response")
	f.IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of watch response")
	return cmd
}

func leaseKeepaliveCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultLeaseKeepaliveOptions()
	cmd := &cobra.Command{
		Use:   "lease-keepalive",
		Short: "Benchmark lease keepalive",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.LeaseKeepalive(ctx, config(), o) },
	}
	cmd.Flags().IntVar(&o.Total, "total", o.Total, "Total number of lease keepalive requests")
	return cmd
}

func stmCommand(ctx context.Context, config configFunc) *cobra.Command {
	o := bench.DefaultSTMOptions()
	cmd := &cobra.Command{
		Use:   "stm",
		Short: "Benchmark STM",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return bench.STM(ctx, config(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Isolation, "isolation", o.Isolation, "Read Committed (c), Repeatable Reads (r), Serializable (s), or Snapshot (ss)")
	f.IntVar(&o.Keys, "keys", o.Keys, "Total unique keys accessible by the benchmark")
	f.IntVar(&o.Total, "total", o.Total, "Total number of completed STM transactions")
	f.IntVar(&o.KeysPerTxn, "keys-per-txn", o.KeysPerTxn, "Number of keys to access per transaction")
	f.IntVar(&o.WritePercent, "txn-wr-percent", o.WritePercent, "Percentage of keys to overwrite per transaction")
	f.StringVar(&o.Locker, "stm-locker", o.Locker, "Wrap STM transaction with a custom locking mechanism (stm, lock-client, lock-rpc)")
	f.IntVar(&o.ValSize, "val-size", o.ValSize, "Value size of each STM put request")
	f.IntVar(&o.Rate, "rate", o.Rate, "Maximum STM transactions per second (0 is no limit)")
	return cmd
}

func mvccCommand(config configFunc) *cobra.Command {
	mo := bench.DefaultMVCCOptions()
	batchMillis := int(mo.BatchInterval / time.Millisecond)
	cmd := &cobra.Command{
		Use:   "mvcc",
		Short: "Benchmark mvcc",
		Long: "mvcc benchmarks basalt's storage (storage/mvcc over storage/backend) in this\n" +
			"process, without a server; its subcommands are the benchmarks.",
	}
	cmd.PersistentFlags().IntVar(&batchMillis, "batch-interval", batchMillis, "Interval of batching (milliseconds)")
	cmd.PersistentFlags().IntVar(&mo.BatchLimit, "batch-limit", mo.BatchLimit, "A limit of batched transaction")
	options := func() bench.MVCCOptions {
		m := mo
		m.BatchInterval = time.Duration(batchMillis) * time.Millisecond
		return m
	}

	po := bench.DefaultMVCCPutOptions()
	var putProf bench.MVCCOptions
	put := &cobra.Command{
		Use:   "put",
		Short: "Benchmark put performance of storage",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			m := options()
			m.CPUProfile, m.MemProfile = putProf.CPUProfile, putProf.MemProfile
			return bench.MVCCPut(config(), m, po)
		},
	}
	f := put.Flags()
	f.IntVar(&po.Total, "total", po.Total, "a total number of keys to put")
	f.IntVar(&po.KeySize, "key-size", po.KeySize, "a size of key (Byte)")
	f.IntVar(&po.ValueSize, "value-size", po.ValueSize, "a size of value (Byte)")
	f.BoolVar(&po.Txn, "txn", po.Txn, "put a key in transaction or not")
	f.IntVar(&po.TxnOps, "txn-ops", po.TxnOps, "a number of keys to put per transaction")
	f.StringVar(&putProf.CPUProfile, "cpuprofile", "", "the path of file for storing cpu profile result")
	f.StringVar(&putProf.MemProfile, "memprofile", "", "the path of file for storing heap profile result")

	ro := bench.DefaultMVCCRangeOptions()
	var rangeProf bench.MVCCOptions
	rng := &cobra.Command{
		Use:   "range",
		Short: "Benchmark range performance of storage (a basalt addition)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			m := options()
			m.CPUProfile, m.MemProfile = rangeProf.CPUProfile, rangeProf.MemProfile
			return bench.MVCCRange(config(), m, ro)
		},
	}
	f = rng.Flags()
	f.IntVar(&ro.Total, "total", ro.Total, "a total number of range requests")
	f.IntVar(&ro.Keys, "keys", ro.Keys, "a number of keys to load before reading")
	f.IntVar(&ro.RangeSize, "range-size", ro.RangeSize, "a number of consecutive keys each request reads")
	f.IntVar(&ro.KeySize, "key-size", ro.KeySize, "a size of key (Byte)")
	f.IntVar(&ro.ValueSize, "value-size", ro.ValueSize, "a size of value (Byte)")
	f.StringVar(&rangeProf.CPUProfile, "cpuprofile", "", "the path of file for storing cpu profile result")
	f.StringVar(&rangeProf.MemProfile, "memprofile", "", "the path of file for storing heap profile result")

	cmd.AddCommand(put, rng)
	return cmd
}
