package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/failpoint"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// record is a record of the key bucket, as the model derives it.
type record struct {
	rev  Revision
	tomb bool
	key  string
	k, v []byte
}

// records lists every record the model's history wrote, in order.
func (m *model) records() []record {
	var out []record
	for rev := int64(2); rev <= m.rev(); rev++ {
		for i, e := range m.events[rev] {
			r := record{rev: Revision{Main: rev, Sub: int64(i)}, key: string(e.Kv.Key), tomb: e.Type == mvccpb.Event_DELETE}
			r.k = revToBytes(r.rev, r.tomb)
			if r.tomb {
				r.v = encodeKV(&mvccpb.KeyValue{Key: e.Kv.Key})
			} else {
				r.v = encodeKV(e.Kv)
			}
			out = append(out, r)
		}
	}
	return out
}

// latest returns each key's newest record at or below rev.
func latest(recs []record, rev int64) map[string]record {
	out := map[string]record{}
	for _, r := range recs {
		if r.rev.Main <= rev {
			out[r.key] = r
		}
	}
	return out
}

// naiveKeep is what compaction at rev keeps of the history below it: the
// newest record of each key live at rev, and with tombs, the tombstones
// at rev too.
func naiveKeep(recs []record, rev int64, tombs bool) map[Revision]struct{} {
	keep := map[Revision]struct{}{}
	for _, r := range latest(recs, rev) {
		if !r.tomb || (tombs && r.rev.Main == rev) {
			keep[r.rev] = struct{}{}
		}
	}
	return keep
}

// survivors is what the key bucket holds once compaction at c (-1: none)
// is done.
func survivors(recs []record, c int64) []record {
	keep := naiveKeep(recs, c, true)
	var out []record
	for _, r := range recs {
		if _, kept := keep[r.rev]; kept || r.rev.Main > c {
			out = append(out, r)
		}
	}
	return out
}

// naiveHash is etcd's hash rule, written out over the records present.
func naiveHash(present []record, compactRev, rev int64, keep map[Revision]struct{}) uint32 {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte("key"))
	for _, r := range present {
		if r.rev.Main > rev {
			continue
		}
		if _, kept := keep[r.rev]; r.rev.Main <= compactRev && len(keep) > 0 && !kept {
			continue
		}
		if r.tomb && r.rev.Main == compactRev {
			continue
		}
		h.Write(r.k)
		h.Write(r.v)
	}
	return h.Sum32()
}

// TestHashKVMatchesModel checks HashKV, the hashes compactions store and
// the key bucket against the naive rules, across random writes,
// compactions and restarts.
func TestHashKVMatchesModel(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			path := filepath.Join(t.TempDir(), "db")
			cfg := Config{CompactionSleepInterval: time.Millisecond, CompactionBatchLimit: 7}
			b := openBackend(t, path)
			s, err := NewStore(b, nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close(); b.Close() }()
			m := newModel()
			compactRev := int64(-1)
			var stored []KVHash // what the store should hold, by revision
			check := func(when string) {
				t.Helper()
				recs := m.records()
				present := survivors(recs, compactRev)
				var dump bytes.Buffer
				for _, r := range present {
					fmt.Fprintf(&dump, "%x=%x\n", r.k, r.v)
				}
				if got := keyBucketDump(s); got != dump.String() {
					t.Fatalf("%s: key bucket\n%s\nwant\n%s", when, got, dump.String())
				}
				cur := m.rev()
				for rev := int64(0); rev <= cur; rev++ {
					want := KVHash{Revision: rev, CompactRevision: compactRev, CurrentRevision: cur}
					var wantErr error
					i := slices.IndexFunc(stored, func(h KVHash) bool { return h.Revision == rev })
					switch {
					case i >= 0:
						want = stored[i]
						want.CurrentRevision = cur
					case rev > 0 && rev < compactRev:
						want, wantErr = KVHash{}, ErrCompacted
					default:
						if rev == 0 {
							want.Revision = cur
						}
						want.Hash = naiveHash(present, compactRev, want.Revision, naiveKeep(recs, want.Revision, false))
					}
					got, err := s.HashKV(rev)
					if got != want || !errors.Is(err, wantErr) {
						t.Fatalf("%s: HashKV(%d) = %+v, %v; want %+v, %v", when, rev, got, err, want, wantErr)
					}
				}
				want := slices.Clone(stored)
				for i := range want {
					want[i].CurrentRevision = cur
				}
				if got := s.Hashes(); !slices.Equal(got, want) {
					t.Fatalf("%s: Hashes() = %+v, want %+v", when, got, want)
				}
			}
			for i := 0; i < 250; i++ {
				ops := randomOps(rng, i)
				applyOps(s, ops)
				m.apply(ops)
				switch rng.IntN(25) {
				case 0, 1:
					if m.rev() <= compactRev+1 {
						continue
					}
					c := max(compactRev, 1) + 1 + rng.Int64N(m.rev()-max(compactRev, 1))
					recs := m.records()
					// Computed while cleaning, against the compaction
					// before, with compaction's keep.
					h := KVHash{
						Hash:            naiveHash(survivors(recs, compactRev), compactRev, c, naiveKeep(recs, c, true)),
						Revision:        c,
						CompactRevision: compactRev,
					}
					done, err := s.Compact(c)
					if err != nil {
						t.Fatalf("compact %d: %v", c, err)
					}
					<-done
					compactRev = c
					stored = append(stored, h)
					if len(stored) > maxStoredHashes {
						stored = stored[1:]
					}
					check(fmt.Sprintf("after compact %d", c))
				case 2:
					s.Close()
					if err := b.Close(); err != nil {
						t.Fatal(err)
					}
					b = openBackend(t, path)
					if s, err = NewStore(b, nil, cfg); err != nil {
						t.Fatal(err)
					}
					stored = nil
					check("after restart")
				}
			}
			check("at end")
		})
	}
}

