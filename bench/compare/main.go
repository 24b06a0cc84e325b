// Command compare runs the same basalt-bench workloads against etcd and
// basalt, side by side, and prints a markdown table of requests per
// second, p50 and p99 latency and the ratio basalt/etcd.
//
// Both servers run with identical flags on 127.0.0.1 (ports chosen by the
// OS, data dirs in one temporary directory), as 1-member and 3-member
// clusters; both clusters of a size are up together and every workload
// alternates between them (etcd, basalt, etcd, basalt, ...). After the
// workloads, each cluster is loaded with many keys, its largest member's
// RSS read from /proc/<pid>/status, and it is restarted: the restart time
// is from exec to the first successful linearizable Get.
//
//	go run ./bench/compare -smoke                 # about a minute
//	BENCH_SCALE=medium go run ./bench/compare     # about ten minutes
//	BENCH_SCALE=full go run ./bench/compare -write docs/performance.md
//
// Environment: ETCD_BIN (default /usr/bin/etcd), BENCH_SCALE (smoke,
// medium or full, default full), BENCH_ROUNDS (runs per server per workload),
// BENCH_SNAPSHOT_COUNT (--snapshot-count for both, default 100000).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/basaltkv/basalt/bench/report"
)

type options struct {
	scale         scale
	members       []int
	etcdBin       string
	basaltBin     string
	benchBin      string
	workDir       string
	keep          bool
	write         string
	snapshotCount string
	// only, when set, keeps the workloads whose name it matches; the RSS
	// and restart measures run when it matches gaugesName.
	only *regexp.Regexp
	// auth turns auth on in both clusters once seeded; the workloads run
	// as root (the RSS and restart measures are left out).
	auth bool
	// v2 starts both servers with --enable-v2 and adds the v2 keys API's
	// workloads (the reference must be etcd 3.4 or 3.5: later etcd has no
	// v2 API).
	v2 bool
}

// The user the workloads run as with -auth.
const authUser, authPassword = "root", "rootpw"

func main() {
	smoke := flag.Bool("smoke", false, "small run (about a minute): same as BENCH_SCALE=smoke")
	members := flag.String("members", "1,3", "cluster sizes to compare")
	write := flag.String("write", "", "also write the report (machine description and tables) to this markdown file")
	etcdBin := flag.String("etcd", envOr("ETCD_BIN", "/usr/bin/etcd"), "etcd binary")
	basaltBin := flag.String("basalt", "", "basalt binary (default: built from this repository)")
	benchBin := flag.String("bench", "", "basalt-bench binary (default: built from this repository)")
	workDir := flag.String("dir", "", "directory for binaries, data and logs (default: a new temporary directory)")
	keep := flag.Bool("keep", false, "keep the data dirs and logs")
	withAuth := flag.Bool("auth", false, "turn auth on in both clusters and run the workloads as root (no RSS and restart measures)")
	v2 := flag.Bool("v2", false, "start both servers with --enable-v2 and add the v2 keys API's workloads (needs an etcd with the v2 API: 3.4, 3.5)")
	only := flag.String("only", "", "run only the workloads whose name matches this regular expression, and the RSS and restart measures if it matches \""+gaugesName+"\"")
	flag.Parse()

	scaleName := envOr("BENCH_SCALE", "full")
	if *smoke {
		scaleName = "smoke"
	}
	sc, ok := scales[scaleName]
	if !ok {
		fatalf("unknown BENCH_SCALE %q: want smoke, medium or full", scaleName)
	}
	if r := os.Getenv("BENCH_ROUNDS"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 {
			fatalf("bad BENCH_ROUNDS %q", r)
		}
		sc.rounds = n
	}
	o := options{
		scale: sc, etcdBin: *etcdBin, basaltBin: *basaltBin, benchBin: *benchBin, workDir: *workDir,
		keep: *keep, write: *write, snapshotCount: envOr("BENCH_SNAPSHOT_COUNT", "100000"), auth: *withAuth, v2: *v2,
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fatalf("bad -only: %v", err)
		}
		o.only = re
	}
	for _, m := range strings.Split(*members, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(m))
		if err != nil || n < 1 {
			fatalf("bad -members %q", *members)
		}
		o.members = append(o.members, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

// gaugesName stands for the RSS and restart measures in -only.
const gaugesName = "rss-restart"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	started := time.Now()
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "basalt-compare-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	if err := buildBinaries(&o, dir); err != nil {
		return err
	}
	etcd := server{name: "etcd", bin: o.etcdBin}
	basalt := server{name: "basalt", bin: o.basaltBin}
	extra := []string{"--snapshot-count", o.snapshotCount}
	if o.v2 {
		extra = append(extra, "--enable-v2")
	}

	var rows []row
	var gauges []gauge
	for _, size := range o.members {
		r, g, err := compareSize(ctx, o, dir, size, etcd, basalt, extra)
		rows = append(rows, r...)
		gauges = append(gauges, g...)
		if err != nil {
			return err
		}
	}
	tables := renderTables(rows, gauges)
	fmt.Print(tables)
	logf("done in %s", time.Since(started).Round(time.Second))
	if o.write != "" {
		doc := describeMachine(o) + "\n" + tables
		if err := os.WriteFile(o.write, []byte(doc), 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.write)
	}
	return nil
}

