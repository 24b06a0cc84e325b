package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/basaltkv/basalt/bench"
	"github.com/basaltkv/basalt/bench/report"
	"github.com/basaltkv/basalt/tests/e2e"
)

func TestMain(m *testing.M) { os.Exit(e2e.RunWithBinary(m)) }

// checkSummaries parses out and checks that it holds want summaries, each
// with a total, a request rate, every percentile and no errors.
func checkSummaries(t *testing.T, out string, want int) []report.Summary {
	t.Helper()
	all, err := report.ParseAll(out)
	if err != nil {
		t.Fatalf("parse output: %v\n%s", err, out)
	}
	if len(all) != want {
		t.Fatalf("got %d summaries, want %d:\n%s", len(all), want, out)
	}
	for i, s := range all {
		if s.Total <= 0 || s.RPS <= 0 {
			t.Errorf("summary %d: total %v, requests/sec %v:\n%s", i, s.Total, s.RPS, out)
		}
		if len(s.Histogram) != 11 {
			t.Errorf("summary %d: %d histogram buckets, want 11", i, len(s.Histogram))
		}
		for _, p := range report.PercentileRanks {
			if _, ok := s.Percentiles[p]; !ok {
				t.Errorf("summary %d: no %v%% percentile:\n%s", i, p, out)
			}
		}
		if s.Percentiles[50] > s.Percentiles[99] || s.Percentiles[99] > s.Slowest {
			t.Errorf("summary %d: percentiles out of order: %v, slowest %v", i, s.Percentiles, s.Slowest)
		}
		if len(s.Errors) > 0 {
			t.Errorf("summary %d: errors %v", i, s.Errors)
		}
	}
	return all
}

func histogramTotal(s report.Summary) int {
	n := 0
	for _, b := range s.Histogram {
		n += b.Count
	}
	return n
}

func TestWorkloadsAgainstBasalt(t *testing.T) {
	c := e2e.NewCluster(t, 1, nil)
	ep := c.Members[0].ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newConfig := func(out *bytes.Buffer) *bench.Config {
		return &bench.Config{Endpoints: []string{ep}, Conns: 2, Clients: 4, Out: out, DialTimeout: 5 * time.Second}
	}

	t.Run("put", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.DefaultPutOptions()
		o.Total, o.ValSize, o.KeySpaceSize, o.SequentialKeys = 200, 256, 100, true
		if err := bench.Put(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		s := checkSummaries(t, out.String(), 1)[0]
		if n := histogramTotal(s); n != o.Total {
			t.Errorf("histogram counts %d requests, want %d", n, o.Total)
		}
		resp, err := c.Client(t).Get(ctx, "\x00", clientv3WithFromKey()...)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count != 100 {
			t.Errorf("put wrote %d keys, want 100", resp.Count)
		}
	})
	for _, consistency := range []string{"l", "s"} {
		t.Run("range-"+consistency, func(t *testing.T) {
			var out bytes.Buffer
			o := bench.DefaultRangeOptions()
			o.Total, o.Consistency = 200, consistency
			if err := bench.Range(ctx, newConfig(&out), "foo", "", o); err != nil {
				t.Fatal(err)
			}
			banner := map[string]string{"l": "bench with linearizable range\n", "s": "bench with serializable range\n"}[consistency]
			if !strings.HasPrefix(out.String(), banner) {
				t.Errorf("output does not start with %q:\n%s", banner, out.String())
			}
			s := checkSummaries(t, out.String(), 1)[0]
			if n := histogramTotal(s); n != o.Total {
				t.Errorf("histogram counts %d requests, want %d", n, o.Total)
			}
		})
	}
	t.Run("txn-put", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.DefaultTxnPutOptions()
		o.Total, o.OpsPerTxn, o.KeySpaceSize = 50, 3, 10
		if err := bench.TxnPut(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		checkSummaries(t, out.String(), 1)
	})
	t.Run("txn-mixed", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.DefaultTxnMixedOptions()
		o.Total, o.RWRatio = 100, 1
		if err := bench.TxnMixed(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "Total Read Ops: ") || !strings.Contains(out.String(), "Total Write Ops: ") {
			t.Errorf("no op counts:\n%s", out.String())
		}
	})
	t.Run("lease-keepalive", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.LeaseKeepaliveOptions{Total: 100}
		if err := bench.LeaseKeepalive(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		checkSummaries(t, out.String(), 1)
	})
	t.Run("watch-latency", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.DefaultWatchLatencyOptions()
		o.Streams, o.WatchersPerStream, o.PutTotal, o.PutRate = 2, 5, 20, 1000
		if err := bench.WatchLatency(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		all := checkSummaries(t, out.String(), 2)
		if all[0].Title != "Put summary:" || all[1].Title != "Watch events summary:" {
			t.Errorf("titles %q, %q", all[0].Title, all[1].Title)
		}
		if n := histogramTotal(all[1]); n != 20*10 {
			t.Errorf("watch events: %d, want %d", n, 200)
		}
	})
	t.Run("watch", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.DefaultWatchOptions()
		o.Streams, o.WatchPerStream, o.WatchedKeyTotal, o.PutTotal = 2, 5, 3, 30
		if err := bench.Watch(ctx, newConfig(&out), o, nil); err != nil {
			t.Fatal(err)
		}
		all := checkSummaries(t, out.String(), 2)
		if n := histogramTotal(all[1]); n == 0 {
			t.Errorf("no watch events counted:\n%s", out.String())
		}
	})
	t.Run("watch-get", func(t *testing.T) {
		var out bytes.Buffer
		o := bench.WatchGetOptions{Watchers: 20, Streams: 2, Events: 4}
		if err := bench.WatchGet(ctx, newConfig(&out), o); err != nil {
			t.Fatal(err)
		}
		if _, err := report.ParseAll(out.String()); err != nil || !strings.Contains(out.String(), "Get during watch summary:") {
			t.Errorf("output: %v\n%s", err, out.String())
		}
	})
	t.Run("stm", func(t *testing.T) {
		for _, locker := range []string{"stm", "lock-client", "lock-rpc"} {
			var out bytes.Buffer
			o := bench.DefaultSTMOptions()
			o.Total, o.Keys, o.KeysPerTxn, o.Locker = 40, 5, 2, locker
			if err := bench.STM(ctx, newConfig(&out), o); err != nil {
				t.Fatalf("%s: %v", locker, err)
			}
			checkSummaries(t, out.String(), 1)
		}
	})
}

func TestMVCC(t *testing.T) {
	var out bytes.Buffer
	cfg := &bench.Config{Out: &out}
	mo := bench.DefaultMVCCOptions()
	mo.Dir = t.TempDir()
	po := bench.DefaultMVCCPutOptions()
	po.Txn, po.TxnOps, po.Total = true, 4, 50
	if err := bench.MVCCPut(cfg, mo, po); err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, out.String(), 1)
	out.Reset()
	ro := bench.MVCCRangeOptions{Total: 100, Keys: 500, RangeSize: 10, KeySize: 16, ValueSize: 16}
	if err := bench.MVCCRange(cfg, mo, ro); err != nil {
		t.Fatal(err)
	}
	checkSummaries(t, out.String(), 1)
	if entries, _ := os.ReadDir(mo.Dir); len(entries) != 0 {
		t.Errorf("mvcc left %d files behind", len(entries))
	}
}

func clientv3WithFromKey() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithFromKey(), clientv3.WithCountOnly()}
}
