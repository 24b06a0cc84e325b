package ctl

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"
)

// checkDurationEnv shortens "check perf" for tests: a Go duration that
// replaces its 60 s run. It is read by this command only and is not
// documented to users; etcdctl has no such knob.
const checkDurationEnv = "BASALT_CTL_CHECK_DURATION"

// perfLoad is one "check perf" workload: a write rate, the clients that
// share it, and how long it runs.
type perfLoad struct {
	writesPerSec int
	clients      int
	duration     time.Duration
}

// etcdctl's workloads.
var perfLoads = map[string]perfLoad{
	"s":  {writesPerSec: 150, clients: 50, duration: 60 * time.Second},
	"m":  {writesPerSec: 1000, clients: 200, duration: 60 * time.Second},
	"l":  {writesPerSec: 8000, clients: 500, duration: 60 * time.Second},
	"xl": {writesPerSec: 15000, clients: 1000, duration: 60 * time.Second},
}

// loadAliases maps every accepted --load spelling to its short name.
var loadAliases = map[string]string{
	"s": "s", "small": "s",
	"m": "m", "medium": "m",
	"l": "l", "large": "l",
	"xl": "xl", "xLarge": "xl",
}

func (e *env) newCheckCommand() *cobra.Command {
	cc := &cobra.Command{
		Use:     "check <subcommand>",
		Short:   "commands for checking properties of the etcd cluster. Use `etcdctl check --help` to see subcommands",
		Long:    "commands for checking properties of the etcd cluster",
		GroupID: groupUtility,
	}
	cc.AddCommand(e.newCheckPerfCommand())
	return cc
}

// checkOptions are the flags "check perf" and "check datascale" share.
type checkOptions struct {
	load        string
	prefix      string
	autoCompact bool
	autoDefrag  bool
}

func (o *checkOptions) register(cmd *cobra.Command, loadUsage, defaultPrefix, prefixUsage string) {
	cmd.Flags().StringVar(&o.load, "load", "s", loadUsage)
	cmd.Flags().StringVar(&o.prefix, "prefix", defaultPrefix, prefixUsage)
	cmd.Flags().BoolVar(&o.autoCompact, "auto-compact", false, "Compact storage with last revision after test is finished.")
	cmd.Flags().BoolVar(&o.autoDefrag, "auto-defrag", false, "Defragment storage after test is finished.")
}

func (e *env) newCheckPerfCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "perf [options]",
		Short: "Check the performance of the etcd cluster",
	}
	o.register(cmd, "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge). Different workload models use different configurations in terms of number of clients and expected throughput.",
		"/etcdctl-check-perf/", "The prefix for writing the performance check's keys.")
	cmd.RegisterFlagCompletionFunc("load", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"small", "medium", "large", "xLarge"}, cobra.ShellCompDirectiveDefault
	})
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error { return e.checkPerf(cmd, &o) })
	return cmd
}

// checkClients dials n clients, as etcdctl gives each worker its own
// connection.
func (e *env) checkClients(cmd *cobra.Command, n int) ([]*clientv3.Client, func(), error) {
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return nil, nil, err
	}
	clients := make([]*clientv3.Client, 0, n)
	closeAll := func() {
		for _, c := range clients {
			c.Close()
		}
	}
	for range n {
		c, err := e.dial(spec)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		clients = append(clients, c)
	}
	return clients, closeAll, nil
}

// ensureEmptyPrefix refuses to run over keys a check would delete.
func (e *env) ensureEmptyPrefix(ctx context.Context, cli *clientv3.Client, prefix, hint string) error {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		return fail(ExitError, err)
	}
	if len(resp.Kvs) > 0 {
		return failf(ExitInvalidInput, "prefix %q has keys. Delete with %s first", prefix, hint)
	}
	return nil
}

func (e *env) checkPerf(cmd *cobra.Command, o *checkOptions) error {
	model, ok := loadAliases[o.load]
	if !ok {
		return failf(ExitBadFeature, "unknown load option %v", o.load)
	}
	load := perfLoads[model]
	if d := os.Getenv(checkDurationEnv); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil {
			return failf(ExitBadArgs, "%s: %v", checkDurationEnv, err)
		}
		load.duration = v
	}

	clients, closeAll, err := e.checkClients(cmd, load.clients)
	if err != nil {
		return err
	}
	defer closeAll()

	ctx, cancel := context.WithTimeout(context.Background(), load.duration)
	defer cancel()
	// An interrupt ends the run early; the keys are still cleaned up below.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	if err := e.ensureEmptyPrefix(ctx, clients[0], o.prefix, fmt.Sprintf("'etcdctl del --prefix %s'", o.prefix)); err != nil {
		return err
	}

	key := make([]byte, 256)
	val := string(make([]byte, 1024))
	requests := make(chan clientv3.Op, load.clients)
	stats := newLatencyStats()
	bar := e.newProgressBar(int(load.duration / time.Second))

	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for op := range requests {
				start := time.Now()
				_, err := c.Do(context.Background(), op)
				stats.add(time.Since(start), err)
			}
		})
	}
	go func() {
		defer close(requests)
		tick := time.NewTicker(time.Second / time.Duration(load.writesPerSec))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			binary.PutVarint(key, rand.Int64N(math.MaxInt64))
			requests <- clientv3.OpPut(o.prefix+string(key), val)
		}
	}()
	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		sec := time.NewTicker(time.Second)
		defer sec.Stop()
		for {
			select {
			case <-ctx.Done():
				bar.finish()
				return
			case <-sec.C:
				bar.add(1)
			}
		}
	}()
	wg.Wait()
	<-barDone
	s := stats.summary()

	e.checkCleanup(clients[0], o)

	ok = true
	if len(s.errors) != 0 {
		fmt.Fprintln(e.stdout, "FAIL: too many errors")
		for _, k := range sortedKeys(s.errors) {
			fmt.Fprintf(e.stdout, "FAIL: ERROR(%v) -> %d\n", k, s.errors[k])
		}
		ok = false
	}
	if s.rps/float64(load.writesPerSec) <= 0.9 {
		fmt.Fprintf(e.stdout, "FAIL: Throughput too low: %d writes/s\n", int(s.rps)+1)
		ok = false
	} else {
		fmt.Fprintf(e.stdout, "PASS: Throughput is %d writes/s\n", int(s.rps)+1)
	}
	if s.slowest > 0.5 {
		fmt.Fprintf(e.stdout, "Slowest request took too long: %fs\n", s.slowest)
		ok = false
	} else {
		fmt.Fprintf(e.stdout, "PASS: Slowest request took %fs\n", s.slowest)
	}
	if s.stddev > 0.1 {
		fmt.Fprintf(e.stdout, "Stddev too high: %fs\n", s.stddev)
		ok = false
	} else {
		fmt.Fprintf(e.stdout, "PASS: Stddev is %fs\n", s.stddev)
	}
	if !ok {
		fmt.Fprintln(e.stdout, "FAIL")
		return exitQuietly(ExitError)
	}
	fmt.Fprintln(e.stdout, "PASS")
	return nil
}

