package ctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
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
	cc.AddCommand(e.newCheckPerfCommand(), e.newCheckDatascaleCommand())
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
	return e.dialClients(spec, n)
}

// dialClients dials n clients with spec; the function returned closes them.
func (e *env) dialClients(spec *clientv3.ConfigSpec, n int) ([]*clientv3.Client, func(), error) {
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

	if err := e.checkCleanup(clients[0], o); err != nil {
		return err
	}

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

// checkCleanup deletes "check perf"'s keys (a failure is reported and
// skips compaction, not defragmentation) and then compacts and defragments
// as asked, as etcdctl does.
func (e *env) checkCleanup(cli *clientv3.Client, o *checkOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	resp, err := cli.Delete(ctx, o.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		fmt.Fprintf(e.stdout, "FAIL: Cleanup failed during key deletion: ERROR(%v)\n", err)
	} else if o.autoCompact {
		if err := e.checkCompact(cli, resp.Header.Revision); err != nil {
			return err
		}
	}
	return e.checkDefrag(cli, o)
}

// checkCompact compacts physically to rev; as in etcdctl, a failure ends
// the check with exit status 1 before its verdict.
func (e *env) checkCompact(cli *clientv3.Client, rev int64) error {
	fmt.Fprintf(e.stdout, "Compacting with revision %d\n", rev)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	cancel()
	if err != nil {
		return fail(ExitError, err)
	}
	fmt.Fprintf(e.stdout, "Compacted with revision %d\n", rev)
	return nil
}

// checkDefrag defragments every endpoint when --auto-defrag is set; the
// first failure ends the check with exit status 1.
func (e *env) checkDefrag(cli *clientv3.Client, o *checkOptions) error {
	if !o.autoDefrag {
		return nil
	}
	for _, ep := range cli.Endpoints() {
		fmt.Fprintf(e.stdout, "Defragmenting %q\n", ep)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Defragment(ctx, ep)
		cancel()
		if err != nil {
			return fail(ExitError, err)
		}
		fmt.Fprintf(e.stdout, "Defragmented %q\n", ep)
	}
	return nil
}

// checkDatascaleKeysEnv shrinks "check datascale" for tests: a count of
// key-value pairs that replaces the load's. Like checkDurationEnv it is read
// by this command only and is not documented to users.
const checkDatascaleKeysEnv = "BASALT_CTL_CHECK_DATASCALE_KEYS"

// datascaleLoad is one "check datascale" workload: how many key-value
// pairs are written, their size, and the clients that share the writes.
type datascaleLoad struct {
	keys    int
	kvSize  int
	clients int
}

// etcdctl's workloads. kvSize is what the report states; the pairs written
// are a 512-byte key (after the prefix) and a 512-byte value.
var datascaleLoads = map[string]datascaleLoad{
	"s":  {keys: 10000, kvSize: 1024, clients: 50},
	"m":  {keys: 100000, kvSize: 1024, clients: 200},
	"l":  {keys: 1000000, kvSize: 1024, clients: 500},
	"xl": {keys: 3000000, kvSize: 1024, clients: 1000},
}

func (e *env) newCheckDatascaleCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "datascale [options]",
		Short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
		Long:  "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
	}
	o.register(cmd, "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)",
		"/etcdctl-check-datascale/", "The prefix for writing the datascale check's keys.")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error { return e.checkDatascale(cmd, &o) })
	return cmd
}