// sameHistory applies the same random writes to every store and returns
// the model.
func sameHistory(m *model, rng *rand.Rand, n int, stores ...*Store) {
	for i := 0; i < n; i++ {
		ops := randomOps(rng, i)
		m.apply(ops)
		for _, s := range stores {
			applyOps(s, ops)
		}
	}
}

// deleteLiveKey deletes, in every store, a key live now, and returns the
// revision of the delete.
func deleteLiveKey(t *testing.T, m *model, stores ...*Store) int64 {
	t.Helper()
	live := sortedKeys(m.states[m.rev()])
	if len(live) == 0 {
		t.Fatal("no live key")
	}
	ops := []op{{del: true, key: live[0]}}
	m.apply(ops)
	for _, s := range stores {
		applyOps(s, ops)
	}
	return m.rev()
}

func hashKV(t *testing.T, s *Store, rev int64) KVHash {
	t.Helper()
	h, err := s.HashKV(rev)
	if err != nil {
		t.Fatalf("HashKV(%d): %v", rev, err)
	}
	return h
}

// TestHashKVStoredByCompaction: three stores apply the same writes and
// compactions; one finishes cleaning at once, one is held midway, one is
// restarted after the compaction. HashKV(R) is the same before and after
// the compaction at R (the stored hash); wherever the stores report the
// same compact revision for a revision, they report the same hash; and
// the restarted one stores the next compaction's hash as the others do.
func TestHashKVStoredByCompaction(t *testing.T) {
	a, _ := newTestStore(t)
	b, _ := newTestStore(t)
	c, cPath := newTestStore(t)
	rng := rand.New(rand.NewPCG(11, 11))
	m := newModel()
	sameHistory(m, rng, 60, a, b, c)
	r := deleteLiveKey(t, m, a, b, c) // a tombstone at the compaction revision
	sameHistory(m, rng, 20, a, b, c)
	cur := m.rev()

	before := map[int64]KVHash{}
	for rev := int64(1); rev <= cur; rev++ {
		before[rev] = hashKV(t, a, rev)
		if hb, hc := hashKV(t, b, rev), hashKV(t, c, rev); hb != before[rev] || hc != before[rev] {
			t.Fatalf("HashKV(%d) before compaction: %+v, %+v, %+v", rev, before[rev], hb, hc)
		}
		if before[rev].CompactRevision != -1 {
			t.Fatalf("HashKV(%d) of a store never compacted: %+v", rev, before[rev])
		}
	}

	// b's cleaning stops after its first batch until released.
	b.cfg.CompactionBatchLimit = 5
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseB := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseB) // before b closes, should the test fail first
	b.testAt = func(p *failpoint.Point) {
		if p == fpCompactAfterCommitBatch {
			<-release
		}
	}
	bDone, err := b.Compact(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, c} {
		done, err := s.Compact(r)
		if err != nil {
			t.Fatal(err)
		}
		<-done
	}
	c.Close()
	if err := c.b.Close(); err != nil {
		t.Fatal(err)
	}
	cb := openBackend(t, cPath)
	if c, err = NewStore(cb, nil, Config{CompactionSleepInterval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); cb.Close() })

	if got := hashKV(t, a, r); got != before[r] {
		t.Fatalf("HashKV(%d) after compacting there: %+v, want %+v as before", r, got, before[r])
	}
	if got, want := a.Hashes(), []KVHash{before[r]}; !slices.Equal(got, want) {
		t.Fatalf("Hashes() = %+v, want %+v", got, want)
	}
	for rev := r; rev <= cur; rev++ {
		ha, hb, hc := hashKV(t, a, rev), hashKV(t, b, rev), hashKV(t, c, rev)
		// b (cleaning) and c (restarted) compute against r.
		if hb != hc || hb.CompactRevision != r {
			t.Fatalf("HashKV(%d): cleaning %+v, restarted %+v", rev, hb, hc)
		}
		if rev > r && ha != hb {
			t.Fatalf("HashKV(%d): finished %+v, cleaning %+v", rev, ha, hb)
		}
	}
	for _, s := range []*Store{a, b, c} {
		if _, err := s.HashKV(r - 1); !errors.Is(err, ErrCompacted) {
			t.Fatalf("HashKV(%d) below the compaction: %v", r-1, err)
		}
	}
	releaseB()
	<-bDone
	if got := hashKV(t, b, r); got != before[r] {
		t.Fatalf("HashKV(%d) once cleaned: %+v, want %+v", r, got, before[r])
	}

	// The next compaction: every store's previous one finished, the
	// restarted one's too, so all store the same hash.
	sameHistory(m, rng, 40, a, b, c)
	r2 := deleteLiveKey(t, m, a, b, c)
	sameHistory(m, rng, 5, a, b, c)
	want := hashKV(t, a, r2)
	if want.CompactRevision != r {
		t.Fatalf("HashKV(%d) = %+v, want against %d", r2, want, r)
	}
	for _, s := range []*Store{a, b, c} {
		done, err := s.Compact(r2)
		if err != nil {
			t.Fatal(err)
		}
		<-done
		if got := hashKV(t, s, r2); got != want {
			t.Fatalf("HashKV(%d) after compacting there: %+v, want %+v", r2, got, want)
		}
		want.CurrentRevision = 0
		if hs := s.Hashes(); len(hs) == 0 || hs[len(hs)-1].Hash != want.Hash || hs[len(hs)-1].Revision != r2 {
			t.Fatalf("Hashes() = %+v, want the last %+v", hs, want)
		}
		want.CurrentRevision = m.rev()
	}
}

// TestStoredHashesKeepNewestTen: the hash storage keeps the ten newest
// hashes, sorted by revision, whatever the order they come in.
func TestStoredHashesKeepNewestTen(t *testing.T) {
	var sh storedHashes
	revs := rand.New(rand.NewPCG(1, 2)).Perm(25)
	for _, r := range revs {
		sh.add(KVHash{Revision: int64(r), Hash: uint32(r)})
	}
	got := sh.list()
	var gotRevs []int64
	for _, h := range got {
		gotRevs = append(gotRevs, h.Revision)
	}
	want := []int64{15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
	if !sort.SliceIsSorted(gotRevs, func(i, j int) bool { return gotRevs[i] < gotRevs[j] }) || !slices.Equal(gotRevs, want) {
		t.Fatalf("kept %v, want %v", gotRevs, want)
	}
	if _, ok := sh.get(14); ok {
		t.Fatal("an evicted hash is still found")
	}
	if h, ok := sh.get(20); !ok || h.Hash != 20 {
		t.Fatalf("get(20) = %+v, %v", h, ok)
	}
}
