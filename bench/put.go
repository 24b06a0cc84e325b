package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutOptions are the flags of `put`.
type PutOptions struct {
	KeySize, ValSize int
	Total            int
	// Rate caps puts per second; 0 is no limit.
	Rate int
	// KeySpaceSize is the number of distinct keys; SequentialKeys walks
	// them in order instead of at random.
	KeySpaceSize   int
	SequentialKeys bool
	// CompactInterval, if set, compacts to CompactIndexDelta revisions
	// behind the current one that often.
	CompactInterval   time.Duration
	CompactIndexDelta int64
	// CheckHashKV prints the first endpoint's HashKV after the run.
	CheckHashKV bool
}

// DefaultPutOptions are etcd benchmark's defaults.
func DefaultPutOptions() PutOptions {
	return PutOptions{KeySize: 8, ValSize: 8, Total: 10000, KeySpaceSize: 1, CompactIndexDelta: 1000}
}

// Put benchmarks puts of o.ValSize-byte values over o.KeySpaceSize keys.
func Put(ctx context.Context, cfg *Config, o PutOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.KeySpaceSize <= 0 {
		return fmt.Errorf("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	lim := newLimiter(o.Rate, 1)
	val := string(randBytes(o.ValSize))
	key := make([]byte, o.KeySize)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var compactErr error
	var compactWG sync.WaitGroup
	if o.CompactInterval > 0 {
		compactWG.Add(1)
		go func() {
			defer compactWG.Done()
			compactErr = compactEvery(ctx, cs.conns[0], o.CompactInterval, o.CompactIndexDelta)
		}()
	}

	bar := newProgress(cfg.Progress, o.Total)
	r := cfg.newReport()
	summary := r.Run()
	drive(ctx, len(cs.clients), o.Total, func(i int) clientv3.Op {
		n := rand.IntN(o.KeySpaceSize)
		if o.SequentialKeys {
			n = i % o.KeySpaceSize
		}
		keyOf(key, int64(n))
		return clientv3.OpPut(string(key), val)
	}, func(c int, op clientv3.Op) {
		if lim.Wait(ctx) != nil {
			return
		}
		timed(r.Results(), func() error { _, err := cs.clients[c].Do(ctx, op); return err })
		bar.Increment()
	})
	close(r.Results())
	bar.Finish()
	cancel()
	compactWG.Wait()
	fmt.Fprintln(cfg.out(), <-summary)
	if compactErr != nil {
		return compactErr
	}
	if o.CheckHashKV {
		return printHashKV(context.Background(), cfg, cs.conns[0])
	}
	return nil
}

// compactEvery compacts every interval until ctx ends.
func compactEvery(ctx context.Context, cli *clientv3.Client, interval time.Duration, delta int64) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := compactBehind(ctx, cli, delta); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// compactBehind compacts to delta revisions before the current one.
func compactBehind(ctx context.Context, cli *clientv3.Client, delta int64) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := cli.Get(cctx, "foo")
	cancel()
	if err != nil {
		return fmt.Errorf("compact: read the revision: %w", err)
	}
	rev := max(0, resp.Header.Revision-delta)
	cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	_, err = cli.Compact(cctx, rev)
	cancel()
	if err != nil {
		return fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	return nil
}

func printHashKV(ctx context.Context, cfg *Config, cli *clientv3.Client) error {
	ep := cfg.Endpoints[0]
	start := time.Now()
	h, err := cli.HashKV(ctx, ep, 0)
	if err != nil {
		return fmt.Errorf("failed to get the hashkv of endpoint %s: %w", ep, err)
	}
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return fmt.Errorf("failed to get the status of endpoint %s: %w", ep, err)
	}
	fmt.Fprintf(cfg.out(), "HashKV Summary:\n\tHashKV: %d\n\tEndpoint: %s\n\tTime taken to get hashkv: %v\n\tDB size: %s\n",
		h.Hash, ep, time.Since(start), siBytes(uint64(st.DbSize)))
	return nil
}

// siBytes prints a size in SI units: "830 B", "1.2 MB", "34 GB".
func siBytes(n uint64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := int(math.Floor(math.Log10(float64(n)) / 3))
	e = min(e, len(units)-1)
	v := math.Floor(float64(n)/math.Pow(1000, float64(e))*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[e])
	}
	return fmt.Sprintf("%.0f %s", v, units[e])
}
