package backend

import (
	"io"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsObserved checks that each operation observes its metrics
// once: a commit its four histograms, a defragmentation its duration
// (and the in-flight gauge back to 0), a snapshot its life at Close; and
// that OpenReadTxN counts the read transactions a snapshot holds.
func TestMetricsObserved(t *testing.T) {
	b := openTest(t, Config{BatchInterval: time.Hour})
	commitHists := []prometheus.Histogram{commitSec, rebalanceSec, spillSec, writeSec}
	before := make([]uint64, len(commitHists))
	for i, h := range commitHists {
		before[i] = testutil.HistogramCount(t, h)
	}
	put(t, b, "k", "v")
	if err := b.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	for i, h := range commitHists {
		if got := testutil.HistogramCount(t, h) - before[i]; got != 1 {
			t.Errorf("commit histogram %d: %d observations, want 1", i, got)
		}
	}

	defrags := testutil.HistogramCount(t, defragSec)
	if _, err := b.Defrag(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.HistogramCount(t, defragSec) - defrags; got != 1 {
		t.Errorf("defrag: %d observations, want 1", got)
	}
	if v := promtest.ToFloat64(defragInflight); v != 0 {
		t.Errorf("defrag_inflight = %v after the defragmentation, want 0", v)
	}

	open := b.OpenReadTxN()
	if open < 1 {
		t.Errorf("OpenReadTxN = %d, want the read views' transaction at least", open)
	}
	snaps := testutil.HistogramCount(t, snapshotSec)
	s, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The commit before the snapshot ends the views' old transaction in
	// the background.
	testutil.WaitUntil(t, 5*time.Second, "OpenReadTxN to count the snapshot's transaction", func() bool {
		return b.OpenReadTxN() == open+1
	})
	if _, err := s.WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.HistogramCount(t, snapshotSec) - snaps; got != 1 {
		t.Errorf("snapshot: %d observations, want 1", got)
	}
	if got := b.OpenReadTxN(); got != open {
		t.Errorf("OpenReadTxN = %d after the snapshot closed, want %d", got, open)
	}
}