// buildBinaries builds basalt and basalt-bench from this module unless
// given.
func buildBinaries(o *options, dir string) error {
	for _, b := range []struct {
		path *string
		pkg  string
	}{{&o.basaltBin, "cmd/basalt"}, {&o.benchBin, "cmd/basalt-bench"}} {
		if *b.path != "" {
			continue
		}
		out := filepath.Join(dir, filepath.Base(b.pkg))
		logf("building %s", b.pkg)
		cmd := exec.Command("go", "build", "-o", out, "github.com/basaltkv/basalt/"+b.pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, msg)
		}
		*b.path = out
	}
	if _, err := os.Stat(o.etcdBin); err != nil {
		return fmt.Errorf("etcd binary (set ETCD_BIN): %w", err)
	}
	return nil
}

// compareSize runs every workload, the RSS load and the restart on a
// size-member cluster of each server.
func compareSize(ctx context.Context, o options, dir string, size int, etcd, basalt server, extra []string) ([]row, []gauge, error) {
	servers := []server{etcd, basalt}
	clusters := make([]*cluster, len(servers))
	for i, srv := range servers {
		logf("starting a %d-member %s cluster", size, srv.name)
		c, err := startCluster(ctx, srv, filepath.Join(dir, fmt.Sprintf("%s-%d", srv.name, size)), size, extra)
		if err != nil {
			return nil, nil, err
		}
		defer c.kill()
		if err := seed(ctx, c); err != nil {
			return nil, nil, fmt.Errorf("%s: write %q: %w", srv.name, rangeKey, err)
		}
		if o.auth {
			if err := enableAuth(ctx, c); err != nil {
				return nil, nil, fmt.Errorf("%s: enable auth: %w", srv.name, err)
			}
		}
		clusters[i] = c
	}

	var rows []row
	ws := workloads(o.scale)
	if o.v2 {
		ws = append(ws, v2Workloads(o.scale)...)
	}
	for _, w := range ws {
		if o.only != nil && !o.only.MatchString(w.name) {
			continue
		}
		r := row{members: size, workload: w.name}
		for round := range o.scale.rounds {
			for i, c := range clusters {
				m := runWorkload(ctx, o, c, w)
				logf("[%d member(s)] %s, round %d, %s: %s", size, w.name, round+1, c.srv.name, describe(m))
				if i == 0 {
					r.etcd = append(r.etcd, m)
				} else {
					r.basalt = append(r.basalt, m)
				}
			}
		}
		rows = append(rows, r)
		if err := ctx.Err(); err != nil {
			return rows, nil, err
		}
	}

	if o.auth || o.only != nil && !o.only.MatchString(gaugesName) {
		return rows, nil, nil
	}
	rss := gauge{members: size, name: fmt.Sprintf("RSS after %s keys, largest member (MiB)", thousands(o.scale.rssKeys)), format: fmtMiB}
	restart := gauge{members: size, name: "restart after that load: exec to first linearizable Get (s)", format: fmtSeconds}
	for i, c := range clusters {
		load := rssLoad(o.scale.rssKeys)
		m := runWorkload(ctx, o, c, load)
		logf("[%d member(s)] load of %s keys, %s: %s", size, thousands(o.scale.rssKeys), c.srv.name, describe(m))
		rssBytes, err := c.maxRSS()
		value := math.NaN()
		if err == nil && !m.failed {
			value = float64(rssBytes)
		} else if err != nil {
			logf("%s: read RSS: %v", c.srv.name, err)
		}
		took, err := c.restart(ctx)
		secs := took.Seconds()
		if err != nil {
			logf("%s: restart: %v", c.srv.name, err)
			secs = math.NaN()
		}
		logf("[%d member(s)] %s RSS %s MiB, restart %s s", size, c.srv.name, fmtMiB(value), fmtSeconds(secs))
		if i == 0 {
			rss.etcd, restart.etcd = value, secs
		} else {
			rss.basalt, restart.basalt = value, secs
		}
	}
	for _, c := range clusters {
		c.stop()
	}
	return rows, []gauge{rss, restart}, nil
}

