package ctl_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
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
	// Compaction and defragmentation report before the verdict, as
	// etcdctl 3.7's shared check helpers print them.
	for _, line := range []string{"Compacting with revision ", "Compacted with revision ", "Defragmenting \"" + ep + "\"\n", "Defragmented \"" + ep + "\"\n"} {
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

// datascaleReport is "check datascale"'s output with --auto-compact and
// --auto-defrag against one endpoint (quoted as %q by etcdctl).
func datascaleReport(keys int, ep string) *regexp.Regexp {
	return regexp.MustCompile(`^Start data scale check for work load \[` + strconv.Itoa(keys) +
		` key-value pairs, 1024 bytes per key-value, 50 concurrent clients\]\.\n` +
		`Compacting with revision (\d+)\n` +
		`Compacted with revision (\d+)\n` +
		`Defragmenting ` + regexp.QuoteMeta(strconv.Quote(ep)) + `\n` +
		`Defragmented ` + regexp.QuoteMeta(strconv.Quote(ep)) + `\n` +
		`PASS: Approximate system memory used : -?\d+\.\d\d MB\.\n$`)
}

// TestCheckDatascale runs "check datascale" with the small load (10000
// pairs, a few seconds) against one basalt member, which serves /metrics
// with the process collector on its client URL: the report has etcdctl's
// lines, the keys are gone afterwards, the history is compacted to the
// deletion's revision, and other keys stay.
func TestCheckDatascale(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	cli := client(t, ep)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/keep", "v"); err != nil {
		t.Fatal(err)
	}
	const keys = 10000

	r := runCtl(t, ctlPath(), a("--endpoints", ep, "check", "datascale", "--prefix", "/ds/", "--auto-compact", "--auto-defrag"), "", nil, 120*time.Second)
	m := datascaleReport(keys, ep).FindStringSubmatch(r.stdout)
	if m == nil || r.code != 0 || r.stderr != "" {
		t.Fatalf("report does not match etcdctl's (exit %d):\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if m[1] != m[2] {
		t.Errorf("compacting with revision %s, compacted with %s", m[1], m[2])
	}
	rev, _ := strconv.ParseInt(m[1], 10, 64)
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != "/keep" {
		t.Errorf("after the check the keys are %v, want only /keep", resp.Kvs)
	}
	// The pairs were written one revision each, then deleted at rev.
	if want := int64(2 + keys + 1); rev != want || resp.Header.Revision != want {
		t.Errorf("compacted at %d, store at revision %d; want both %d", rev, resp.Header.Revision, want)
	}
	if _, err := cli.Get(ctx, "/keep", clientv3.WithRev(rev-1)); err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Errorf("read below the compaction revision: %v, want compacted", err)
	}

	// Refusals before anything is written.
	for _, tt := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{a("--prefix", "/ke"), 3, "Error: prefix \"/ke\" has keys. Delete with etcdctl del --prefix /ke first\n"},
		{a("--load", "huge"), 4, "Error: unknown load option huge\n"},
		{a("--load", "xLarge", "--prefix", "/ke"), 3, "Error: prefix \"/ke\" has keys. Delete with etcdctl del --prefix /ke first\n"},
	} {
		r := runCtl(t, ctlPath(), append(a("--endpoints", ep, "check", "datascale"), tt.args...), "", nil, 30*time.Second)
		if r.code != tt.code || r.stdout != "" || r.stderr != tt.wantStderr {
			t.Errorf("%q: exit %d stdout %q stderr %q, want %d and %q", tt.args, r.code, r.stdout, r.stderr, tt.code, tt.wantStderr)
		}
	}
	r = runCtl(t, ctlPath(), a("--endpoints", ep, "check", "datascale"), "", []string{"BASALT_CTL_CHECK_DATASCALE_KEYS=many"}, 30*time.Second)
	if r.code != 128 || r.stderr != "Error: BASALT_CTL_CHECK_DATASCALE_KEYS: \"many\" is not a count of keys\n" {
		t.Errorf("bad key count: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestCheckDatascaleMetricsErrors: the memory is read from the first
// endpoint only. When that endpoint has no usable /metrics (nothing
// listening, a page without the metric, a bad value, or a metric that is
// gone after the writes) etcdctl's message and FAIL line are printed on
// stdout and the exit status is 1. A failure before the writes writes
// nothing; one after them leaves the keys, as etcdctl does. The gRPC
// requests go to the second endpoint, a basalt member.
func TestCheckDatascaleMetricsErrors(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	cli := client(t, ep)
	ports, err := e2e.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	dead := "127.0.0.1:" + strconv.Itoa(ports[0])
	// metricsPage serves pages at /metrics in turn, repeating the last.
	metricsPage := func(pages ...string) string {
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The gRPC client's attempts to use this endpoint are not
			// page reads.
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			mu.Lock()
			page := pages[0]
			if len(pages) > 1 {
				pages = pages[1:]
			}
			mu.Unlock()
			io.WriteString(w, page)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	const good = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 2.5e+07\n"
	const before = "FAIL: Could not read process_resident_memory_bytes before the put operations.\n"
	const after = "FAIL: Could not read process_resident_memory_bytes after the put operations.\n"
	tests := []struct {
		name      string
		first     string
		wantOut   *regexp.Regexp
		keysAfter int64
	}{
		{"nothing listening", dead,
			regexp.MustCompile(`^fetch error: Get "http://` + regexp.QuoteMeta(dead) + `/metrics": dial tcp ` + regexp.QuoteMeta(dead) + `: connect: connection refused\n` + regexp.QuoteMeta(before) + `$`), 0},
		{"no metric", metricsPage("go_goroutines 8\n"),
			regexp.MustCompile(`^could not find: process_resident_memory_bytes\n` + regexp.QuoteMeta(before) + `$`), 0},
		{"bad value", metricsPage("process_resident_memory_bytes lots\n"),
			regexp.MustCompile(`^parse error: strconv.ParseFloat: parsing "lots": invalid syntax\n` + regexp.QuoteMeta(before) + `$`), 0},
		{"gone after the writes", metricsPage(good, "go_goroutines 8\n"),
			regexp.MustCompile(`^Start data scale check for work load \[20 key-value pairs, 1024 bytes per key-value, 50 concurrent clients\]\.\n` +
				`could not find: process_resident_memory_bytes\n` + regexp.QuoteMeta(after) + `$`), 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := "/ds" + strconv.Itoa(i) + "/"
			r := runCtl(t, ctlPath(), a("--endpoints", tt.first+","+ep, "check", "datascale", "--prefix", prefix),
				"", []string{"BASALT_CTL_CHECK_DATASCALE_KEYS=20"}, 60*time.Second)
			if r.code != 1 || !tt.wantOut.MatchString(r.stdout) || errorLine(r.stderr) != "" {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 1 and stdout matching %s", r.code, r.stdout, r.stderr, tt.wantOut)
			}
			resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Count != tt.keysAfter {
				t.Errorf("%d keys under %s after the check, want %d", resp.Count, prefix, tt.keysAfter)
			}
		})
	}
}

// TestCheckDatascaleTLS reads /metrics over https with the client
// certificate, trusting --cacert (etcdctl trusts only the system's roots
// there, so it needs --insecure-skip-tls-verify for a private CA).
func TestCheckDatascaleTLS(t *testing.T) {
	c, ep, _ := newCluster(t, 1, &e2e.Options{ClientTLS: e2e.MutualTLS})
	certs := c.Certs
	tls := a("--cacert", certs.CA.CertFile, "--cert", certs.Client.CertFile, "--key", certs.Client.KeyFile)
	env := []string{"BASALT_CTL_CHECK_DATASCALE_KEYS=200"}
	r := runCtl(t, ctlPath(), append(append(a("--endpoints", ep), tls...), "check", "datascale"), "", env, 60*time.Second)
	want := regexp.MustCompile(`^Start data scale check for work load \[200 key-value pairs, 1024 bytes per key-value, 50 concurrent clients\]\.\n` +
		`PASS: Approximate system memory used : -?\d+\.\d\d MB\.\n$`)
	if r.code != 0 || !want.MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("over TLS: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
