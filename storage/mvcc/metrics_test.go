package mvcc

import (
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// metricDeltas records collectors' values and reports how each changed.
type metricDeltas struct {
	t      *testing.T
	read   map[string]func() float64
	before map[string]float64
}

func watchMetrics(t *testing.T, read map[string]func() float64) *metricDeltas {
	d := &metricDeltas{t: t, read: read, before: map[string]float64{}}
	for name, f := range read {
		d.before[name] = f()
	}
	return d
}

// check fails for each metric whose change is not want's (0 if absent).
func (d *metricDeltas) check(what string, want map[string]float64) {
	d.t.Helper()
	for name, f := range d.read {
		if got := f() - d.before[name]; got != want[name] {
			d.t.Errorf("%s: %s changed by %v, want %v", what, name, got, want[name])
		}
	}
}

func value(c prometheus.Collector) func() float64 {
	return func() float64 { return promtest.ToFloat64(c) }
}

// TestTxnMetrics: a transaction's operations are counted at End; one of
// more than one operation counts as a txn, and puts add their key and
// value sizes.
func TestTxnMetrics(t *testing.T) {
	s, _ := newTestStore(t)
	applyOps(s, []op{{key: "a", val: "1"}, {key: "b", val: "2"}})
	tests := []struct {
		name string
		run  func()
		want map[string]float64
	}{
		{"one put", func() {
			w := s.Write()
			w.Put([]byte("key"), []byte("value"), 0)
			w.End()
		}, map[string]float64{"put": 1, "size": 8}},
		{"put and range", func() {
			w := s.Write()
			w.Put([]byte("a"), []byte("xy"), 0)
			if _, err := w.Range([]byte("b"), nil, RangeOptions{}); err != nil {
				t.Fatal(err)
			}
			w.End()
		}, map[string]float64{"put": 1, "range": 1, "txn": 1, "size": 3}},
		{"delete", func() {
			w := s.Write()
			w.DeleteRange([]byte("a"), []byte("c"))
			w.End()
		}, map[string]float64{"delete": 1}},
		{"read of two ranges", func() {
			r := s.Read()
			r.Range([]byte("a"), nil, RangeOptions{})
			r.Range([]byte("b"), nil, RangeOptions{})
			r.End()
		}, map[string]float64{"range": 2, "txn": 1}},
	}
	for _, tt := range tests {
		d := watchMetrics(t, map[string]func() float64{
			"range": value(rangeCounter), "put": value(putCounter), "delete": value(deleteCounter),
			"txn": value(txnCounter), "size": value(totalPutSize),
		})
		tt.run()
		d.check(tt.name, tt.want)
	}
}

// TestWatchMetrics follows a stream through its life: streams and
// watchers counted while open, events pending from the store's send until
// EventsReceived, a watcher whose receiver is full counted slow until it
// catches up.
func TestWatchMetrics(t *testing.T) {
	s, _ := newTestStore(t)
	d := watchMetrics(t, map[string]func() float64{
		"streams": value(watchStreamGauge), "watchers": value(watcherGauge),
		"pending": value(pendingEventsGauge), "events": value(eventsCounter),
	})
	ws := s.NewWatchStream()
	id, err := ws.Watch(AutoWatchID, []byte("k"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Watch(AutoWatchID, []byte("other"), nil, 0); err != nil {
		t.Fatal(err)
	}
	d.check("two watchers", map[string]float64{"streams": 1, "watchers": 2})

	applyOps(s, []op{{key: "k", val: "v"}})
	d.check("an event sent", map[string]float64{"streams": 1, "watchers": 2, "pending": 1})
	EventsReceived(len((<-ws.Chan()).Events))
	d.check("the event received", map[string]float64{"streams": 1, "watchers": 2, "events": 1})

	// Fill the channel: the next event makes the watcher a victim.
	for i := 0; i <= chanBufLen; i++ {
		applyOps(s, []op{{key: "k", val: "v"}})
	}
	if got := s.SlowWatchers(); got != 1 {
		t.Errorf("SlowWatchers = %d with the receiver full, want 1", got)
	}
	received := 1
	done := make(chan struct{})
	go func() {
		defer close(done)
		for received <= chanBufLen+1 {
			wr := <-ws.Chan()
			EventsReceived(len(wr.Events))
			received += len(wr.Events)
		}
	}()
	<-done
	testutil.WaitUntil(t, 10*time.Second, "the victim to catch up", func() bool { return s.SlowWatchers() == 0 })
	d.check("every event received", map[string]float64{"streams": 1, "watchers": 2, "events": chanBufLen + 2})

	if err := ws.Cancel(id); err != nil {
		t.Fatal(err)
	}
	d.check("one watcher cancelled", map[string]float64{"streams": 1, "watchers": 1, "events": chanBufLen + 2})
	ws.Close()
	ws.Close()
	d.check("the stream closed", map[string]float64{"events": chanBufLen + 2})
}

// TestCompactionAndHashMetrics: a compaction observes its index pause,
// each backend batch, its total and the keys it deleted; a computed
// HashKV and a Hash observe their durations, a stored HashKV does not.
func TestCompactionAndHashMetrics(t *testing.T) {
	path := t.TempDir() + "/db"
	b := openBackend(t, path)
	s, err := NewStore(b, nil, Config{CompactionSleepInterval: time.Millisecond, CompactionBatchLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); b.Close() })
	for i := 0; i < 5; i++ {
		applyOps(s, []op{{key: "k", val: "v"}})
	}
	d := watchMetrics(t, map[string]func() float64{
		"index": func() float64 { return float64(testutil.HistogramCount(t, indexCompactionPauseMs)) },
		"total": func() float64 { return float64(testutil.HistogramCount(t, dbCompactionTotalMs)) },
		"keys":  value(dbCompactionKeys),
	})
	pauses := float64(testutil.HistogramCount(t, dbCompactionPauseMs))
	done, err := s.Compact(5)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	// Revisions 2 to 4 of k are gone; 5 stays. Three batches of two.
	d.check("compaction", map[string]float64{"index": 1, "total": 1, "keys": 3})
	if got := float64(testutil.HistogramCount(t, dbCompactionPauseMs)) - pauses; got != 3 {
		t.Errorf("compaction batches observed: %v, want 3", got)
	}
	if last := promtest.ToFloat64(dbCompactionLast); time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Errorf("db_compaction_last = %v, not the time of the compaction", last)
	}

	d = watchMetrics(t, map[string]func() float64{
		"hash":   func() float64 { return float64(testutil.HistogramCount(t, hashSec)) },
		"hashkv": func() float64 { return float64(testutil.HistogramCount(t, hashRevSec)) },
	})
	if _, _, err := s.Hash(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HashKV(0); err != nil {
		t.Fatal(err)
	}
	d.check("hashes", map[string]float64{"hash": 1, "hashkv": 1})
	// The compaction stored its hash: HashKV(5) answers with it.
	if _, err := s.HashKV(5); err != nil {
		t.Fatal(err)
	}
	d.check("a stored hash", map[string]float64{"hash": 1, "hashkv": 1})
}
