package mvcc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

type watchSpec struct {
	key, end string // end "" = one key
	startRev int64
	noPut    bool
}

func (ws watchSpec) wants(e *mvccpb.Event) bool {
	if ws.noPut && e.Type == mvccpb.Event_PUT {
		return false
	}
	k := string(e.Kv.Key)
	if ws.end == "" {
		return k == ws.key
	}
	return k >= ws.key && k < ws.end
}

// TestWatchRandomized drives random writes while watchers of every kind
// (caught up, behind, with slow receivers that become victims) follow,
// and checks that each receives exactly its events, once, in order.
func TestWatchRandomized(t *testing.T) {
	s, _ := newTestStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	m := newModel()
	// Some history first, so watchers can start in the past.
	for i := 0; i < 50; i++ {
		ops := randomOps(rng, i)
		applyOps(s, ops)
		m.apply(ops)
	}
	type live struct {
		spec   watchSpec
		stream *WatchStream
		id     WatchID
		got    []*mvccpb.Event
		slow   bool
	}
	var watchers []*live
	for i := 0; i < 40; i++ {
		spec := watchSpec{key: fmt.Sprintf("k%02d", rng.IntN(30))}
		if rng.IntN(2) == 0 {
			spec.end = fmt.Sprintf("k%02d", 30+rng.IntN(10))
		}
		if rng.IntN(2) == 0 {
			spec.startRev = 1 + rng.Int64N(m.rev())
		}
		spec.noPut = rng.IntN(8) == 0
		st := s.NewWatchStream()
		var filters []FilterFunc
		if spec.noPut {
			filters = append(filters, FilterNoPut)
		}
		end := []byte(nil)
		if spec.end != "" {
			end = []byte(spec.end)
		}
		id, err := st.Watch(AutoWatchID, []byte(spec.key), end, spec.startRev, filters...)
		if err != nil {
			t.Fatal(err)
		}
		if spec.startRev == 0 {
			spec.startRev = m.rev() + 1
		}
		watchers = append(watchers, &live{spec: spec, stream: st, id: id, slow: i%5 == 0})
	}
	// Receivers: slow ones drain rarely, so their channels fill.
	drain := func(w *live) {
		for {
			select {
			case wr := <-w.stream.Chan():
				if wr.WatchID != w.id {
					t.Errorf("response for watch %d on stream of %d", wr.WatchID, w.id)
				}
				if wr.CompactRevision != 0 {
					t.Errorf("unexpected compaction response %+v", wr)
				}
				w.got = append(w.got, wr.Events...)
			default:
				return
			}
		}
	}
	for i := 50; i < 1500; i++ {
		ops := randomOps(rng, i)
		applyOps(s, ops)
		m.apply(ops)
		for _, w := range watchers {
			if !w.slow || i%300 == 0 {
				drain(w)
			}
		}
	}
	final := m.rev()
	deadline := time.Now().Add(20 * time.Second)
	for _, w := range watchers {
		var want []*mvccpb.Event
		for rev := w.spec.startRev; rev <= final; rev++ {
			for _, e := range m.events[rev] {
				if w.spec.wants(e) {
					want = append(want, e)
				}
			}
		}
		err := testutil.Poll(time.Until(deadline), func() error {
			if len(w.got) < len(want) {
				drain(w)
			}
			if len(w.got) < len(want) {
				return fmt.Errorf("got %d events, want %d", len(w.got), len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("watcher %+v: %v", w.spec, err)
		}
		if len(w.got) != len(want) {
			t.Fatalf("watcher %+v: got %d events, want %d", w.spec, len(w.got), len(want))
		}
		for i := range want {
			g, e := w.got[i], want[i]
			if g.Type != e.Type || !proto.Equal(g.Kv, e.Kv) {
				t.Fatalf("watcher %+v event %d: got %v %v, want %v %v", w.spec, i, g.Type, g.Kv, e.Type, e.Kv)
			}
		}
		w.stream.Close()
	}
}

func TestWatchCompactedAndErrors(t *testing.T) {
	s, _ := newTestStore(t)
	for i := 0; i < 10; i++ {
		applyOps(s, []op{{key: "a", val: fmt.Sprint(i)}})
	}
	done, err := s.Compact(5)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	st := s.NewWatchStream()
	defer st.Close()
	id, err := st.Watch(AutoWatchID, []byte("a"), nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-st.Chan():
		if wr.WatchID != id || wr.CompactRevision != 5 {
			t.Fatalf("got %+v, want compacted at 5", wr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no compaction response")
	}
	// From the compaction revision on, the history is still there.
	if _, err := st.Watch(AutoWatchID, []byte("a"), nil, 5); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-st.Chan():
		if wr.CompactRevision != 0 || len(wr.Events) == 0 || wr.Events[0].Kv.ModRevision != 5 {
			t.Fatalf("watch from the compaction revision: got %+v, want events from 5", wr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no events from the compaction revision")
	}
	if _, err := st.Watch(AutoWatchID, []byte("b"), []byte("a"), 0); err != ErrEmptyWatcherRange {
		t.Fatalf("empty range: %v", err)
	}
	if _, err := st.Watch(7, []byte("b"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Watch(7, []byte("b"), nil, 0); err != ErrWatcherDuplicateID {
		t.Fatalf("duplicate id: %v", err)
	}
	if err := st.Cancel(99); err != ErrWatcherNotExist {
		t.Fatalf("cancel unknown: %v", err)
	}
	if err := st.Cancel(7); err != nil {
		t.Fatal(err)
	}
	// Progress: a synced watcher gets an empty response at the current revision.
	pid, _ := st.Watch(AutoWatchID, []byte("p"), nil, 0)
	st.RequestProgress(pid)
	select {
	case wr := <-st.Chan():
		if wr.WatchID != pid || len(wr.Events) != 0 || wr.Revision != s.Rev() {
			t.Fatalf("progress: %+v (rev %d)", wr, s.Rev())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress response")
	}
}

func BenchmarkWatchFanout(b *testing.B) {
	s, _ := newTestStore(b)
	const watchers = 10000
	streams := make([]*WatchStream, 100)
	for i := range streams {
		streams[i] = s.NewWatchStream()
		for j := 0; j < watchers/len(streams); j++ {
			if _, err := streams[i].Watch(AutoWatchID, []byte("hot"), nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	stop := make(chan struct{})
	received := make(chan int, len(streams))
	for _, st := range streams {
		go func(st *WatchStream) {
			n := 0
			for {
				select {
				case wr := <-st.Chan():
					n += len(wr.Events)
				case <-stop:
					received <- n
					return
				}
			}
		}(st)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		applyOps(s, []op{{key: "hot", val: "v"}})
	}
	b.StopTimer()
	close(stop)
	total := 0
	for range streams {
		total += <-received
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// match hands a watcher that matches every event the store's own slice,
// and one that misses some a copy of its own, leaving the store's intact.
func TestMatchSharesWholeBatches(t *testing.T) {
	ev := func(k string) *mvccpb.Event { return &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte(k)}} }
	evs := []*mvccpb.Event{ev("a"), ev("b"), ev("a")}
	orig := slices.Clone(evs)
	all := &watcher{key: []byte("a"), end: []byte{}}
	onA := &watcher{key: []byte("a")}
	onB := &watcher{key: []byte("b")}
	g := newWatcherGroup()
	for _, w := range []*watcher{all, onA, onB} {
		g.add(w)
	}
	out := g.match(evs)
	if got := out[all]; len(got) != 3 || &got[0] != &evs[0] {
		t.Errorf("a watcher of every event got %v, not the store's slice", got)
	}
	if got := out[onA]; len(got) != 2 || got[0] != evs[0] || got[1] != evs[2] || &got[0] == &evs[0] {
		t.Errorf("a watcher of a got %v, want its own copy of events 0 and 2", got)
	}
	if got := out[onB]; len(got) != 1 || got[0] != evs[1] {
		t.Errorf("a watcher of b got %v", got)
	}
	if !slices.Equal(evs, orig) {
		t.Error("match changed the store's events")
	}
}

// watchOne starts a watch on key from rev and returns its first response.
func watchOne(t *testing.T, s *Store, key string, rev int64) WatchResponse {
	t.Helper()
	st := s.NewWatchStream()
	defer st.Close()
	if _, err := st.Watch(AutoWatchID, []byte(key), nil, rev); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-st.Chan():
		return wr
	case <-time.After(10 * time.Second):
		t.Fatalf("watch %s from %d: no response", key, rev)
		return WatchResponse{}
	}
}

// keyBucketRevs lists the revisions in the backend's key bucket.
func keyBucketRevs(s *Store) []Revision {
	view := s.b.ReadTx()
	defer view.End()
	var out []Revision
	_ = view.ForEach(KeyBucket, func(k, _ []byte) error {
		r, _ := bytesToRev(k)
		out = append(out, r)
		return nil
	})
	return out
}

// TestWatchFromCompactRevGetsTombstone: a key deleted at R, compacted at
// R, still delivers its DELETE at R to a watcher starting at R — also
// after a restart — until a later compaction removes the tombstone.
func TestWatchFromCompactRevGetsTombstone(t *testing.T) {
	s, path := newTestStore(t)
	applyOps(s, []op{{key: "k", val: "v"}})  // 2
	applyOps(s, []op{{del: true, key: "k"}}) // 3
	compactAndWait := func(s *Store, rev int64) {
		t.Helper()
		done, err := s.Compact(rev)
		if err != nil {
			t.Fatal(err)
		}
		<-done
	}
	compactAndWait(s, 3)
	wantDelete := func(s *Store, when string) {
		t.Helper()
		wr := watchOne(t, s, "k", 3)
		if wr.CompactRevision != 0 || len(wr.Events) != 1 || wr.Events[0].Type != mvccpb.Event_DELETE || wr.Events[0].Kv.ModRevision != 3 {
			t.Fatalf("%s: watch from 3 got %+v, want the DELETE at 3", when, wr)
		}
		if got := keyBucketRevs(s); !slices.Contains(got, Revision{Main: 3}) {
			t.Fatalf("%s: key bucket %v lacks the tombstone at 3", when, got)
		}
	}
	wantDelete(s, "after compact 3")

	// The rebuilt index starts the key at its tombstone.
	s.Close()
	if err := s.b.Close(); err != nil {
		t.Fatal(err)
	}
	b := openBackend(t, path)
	s, err := NewStore(b, nil, Config{CompactionSleepInterval: time.Millisecond, SyncWatchersInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); b.Close() })
	wantDelete(s, "after restart")

	applyOps(s, []op{{key: "other", val: "v"}}) // 4
	compactAndWait(s, 4)
	if got := keyBucketRevs(s); !slices.Equal(got, []Revision{{Main: 4}}) {
		t.Fatalf("after compact 4: key bucket %v, want only 4", got)
	}
	if n := s.mu.kvindex.Len(); n != 1 {
		t.Fatalf("after compact 4: %d keys in the index, want 1", n)
	}
	if wr := watchOne(t, s, "k", 3); wr.CompactRevision != 4 {
		t.Fatalf("watch from 3 after compact 4: %+v, want compacted at 4", wr)
	}
}