// seed writes the key the range workloads read.
func seed(ctx context.Context, c *cluster) error {
	cli, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = cli.Put(pctx, rangeKey, strings.Repeat("v", 256))
	return err
}

// runWorkload runs basalt-bench against c and reads the chosen summary.
func runWorkload(ctx context.Context, o options, c *cluster, w workload) measurement {
	args := []string{"--endpoints", strings.Join(c.endpoints(), ","), "--dial-timeout", "10s", "--precise"}
	if o.auth {
		args = append(args, "--user", authUser+":"+authPassword)
	}
	if w.leader {
		args = append(args, "--target-leader")
	}
	args = append(args, w.args...)
	timeout := 2 * time.Minute
	if o.scale.name == "full" {
		timeout = 30 * time.Minute
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, o.benchBin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		logf("%s %s: %v\n%s%s", c.srv.name, w.name, err, stderr.String(), c.logTail())
		return measurement{failed: true}
	}
	return measureOutput(string(out), w.summary)
}

// measureOutput reads the index-th summary of a basalt-bench output.
func measureOutput(out string, index int) measurement {
	all, err := report.ParseAll(out)
	if err != nil || index >= len(all) {
		logf("unreadable benchmark output (%v):\n%s", err, out)
		return measurement{failed: true}
	}
	s := all[index]
	m := measurement{rps: s.RPS, p50: s.Percentiles[50], p99: s.Percentiles[99]}
	for _, n := range s.Errors {
		m.errors += n
	}
	if len(s.Percentiles) == 0 {
		m.failed = true
	}
	return m
}

func describe(m measurement) string {
	if m.failed {
		return "failed"
	}
	s := fmt.Sprintf("%s req/s, p50 %s ms, p99 %s ms", fmtRPS(m.rps), fmtMillis(m.p50), fmtMillis(m.p99))
	if m.errors > 0 {
		s += fmt.Sprintf(", %d errors", m.errors)
	}
	return s
}

// enableAuth adds root and turns auth on.
func enableAuth(ctx context.Context, c *cluster) error {
	cli, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(actx, authUser, authPassword); err != nil {
		return err
	}
	if _, err := cli.RoleAdd(actx, "root"); err != nil {
		return err
	}
	if _, err := cli.UserGrantRole(actx, authUser, "root"); err != nil {
		return err
	}
	_, err = cli.AuthEnable(actx)
	return err
}
