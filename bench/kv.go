package bench

import (
	"context"
	"fmt"
	"math/rand/v2"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RangeOptions are the flags of `range`.
type RangeOptions struct {
	Total, Rate int
	// Consistency is "l" (linearizable) or "s" (serializable).
	Consistency string
	Limit       int64
	CountOnly   bool
}

// DefaultRangeOptions are etcd benchmark's defaults.
func DefaultRangeOptions() RangeOptions {
	return RangeOptions{Total: 10000, Consistency: "l"}
}

// Range benchmarks gets of key (or [key, end) when end is set).
func Range(ctx context.Context, cfg *Config, key, end string, o RangeOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	serializable, err := checkConsistency(o.Consistency)
	if err != nil {
		return err
	}
	fmt.Fprint(cfg.out(), consistencyBanner(serializable))
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(o.Limit)}
	if o.CountOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	op := clientv3.OpGet(key, opts...)
	return runOps(ctx, cfg, cs, o.Total, o.Rate, func(int) clientv3.Op { return op }, "%s")
}

// runOps sends total ops made by gen through Do and prints the summary
// with layout (etcd prints some summaries with a trailing newline).
func runOps(ctx context.Context, cfg *Config, cs *clientSet, total, rate int, gen func(i int) clientv3.Op, layout string) error {
	lim := newLimiter(rate, 1)
	bar := newProgress(cfg.Progress, total)
	r := cfg.newReport()
	summary := r.Run()
	drive(ctx, len(cs.clients), total, gen, func(c int, op clientv3.Op) {
		if lim.Wait(ctx) != nil {
			return
		}
		timed(r.Results(), func() error { _, err := cs.clients[c].Do(ctx, op); return err })
		bar.Increment()
	})
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), layout, <-summary)
	return ctx.Err()
}

// TxnPutOptions are the flags of `txn-put`.
type TxnPutOptions struct {
	KeySize, ValSize int
	// OpsPerTxn is the number of puts in each txn.
	OpsPerTxn    int
	Rate, Total  int
	KeySpaceSize int
}

// DefaultTxnPutOptions are etcd benchmark's defaults.
func DefaultTxnPutOptions() TxnPutOptions {
	return TxnPutOptions{KeySize: 8, ValSize: 8, OpsPerTxn: 1, Total: 10000, KeySpaceSize: 1}
}

// TxnPut benchmarks txns of o.OpsPerTxn puts over the key space in order.
func TxnPut(ctx context.Context, cfg *Config, o TxnPutOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.KeySpaceSize <= 0 {
		return fmt.Errorf("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	}
	if o.OpsPerTxn > o.KeySpaceSize {
		return fmt.Errorf("expected --txn-ops no larger than --key-space-size, got txn-ops(%d) key-space-size(%d)", o.OpsPerTxn, o.KeySpaceSize)
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	val := string(randBytes(o.ValSize))
	key := make([]byte, o.KeySize)
	return runOps(ctx, cfg, cs, o.Total, o.Rate, func(i int) clientv3.Op {
		ops := make([]clientv3.Op, o.OpsPerTxn)
		for j := range ops {
			keyOf(key, int64((i*o.OpsPerTxn+j)%o.KeySpaceSize))
			ops[j] = clientv3.OpPut(string(key), val)
		}
		return clientv3.OpTxn(nil, ops, nil)
	}, "%s\n")
}

// TxnMixedOptions are the flags of `txn-mixed`.
type TxnMixedOptions struct {
	KeySize, ValSize int
	Rate, Total      int
	// EndKey bounds the reads' range; empty reads every key.
	EndKey       string
	Limit        int64
	KeySpaceSize int
	Consistency  string
	// RWRatio is reads per write.
	RWRatio float64
}

// DefaultTxnMixedOptions are etcd benchmark's defaults.
func DefaultTxnMixedOptions() TxnMixedOptions {
	return TxnMixedOptions{KeySize: 8, ValSize: 8, Total: 10000, Limit: 1000, KeySpaceSize: 1, Consistency: "l", RWRatio: 1}
}

type mixedReq struct {
	write bool
	op    clientv3.Op
}

// TxnMixed benchmarks a mix of single-op txns: range reads and puts, with
// a summary for each kind.
func TxnMixed(ctx context.Context, cfg *Config, o TxnMixedOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.KeySpaceSize <= 0 {
		return fmt.Errorf("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	}
	serializable, err := checkConsistency(o.Consistency)
	if err != nil {
		return err
	}
	fmt.Fprint(cfg.out(), consistencyBanner(serializable))
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	lim := newLimiter(o.Rate, 1)
	val := string(randBytes(o.ValSize))
	key := make([]byte, o.KeySize)
	end := o.EndKey
	if end == "" {
		end = "\x00" // with key "\x00": every key
	}
	readOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(o.Limit)}
	if serializable {
		readOpts = append(readOpts, clientv3.WithSerializable())
	}
	read := clientv3.OpGet("\x00", readOpts...)
	var reads, writes int
	bar := newProgress(cfg.Progress, o.Total)
	rr, wr := cfg.newReport(), cfg.newReport()
	readSummary, writeSummary := rr.Run(), wr.Run()
	drive(ctx, len(cs.clients), o.Total, func(i int) mixedReq {
		if rand.Float64() < o.RWRatio/(1+o.RWRatio) {
			reads++
			return mixedReq{op: read}
		}
		writes++
		keyOf(key, int64(i%o.KeySpaceSize))
		return mixedReq{write: true, op: clientv3.OpPut(string(key), val)}
	}, func(c int, req mixedReq) {
		if lim.Wait(ctx) != nil {
			return
		}
		results := rr.Results()
		if req.write {
			results = wr.Results()
		}
		timed(results, func() error { _, err := cs.clients[c].Txn(ctx).Then(req.op).Commit(); return err })
		bar.Increment()
	})
	close(rr.Results())
	close(wr.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "Total Read Ops: %d\nDetails:%s\n", reads, <-readSummary)
	fmt.Fprintf(cfg.out(), "Total Write Ops: %d\nDetails:%s\n", writes, <-writeSummary)
	return ctx.Err()
}