// checkDatascale writes the load's keys and reports how much the first
// endpoint's resident memory grew meanwhile, read from its /metrics.
func (e *env) checkDatascale(cmd *cobra.Command, o *checkOptions) error {
	model, ok := loadAliases[o.load]
	if !ok {
		return failf(ExitBadFeature, "unknown load option %v", o.load)
	}
	load := datascaleLoads[model]
	if v := os.Getenv(checkDatascaleKeysEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return failf(ExitBadArgs, "%s: %q is not a count of keys", checkDatascaleKeysEnv, v)
		}
		load.keys = n
	}

	spec, err := e.clientSpec(cmd)
	if err != nil {
		return err
	}
	clients, closeAll, err := e.dialClients(spec, load.clients)
	if err != nil {
		return err
	}
	defer closeAll()
	if len(spec.Endpoints) == 0 {
		return fail(ExitError, errors.New("no endpoint to read metrics from"))
	}
	metricsHost := spec.Endpoints[0]

	if err := e.ensureEmptyPrefix(context.Background(), clients[0], o.prefix, "etcdctl del --prefix "+o.prefix); err != nil {
		return err
	}

	before := e.residentMemory(metricsHost, spec.Secure)
	if before == 0 {
		fmt.Fprintln(e.stdout, "FAIL: Could not read process_resident_memory_bytes before the put operations.")
		return exitQuietly(ExitError)
	}
	fmt.Fprintf(e.stdout, "Start data scale check for work load [%v key-value pairs, %v bytes per key-value, %v concurrent clients].\n",
		load.keys, load.kvSize, load.clients)

	key := make([]byte, 512)
	val := string(make([]byte, 512))
	requests := make(chan clientv3.Op, load.clients)
	stats := newLatencyStats()
	bar := e.newProgressBar(load.keys)
	var barMu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for op := range requests {
				start := time.Now()
				_, err := c.Do(context.Background(), op)
				stats.add(time.Since(start), err)
				barMu.Lock()
				bar.add(1)
				barMu.Unlock()
			}
		})
	}
	go func() {
		defer close(requests)
		for range load.keys {
			binary.PutVarint(key, rand.Int64N(math.MaxInt64))
			requests <- clientv3.OpPut(o.prefix+string(key), val)
		}
	}()
	wg.Wait()
	bar.finish()
	s := stats.summary()

	after := e.residentMemory(metricsHost, spec.Secure)
	if after == 0 {
		// As etcdctl, this leaves the keys in place.
		fmt.Fprintln(e.stdout, "FAIL: Could not read process_resident_memory_bytes after the put operations.")
		return exitQuietly(ExitError)
	}

	resp, err := clients[0].Delete(context.Background(), o.prefix, clientv3.WithPrefix())
	if err != nil {
		return fail(ExitError, err)
	}
	if o.autoCompact {
		if err := e.checkCompact(clients[0], resp.Header.Revision); err != nil {
			return err
		}
	}
	if err := e.checkDefrag(clients[0], o); err != nil {
		return err
	}

	if len(s.errors) != 0 {
		fmt.Fprintln(e.stdout, "FAIL: too many errors")
		for _, k := range sortedKeys(s.errors) {
			fmt.Fprintf(e.stdout, "FAIL: ERROR(%v) -> %d\n", k, s.errors[k])
		}
		return exitQuietly(ExitError)
	}
	mbUsed := (after - before) / (1024 * 1024)
	fmt.Fprintf(e.stdout, "PASS: Approximate system memory used : %v MB.\n", strconv.FormatFloat(mbUsed, 'f', 2, 64))
	return nil
}

const residentMemoryMetric = "process_resident_memory_bytes"

// residentMemory reads process_resident_memory_bytes from host's /metrics
// (http:// is assumed when host has no scheme). As etcdctl, it prints what
// went wrong on stdout and returns 0.
func (e *env) residentMemory(host string, sec *clientv3.SecureConfig) float64 {
	if !strings.HasPrefix(host, "http://") && !strings.HasPrefix(host, "https://") {
		host = "http://" + host
	}
	url := host + "/metrics"
	hc := &http.Client{}
	if strings.HasPrefix(host, "https://") {
		cert, err := tls.LoadX509KeyPair(sec.Cert, sec.Key)
		if err != nil {
			fmt.Fprintf(e.stdout, "client certificate error: %v\n", err)
			return 0
		}
		tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: sec.InsecureSkipVerify}
		// etcdctl trusts only the system's roots here; --cacert is added
		// so that a cluster with its own CA can be checked.
		if sec.Cacert != "" {
			pem, err := os.ReadFile(sec.Cacert)
			if err != nil {
				fmt.Fprintf(e.stdout, "client certificate error: %v\n", err)
				return 0
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
			tlsCfg.RootCAs = roots
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsCfg
		hc.Transport = tr
		defer tr.CloseIdleConnections()
	}
	resp, err := hc.Get(url)
	if err != nil {
		fmt.Fprintf(e.stdout, "fetch error: %v\n", err)
		return 0
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fmt.Fprintf(e.stdout, "fetch error: reading %s: %v\n", url, err)
		return 0
	}
	value, found := "", false
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, residentMemoryMetric); ok {
			value, found = strings.TrimSpace(rest), true
			break
		}
	}
	if !found || value == "" {
		fmt.Fprintf(e.stdout, "could not find: %v\n", residentMemoryMetric)
		return 0
	}
	bytes, err := strconv.ParseFloat(value, 64)
	if err != nil {
		fmt.Fprintf(e.stdout, "parse error: %v\n", err)
		return 0
	}
	return bytes
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
