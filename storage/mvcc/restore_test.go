package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basaltkv/basalt/storage/backend"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// setCompactRecords writes (rev > 0) or deletes (rev == 0) the meta
// bucket's scheduled and finished compaction records.
func setCompactRecords(t *testing.T, s *Store, scheduled, finished int64) {
	t.Helper()
	tx := s.b.BatchTx()
	tx.Lock()
	for _, r := range []struct {
		key []byte
		rev int64
	}{{scheduledCompactKey, scheduled}, {finishedCompactKey, finished}} {
		var err error
		if r.rev > 0 {
			err = tx.UnsafePut(MetaBucket, r.key, revToBytes(Revision{Main: r.rev}, false))
		} else {
			err = tx.UnsafeDelete(MetaBucket, r.key)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// compactRecords reads them back, 0 for a missing one.
func compactRecords(s *Store) (scheduled, finished int64) {
	view := s.b.ReadTx()
	defer view.End()
	scheduled, _ = readCompactRev(view.Get, scheduledCompactKey)
	finished, _ = readCompactRev(view.Get, finishedCompactKey)
	return scheduled, finished
}

// TestRestoreCompactionRecords: on start, the compaction revision is the
// finished one (-1 if none), a compaction is resumed only if one was
// scheduled after it, and the current revision is at least both.
func TestRestoreCompactionRecords(t *testing.T) {
	tests := []struct {
		name                string
		writes              int // puts, at revisions 2..writes+1
		scheduled, finished int64
		wantCompact         int64
		wantRev             int64
		wantResumed         bool
	}{
		{"new store", 0, 0, 0, -1, 1, false},
		{"never compacted", 5, 0, 0, -1, 6, false},
		{"compaction finished", 5, 3, 3, 3, 6, false},
		{"only finished recorded", 5, 0, 3, 3, 6, false},
		{"interrupted", 5, 4, 3, 4, 6, true},
		{"first one interrupted", 5, 4, 0, 4, 6, true},
		{"finished past every record", 5, 9, 9, 9, 9, false},
		{"interrupted past every record", 5, 9, 3, 9, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			b := openBackend(t, path)
			cfg := Config{CompactionSleepInterval: time.Millisecond}
			s, err := NewStore(b, nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.writes; i++ {
				applyOps(s, []op{{key: "a", val: "v"}})
			}
			setCompactRecords(t, s, tt.scheduled, tt.finished)
			s.Close()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = openBackend(t, path)
			defer b.Close()
			if s, err = NewStore(b, nil, cfg); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.CompactRev(); got != tt.wantCompact {
				t.Errorf("CompactRev %d, want %d", got, tt.wantCompact)
			}
			if got := s.Rev(); got != tt.wantRev {
				t.Errorf("Rev %d, want %d", got, tt.wantRev)
			}
			h, err := s.HashKV(0)
			if err != nil {
				t.Fatal(err)
			}
			if h.CompactRevision != tt.wantCompact || h.CurrentRevision != tt.wantRev {
				t.Errorf("HashKV reports compact revision %d, current %d; want %d, %d", h.CompactRevision, h.CurrentRevision, tt.wantCompact, tt.wantRev)
			}
			wantFinished := tt.finished
			if tt.wantResumed {
				wantFinished = tt.scheduled
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				sched, fin := compactRecords(s)
				if sched == tt.scheduled && fin == wantFinished {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("compaction records: scheduled %d, finished %d; want %d, %d", sched, fin, tt.scheduled, wantFinished)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// history is a store's contents for Restore to swap in.
type history struct {
	m          *model
	compactRev int64
	keys, vals [][]byte // the key bucket
	// hashes is what HashKV(rev) reports over it, for every rev from the
	// compaction on.
	hashes map[int64]KVHash
}

// buildHistory writes random transactions into a new store, compacts it
// at compactRev and takes its key bucket.
func buildHistory(t *testing.T, seed uint64, txns int, compactRev int64) *history {
	t.Helper()
	s, _ := newTestStore(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	h := &history{m: newModel(), compactRev: compactRev}
	sameHistory(h.m, rng, txns, s)
	done, err := s.Compact(compactRev)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	view := s.b.ReadTx()
	defer view.End()
	_ = view.ForEach(KeyBucket, func(k, v []byte) error {
		h.keys = append(h.keys, bytes.Clone(k))
		h.vals = append(h.vals, bytes.Clone(v))
		return nil
	})
	return h
}

// replaceWith is a Restore replace function that rewrites the key bucket
// and the compaction records with h's.
func replaceWith(h *history) func(b *backend.Backend) error {
	return func(b *backend.Backend) error {
		tx := b.BatchTx()
		tx.Lock()
		var old [][]byte
		err := tx.UnsafeForEach(KeyBucket, func(k, _ []byte) error {
			old = append(old, bytes.Clone(k))
			return nil
		})
		for _, k := range old {
			if err == nil {
				err = tx.UnsafeDelete(KeyBucket, k)
			}
		}
		for i := range h.keys {
			if err == nil {
				err = tx.UnsafePut(KeyBucket, h.keys[i], h.vals[i])
			}
		}
		for _, key := range [][]byte{scheduledCompactKey, finishedCompactKey} {
			if err == nil {
				err = tx.UnsafePut(MetaBucket, key, revToBytes(Revision{Main: h.compactRev}, false))
			}
		}
		if uerr := tx.Unlock(); err == nil {
			err = uerr
		}
		return err
	}
}

// TestRestoreRace: readers at current and past revisions, HashKV callers
// and watchers run while the store's contents are swapped back and forth
// between two histories. Each answer must be one history's, whole: a
// range matches the history its transaction's revision names, a hash is
// that history's, every event delivered is one of a history's.
func TestRestoreRace(t *testing.T) {
	hists := []*history{buildHistory(t, 21, 80, 30), buildHistory(t, 22, 130, 55)}
	if hists[0].m.rev() == hists[1].m.rev() {
		t.Fatal("the histories end at the same revision: a read could not tell them apart")
	}
	s, _ := newTestStore(t)
	for _, h := range hists {
		if err := s.Restore(replaceWith(h)); err != nil {
			t.Fatal(err)
		}
		h.hashes = map[int64]KVHash{}
		for rev := h.compactRev; rev <= h.m.rev(); rev++ {
			h.hashes[rev] = hashKV(t, s, rev)
		}
	}
	byRev := func(cur int64) *history {
		for _, h := range hists {
			if h.m.rev() == cur {
				return h
			}
		}
		return nil
	}
	maxRev := max(hists[0].m.rev(), hists[1].m.rev())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, hashes, events, seeds atomic.Int64
	errc := make(chan error, 100)
	fail := func(format string, args ...any) {
		select {
		case errc <- fmt.Errorf(format, args...):
		default:
		}
	}
	loop := func(f func(rng *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seeds.Add(1)), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				f(rng)
			}
		}()
	}
	for i := 0; i < 2; i++ {
		loop(func(rng *rand.Rand) {
			r := s.Read()
			cur, first := r.Rev(), r.FirstRev()
			rev := rng.Int64N(cur + 2) // 0 (current) to cur+1 (future)
			res, err := r.Range([]byte("k"), []byte("l"), RangeOptions{Rev: rev})
			r.End()
			reads.Add(1)
			h := byRev(cur)
			switch {
			case h == nil:
				fail("read at current revision %d, of neither history", cur)
			case first != h.compactRev:
				fail("read at current revision %d: first revision %d, want %d", cur, first, h.compactRev)
			case errors.Is(err, ErrFutureRev):
				if rev <= cur {
					fail("read at %d of %d: %v", rev, cur, err)
				}
			case errors.Is(err, ErrCompacted):
				if rev >= h.compactRev || rev == 0 {
					fail("read at %d compacted at %d: %v", rev, h.compactRev, err)
				}
			case err != nil:
				fail("read at %d of %d: %v", rev, cur, err)
			default:
				if rev == 0 {
					rev = cur
				}
				want := h.m.states[rev]
				ok := len(res.KVs) == len(want)
				for i, k := range sortedKeys(want) {
					ok = ok && proto.Equal(res.KVs[i], want[k])
				}
				if !ok {
					fail("read at %d of %d: %d keys, not the history's %d", rev, cur, len(res.KVs), len(want))
				}
			}
		})
	}
	loop(func(rng *rand.Rand) {
		rev := rng.Int64N(maxRev + 2)
		got, err := s.HashKV(rev)
		hashes.Add(1)
		if errors.Is(err, ErrCompacted) || errors.Is(err, ErrFutureRev) {
			return
		}
		if err != nil {
			fail("HashKV(%d): %v", rev, err)
			return
		}
		h := byRev(got.CurrentRevision)
		if h == nil || got != h.hashes[got.Revision] {
			fail("HashKV(%d) = %+v, of neither history", rev, got)
		}
	})
	// Watchers: some from the start, more started as it runs; each must
	// get events of a history, in revision order.
	checkEvent := func(e *mvccpb.Event) bool {
		rev := e.Kv.ModRevision
		for _, h := range hists {
			if rev > h.m.rev() {
				continue
			}
			for _, want := range h.m.events[rev] {
				if want.Type == e.Type && proto.Equal(want.Kv, e.Kv) {
					return true
				}
			}
		}
		return false
	}
	loop(func(rng *rand.Rand) {
		st := s.NewWatchStream()
		defer st.Close()
		for i := 0; i < 4; i++ {
			if _, err := st.Watch(AutoWatchID, []byte("k"), []byte("l"), 1+rng.Int64N(maxRev)); err != nil {
				fail("watch: %v", err)
				return
			}
		}
		last := map[WatchID]int64{}
		timeout := time.After(50 * time.Millisecond)
		for {
			select {
			case wr := <-st.Chan():
				for _, e := range wr.Events {
					events.Add(1)
					if !checkEvent(e) {
						fail("watch %d: event %v %v of neither history", wr.WatchID, e.Type, e.Kv)
					}
					if e.Kv.ModRevision < last[wr.WatchID] {
						fail("watch %d: event at %d after %d", wr.WatchID, e.Kv.ModRevision, last[wr.WatchID])
					}
					last[wr.WatchID] = e.Kv.ModRevision
				}
			case <-timeout:
				return
			case <-stop:
				return
			}
		}
	})

	for i := 0; i < 30; i++ {
		if err := s.Restore(replaceWith(hists[i%2])); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if reads.Load() == 0 || hashes.Load() == 0 || events.Load() == 0 {
		t.Fatalf("%d reads, %d hashes, %d events: the race did not run", reads.Load(), hashes.Load(), events.Load())
	}
	t.Logf("%d reads, %d hashes, %d events over 30 restores", reads.Load(), hashes.Load(), events.Load())
}

// TestRestoreWatchersAndCompaction: watchers survive a Restore, catching
// up from the new contents from where they were, or learning they were
// compacted; a compaction the new contents have scheduled resumes; a
// failed replace is reported and leaves a store that still works.
func TestRestoreWatchersAndCompaction(t *testing.T) {
	h1, h2 := buildHistory(t, 31, 60, 20), buildHistory(t, 32, 120, 50)
	if h1.m.rev() >= h2.m.rev() || h1.m.rev() < h2.compactRev {
		t.Fatalf("histories end at %d and %d: want the second one further, compacted before the first's end", h1.m.rev(), h2.m.rev())
	}
	s, _ := newTestStore(t)
	if err := s.Restore(replaceWith(h1)); err != nil {
		t.Fatal(err)
	}
	st := s.NewWatchStream()
	defer st.Close()
	next, err := st.Watch(AutoWatchID, []byte("k"), []byte("l"), 0) // from h1's end on
	if err != nil {
		t.Fatal(err)
	}

	// h2 compacted at 50, scheduled a compaction at 60 it did not finish.
	replace := func(b *backend.Backend) error {
		if err := replaceWith(h2)(b); err != nil {
			return err
		}
		tx := b.BatchTx()
		tx.Lock()
		err := tx.UnsafePut(MetaBucket, scheduledCompactKey, revToBytes(Revision{Main: 60}, false))
		if uerr := tx.Unlock(); err == nil {
			err = uerr
		}
		return err
	}
	if err := s.Restore(replace); err != nil {
		t.Fatal(err)
	}
	if s.Rev() != h2.m.rev() || s.CompactRev() != 60 {
		t.Fatalf("after Restore: revision %d, compacted at %d; want %d, 60", s.Rev(), s.CompactRev(), h2.m.rev())
	}
	waitCompactions(t, s)
	if sched, fin := compactRecords(s); sched != 60 || fin != 60 {
		t.Fatalf("compaction records %d/%d, want 60/60", sched, fin)
	}
	checkAllRevisions(t, s, h2.m, 60, "after Restore")

	// The watcher gets h2's events after h1's end, as if h2 had been
	// written while it watched.
	var want []*mvccpb.Event
	for rev := h1.m.rev() + 1; rev <= h2.m.rev(); rev++ {
		want = append(want, h2.m.events[rev]...)
	}
	var got []*mvccpb.Event
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case wr := <-st.Chan():
			if wr.WatchID != next || wr.CompactRevision != 0 {
				t.Fatalf("unexpected response %+v", wr)
			}
			got = append(got, wr.Events...)
		case <-deadline:
			t.Fatalf("watcher got %d events, want %d", len(got), len(want))
		}
	}
	for i := range want {
		if got[i].Type != want[i].Type || !proto.Equal(got[i].Kv, want[i].Kv) {
			t.Fatalf("event %d: %v %v, want %v %v", i, got[i].Type, got[i].Kv, want[i].Type, want[i].Kv)
		}
	}
	// One from before the compaction learns it.
	if wr := watchOne(t, s, "k00", 40); wr.CompactRevision != 60 {
		t.Fatalf("watch from 40: %+v, want compacted at 60", wr)
	}

	// A replace that fails: the error comes back, the store still reads
	// what the backend holds.
	errReplace := errors.New("no database")
	if err := s.Restore(func(*backend.Backend) error { return errReplace }); !errors.Is(err, errReplace) {
		t.Fatalf("Restore with a failing replace: %v", err)
	}
	checkAllRevisions(t, s, h2.m, 60, "after a failed Restore")
}
