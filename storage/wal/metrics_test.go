package wal

import (
	"testing"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft/raftpb"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsObserved: a Save that must sync is one write and one fsync,
// and the bytes counted are the bytes appended; a segment cut counts its
// header records too.
func TestMetricsObserved(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(4096))
	defer w.Close()
	written := func() uint64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.mu.written
	}
	writes, fsyncs := testutil.HistogramCount(t, writeSec), testutil.HistogramCount(t, fsyncSec)
	bytes, pos := promtest.ToFloat64(writeBytes), written()
	if err := w.Save(raftpb.HardState{Term: 1, Commit: 1}, mkEnts(1, 1, 1, 100)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.HistogramCount(t, writeSec) - writes; got != 1 {
		t.Errorf("write observations: %d, want 1", got)
	}
	if got := testutil.HistogramCount(t, fsyncSec) - fsyncs; got != 1 {
		t.Errorf("fsync observations: %d, want 1", got)
	}
	if got, want := promtest.ToFloat64(writeBytes)-bytes, float64(written()-pos); got != want {
		t.Errorf("bytes counted: %v, want the %v appended", got, want)
	}

	// Enough to cut segments: the new segments' header records count.
	bytes, pos = promtest.ToFloat64(writeBytes), written()
	for i := uint64(2); i <= 20; i++ {
		if err := w.Save(raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 500)); err != nil {
			t.Fatal(err)
		}
	}
	if len(segmentFiles(t, fs)) < 2 {
		t.Fatal("no segment was cut")
	}
	if got, want := promtest.ToFloat64(writeBytes)-bytes, float64(written()-pos); got != want {
		t.Errorf("bytes counted across cuts: %v, want the %v appended", got, want)
	}
}
