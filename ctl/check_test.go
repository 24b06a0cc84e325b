package ctl_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// perfVerdict is etcdctl's "check perf" report: an optional error block,
// then throughput, slowest request and stddev, each passed or failed, then
// the verdict.
var perfVerdict = regexp.MustCompile(`^(FAIL: too many errors\n(FAIL: ERROR\(.*\) -> \d+\n)+)?` +
	`(PASS: Throughput is \d+ writes/s|FAIL: Throughput too low: \d+ writes/s)\n` +
	`(PASS: Slowest request took \d+\.\d{6}s|Slowest request took too long: \d+\.\d{6}s)\n` +
	`(PASS: Stddev is \d+\.\d{6}s|Stddev too high: \d+\.\d{6}s)\n` +
	`(PASS|FAIL)\n$`)

// TestCheckPerf runs a shortened "check perf" against one basalt member:
// the report has etcdctl's lines, the exit status matches the verdict, and
// the keys it wrote under the prefix are gone afterwards while others stay.
func TestCheckPerf(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	cli := client(t, ep)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/keep", "v"); err != nil {
		t.Fatal(err)
	}
	env := []string{"BASALT_CTL_CHECK_DURATION=2s"}

	r := runCtl(t, ctlPath(), a("--endpoints", ep, "check", "perf", "--prefix", "/perf/", "--auto-compact", "--auto-defrag"), "", env, 60*time.Second)
	out := r.stdout
	// Compaction and defragmentation report before the verdict.
	for _, line := range []string{"compacted revision ", "Finished defragmenting etcd member[" + ep + "]\n"} {
		i := strings.Index(out, line)
		if i < 0 {
			t.Fatalf("no %q in output:\n%s\nstderr:\n%s", line, out, r.stderr)
		}
		out = out[:i] + out[i+strings.Index(out[i:], "\n")+1:]
	}
	m := perfVerdict.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("report does not match etcdctl's:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if want := map[string]int{"PASS": 0, "FAIL": 1}[m[len(m)-1]]; r.code != want {
		t.Errorf("verdict %s exited %d, want %d", m[len(m)-1], r.code, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr (not a terminal, so no progress bar): %q", r.stderr)
	}
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != "/keep" {
		t.Errorf("after the check the keys are %v, want only /keep", resp.Kvs)
	}

	// A prefix that holds keys is refused before anything is written.
	r = runCtl(t, ctlPath(), a("--endpoints", ep, "check", "perf", "--prefix", "/ke"), "", env, 30*time.Second)
	if want := "Error: prefix \"/ke\" has keys. Delete with 'etcdctl del --prefix /ke' first\n"; r.code != 3 || r.stderr != want {
		t.Errorf("busy prefix: exit %d stderr %q, want 3 %q", r.code, r.stderr, want)
	}
	r = runCtl(t, ctlPath(), a("--endpoints", ep, "check", "perf", "--load", "huge"), "", env, 30*time.Second)
	if want := "Error: unknown load option huge\n"; r.code != 4 || r.stderr != want {
		t.Errorf("bad load: exit %d stderr %q, want 4 %q", r.code, r.stderr, want)
	}
}
