package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/bench/report"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tbasalt\nVmPeak:\t 100 kB\nVmRSS:\t   51234 kB\nThreads: 9\n", 51234 * 1024, true},
		{"Name:\tbasalt\n", 0, false},
		{"VmRSS:\t 12 MB\n", 0, false},
		{"VmRSS:\t x kB\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseVmRSS(strings.NewReader(tt.status))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, ok=%v", tt.status, got, err, tt.want, tt.ok)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", 100000: "100,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMeasureOutput(t *testing.T) {
	sum := func(lats ...float64) string {
		return report.Format(report.Compute(lats, time.Second), report.Options{Precise: true})
	}
	out := "\nPut summary:\n" + sum(0.5) + "\nWatch events summary:\n" + sum(0.001, 0.002, 0.003, 0.004)
	m := measureOutput(out, 1)
	if m.failed || m.rps != 4 || m.p50 != 0.003 || m.p99 != 0.004 {
		t.Errorf("watch summary: %+v", m)
	}
	if m := measureOutput(out, 0); m.failed || m.rps != 1 || m.p99 != 0.5 {
		t.Errorf("put summary: %+v", m)
	}
	if m := measureOutput(out, 2); !m.failed {
		t.Errorf("a missing summary did not fail: %+v", m)
	}
	withErrs := report.Compute([]float64{0.1}, time.Second)
	withErrs.ErrorDist = map[string]int{"etcdserver: too many requests": 3}
	if m := measureOutput(report.Format(withErrs, report.Options{}), 0); m.errors != 3 {
		t.Errorf("errors: %+v", m)
	}
}

func TestRenderTables(t *testing.T) {
	rows := []row{
		{members: 1, workload: "put, 1 client(s)",
			etcd:   []measurement{{rps: 1000, p50: 0.001, p99: 0.004}, {rps: 3000, p50: 0.003, p99: 0.006}},
			basalt: []measurement{{rps: 3000, p50: 0.001, p99: 0.002}, {failed: true}}},
		{members: 3, workload: "range", etcd: []measurement{{failed: true}}, basalt: []measurement{{rps: 10, p50: 0.1, p99: 0.2, errors: 2}}},
	}
	gauges := []gauge{{members: 1, name: "RSS (MiB)", etcd: 100 << 20, basalt: 50 << 20, format: fmtMiB},
		{members: 1, name: "restart (s)", etcd: 2, basalt: math.NaN(), format: fmtSeconds}}
	got := renderTables(rows, gauges)
	for _, want := range []string{
		"| 1 | put, 1 client(s) | 2,000 | 3,000 | 1.50 | 2.00 | 1.00 | 0.50 | 5.00 | 2.00 | 0.40 |\n",
		"| 3 | range | fail | 10 | – | fail | 100.00 | – | fail | 200.00 | – |\n",
		"| 1 | RSS (MiB) | 100.0 | 50.0 | 0.50 |\n",
		"| 1 | restart (s) | 2.00 | fail | – |\n",
		"- 1 member(s), put, 1 client(s): 1 of 2 basalt runs failed\n",
		"- 3 member(s), range: basalt answered 2 requests with errors\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack %q:\n%s", want, got)
		}
	}
}

func TestIdenticalFlags(t *testing.T) {
	// Both servers get one argument list; it must be etcd's flag set.
	args := memberArgs("m0", "/d/m0.etcd", "http://127.0.0.1:1", "http://127.0.0.1:2", "m0=http://127.0.0.1:2", "tok", []string{"--snapshot-count", "100"})
	want := "--name m0 --data-dir /d/m0.etcd --listen-client-urls http://127.0.0.1:1 --advertise-client-urls http://127.0.0.1:1 " +
		"--listen-peer-urls http://127.0.0.1:2 --initial-advertise-peer-urls http://127.0.0.1:2 --initial-cluster m0=http://127.0.0.1:2 " +
		"--initial-cluster-token tok --initial-cluster-state new --snapshot-count 100"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("args:\n%s\nwant\n%s", got, want)
	}
	for _, w := range workloads(scales["smoke"]) {
		if len(w.args) == 0 || strings.HasPrefix(w.args[0], "--endpoints") {
			t.Errorf("%s: bad args %v", w.name, w.args)
		}
	}
}