// checkCleanup deletes the check's keys and, as asked, compacts to the
// deletion's revision and defragments every endpoint. Failures are
// reported but do not change the verdict, as in etcdctl.
func (e *env) checkCleanup(cli *clientv3.Client, o *checkOptions) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Delete(ctx, o.prefix, clientv3.WithPrefix())
	if err != nil {
		fmt.Fprintf(e.stdout, "FAIL: Cleanup failed during key deletion: ERROR(%v)\n", err)
		return
	}
	e.checkCompactDefrag(cli, o, resp.Header.Revision)
}

func (e *env) checkCompactDefrag(cli *clientv3.Client, o *checkOptions, rev int64) {
	if o.autoCompact {
		ctx, cancel := e.commandCtx()
		_, err := cli.Compact(ctx, rev)
		cancel()
		if err != nil {
			fmt.Fprintln(e.stderr, "Error:", err)
		} else {
			fmt.Fprintf(e.stdout, "compacted revision %v\n", rev)
		}
	}
	if o.autoDefrag {
		for _, ep := range cli.Endpoints() {
			ctx, cancel := e.commandCtx()
			_, err := cli.Defragment(ctx, ep)
			cancel()
			if err != nil {
				fmt.Fprintf(e.stderr, "Failed to defragment etcd member[%s] (%v)\n", ep, err)
			} else {
				fmt.Fprintf(e.stdout, "Finished defragmenting etcd member[%s]\n", ep)
			}
		}
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// latencyStats gathers request latencies and errors from many workers.
type latencyStats struct {
	start time.Time
	mu    struct {
		sync.Mutex
		lats   []time.Duration
		errors map[string]int
	}
}

func newLatencyStats() *latencyStats {
	s := &latencyStats{start: time.Now()}
	s.mu.errors = map[string]int{}
	return s
}

func (s *latencyStats) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.mu.errors[err.Error()]++
		return
	}
	s.mu.lats = append(s.mu.lats, d)
}

// latencySummary is in seconds, as etcdctl prints it.
type latencySummary struct {
	rps, slowest, stddev float64
	errors               map[string]int
}

func (s *latencyStats) summary() latencySummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := latencySummary{errors: s.mu.errors}
	total := time.Since(s.start).Seconds()
	if total > 0 {
		sum.rps = float64(len(s.mu.lats)) / total
	}
	if len(s.mu.lats) == 0 {
		return sum
	}
	var mean float64
	for _, d := range s.mu.lats {
		sec := d.Seconds()
		mean += sec
		sum.slowest = max(sum.slowest, sec)
	}
	mean /= float64(len(s.mu.lats))
	var variance float64
	for _, d := range s.mu.lats {
		diff := d.Seconds() - mean
		variance += diff * diff
	}
	sum.stddev = math.Sqrt(variance / float64(len(s.mu.lats)))
	return sum
}

// progressBar draws on stderr, and only when stderr is a terminal, so
// that piped or captured output holds the verdict lines alone.
type progressBar struct {
	w          io.Writer // nil: not a terminal
	total, cur int
}

func (e *env) newProgressBar(total int) *progressBar {
	b := &progressBar{total: total}
	if f, ok := e.stderr.(*os.File); ok && isTerminal(f) {
		b.w = f
		b.draw()
	}
	return b
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (b *progressBar) add(n int) {
	b.cur = min(b.cur+n, b.total)
	b.draw()
}

func (b *progressBar) finish() {
	if b.w != nil {
		b.draw()
		fmt.Fprintln(b.w)
	}
}

func (b *progressBar) draw() {
	if b.w == nil {
		return
	}
	const width = 40
	filled, pct := width, 100
	if b.total > 0 {
		filled = width * b.cur / b.total
		pct = 100 * b.cur / b.total
	}
	fmt.Fprintf(b.w, "\r%d / %d [%s%s] %3d%%", b.cur, b.total,
		strings.Repeat("=", filled), strings.Repeat("-", width-filled), pct)
}
