package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/basaltkv/basalt/storage/backend"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

func openBackend(t testing.TB, path string) *backend.Backend {
	t.Helper()
	b, err := backend.Open(backend.Config{Path: path, BatchInterval: 10 * time.Millisecond, MmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	b := openBackend(t, path)
	s, err := NewStore(b, nil, Config{CompactionSleepInterval: time.Millisecond, SyncWatchersInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); b.Close() })
	return s, path
}

func TestKVCodecMatchesProtobuf(t *testing.T) {
	cases := []*mvccpb.KeyValue{
		{},
		{Key: []byte("k")},
		{Key: []byte("foo"), Value: []byte("bar"), CreateRevision: 2, ModRevision: 5, Version: 3, Lease: 0x1234},
		{Key: []byte("neg"), Lease: -1, Version: 1 << 40},
		{Key: bytes.Repeat([]byte("x"), 300), Value: bytes.Repeat([]byte("y"), 70000)},
	}
	for i, kv := range cases {
		want, err := proto.Marshal(kv)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeKV(kv); !bytes.Equal(got, want) {
			t.Errorf("case %d: encodeKV = %x, proto = %x", i, got, want)
		}
		var back mvccpb.KeyValue
		if err := decodeKV(want, &back); err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		if !proto.Equal(&back, kv) {
			t.Errorf("case %d: decoded %v, want %v", i, &back, kv)
		}
	}
	if err := decodeKV([]byte{0x0a, 0x05, 'a'}, &mvccpb.KeyValue{}); err == nil {
		t.Error("truncated record decoded without error")
	}
}

func TestRangeSemantics(t *testing.T) {
	s, _ := newTestStore(t)
	w := s.Write()
	for _, k := range []string{"a", "b", "b1", "c", "d"} {
		w.Put([]byte(k), []byte("v"+k), 0)
	}
	w.End()
	tests := []struct {
		name     string
		key, end []byte
		ro       RangeOptions
		want     []string
		count    int
	}{
		{"single", []byte("b"), nil, RangeOptions{}, []string{"b"}, 1},
		{"missing", []byte("x"), nil, RangeOptions{}, nil, 0},
		{"range", []byte("b"), []byte("c"), RangeOptions{}, []string{"b", "b1"}, 2},
		{"from key", []byte("c"), []byte{0}, RangeOptions{}, []string{"c", "d"}, 2},
		{"all", []byte{0}, []byte{0}, RangeOptions{}, []string{"a", "b", "b1", "c", "d"}, 5},
		{"limit", []byte("a"), []byte("z"), RangeOptions{Limit: 2}, []string{"a", "b"}, 5},
		{"count", []byte("a"), []byte("z"), RangeOptions{Count: true}, nil, 5},
		{"end before key", []byte("c"), []byte("a"), RangeOptions{}, nil, 0},
	}
	for _, tt := range tests {
		r := s.Read()
		res, err := r.Range(tt.key, tt.end, tt.ro)
		r.End()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []string
		for _, kv := range res.KVs {
			got = append(got, string(kv.Key))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || res.Count != tt.count {
			t.Errorf("%s: got %v count %d, want %v count %d", tt.name, got, res.Count, tt.want, tt.count)
		}
	}
	r := s.Read()
	defer r.End()
	if _, err := r.Range([]byte("a"), nil, RangeOptions{Rev: 100}); !errors.Is(err, ErrFutureRev) {
		t.Errorf("future rev: %v", err)
	}
}

// model is the naive reference: the full state at every revision.
type model struct {
	states []map[string]*mvccpb.KeyValue // states[rev]
	events [][]*mvccpb.Event             // events[rev]
}

func newModel() *model {
	return &model{states: []map[string]*mvccpb.KeyValue{{}, {}}, events: [][]*mvccpb.Event{nil, nil}}
}

func (m *model) rev() int64 { return int64(len(m.states) - 1) }

func (m *model) apply(ops []op) {
	cur := m.states[len(m.states)-1]
	next := make(map[string]*mvccpb.KeyValue, len(cur))
	for k, v := range cur {
		next[k] = v
	}
	rev := m.rev() + 1
	var evs []*mvccpb.Event
	for _, o := range ops {
		if o.del {
			for _, k := range sortedKeys(next) {
				if inRange(k, o.key, o.end) {
					delete(next, k)
					evs = append(evs, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: rev}})
				}
			}
			continue
		}
		kv := &mvccpb.KeyValue{Key: []byte(o.key), Value: []byte(o.val), ModRevision: rev, CreateRevision: rev, Version: 1}
		if old, ok := next[o.key]; ok {
			kv.CreateRevision = old.CreateRevision
			kv.Version = old.Version + 1
		}
		next[o.key] = kv
		evs = append(evs, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv})
	}
	if len(evs) == 0 {
		return
	}
	m.states = append(m.states, next)
	m.events = append(m.events, evs)
}

func inRange(k, key, end string) bool {
	if end == "" {
		return k == key
	}
	return k >= key && k < end
}

func sortedKeys(m map[string]*mvccpb.KeyValue) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

type op struct {
	del           bool
	key, end, val string
}

// randomOps returns a random transaction of one to three operations. Like
// every transaction etcd's API accepts, it changes each key at most once
// (a put neither repeats a key nor falls in a deleted range): the store
// relies on that (see WriteTxn).
func randomOps(rng *rand.Rand, i int) []op {
	n := 1 + rng.IntN(3)
	var ops []op
	for j := 0; j < n; j++ {
		k := fmt.Sprintf("k%02d", rng.IntN(30))
		var o op
		switch r := rng.IntN(10); {
		case r < 6:
			o = op{key: k, val: fmt.Sprintf("v%d.%d", i, j)}
		case r < 8:
			o = op{del: true, key: k}
		default:
			o = op{del: true, key: k, end: fmt.Sprintf("k%02d", rng.IntN(30))}
		}
		if !conflicts(ops, o) {
			ops = append(ops, o)
		}
	}
	return ops
}

// conflicts reports whether o would change a key ops change too (two
// deletes may overlap: the second finds nothing left to delete).
func conflicts(ops []op, o op) bool {
	for _, p := range ops {
		switch {
		case !o.del && !p.del:
			if o.key == p.key {
				return true
			}
		case !o.del && p.del:
			if inRange(o.key, p.key, p.end) {
				return true
			}
		case o.del && !p.del:
			if inRange(p.key, o.key, o.end) {
				return true
			}
		}
	}
	return false
}

func applyOps(s *Store, ops []op) {
	w := s.Write()
	for _, o := range ops {
		if o.del {
			end := []byte(nil)
			if o.end != "" {
				end = []byte(o.end)
			}
			w.DeleteRange([]byte(o.key), end)
		} else {
			w.Put([]byte(o.key), []byte(o.val), 0)
		}
	}
	w.End()
}

// checkAllRevisions compares every range at every readable revision.
func checkAllRevisions(t *testing.T, s *Store, m *model, compactRev int64, when string) {
	t.Helper()
	if s.Rev() != m.rev() {
		t.Fatalf("%s: store rev %d, model %d", when, s.Rev(), m.rev())
	}
	if got, want := s.KeyCount(), len(m.states[m.rev()]); got != want {
		t.Fatalf("%s: KeyCount %d, model has %d keys", when, got, want)
	}
	r := s.Read()
	defer r.End()
	for rev := int64(1); rev <= m.rev(); rev++ {
		res, err := r.Range([]byte("k"), []byte("l"), RangeOptions{Rev: rev})
		if rev < compactRev {
			if !errors.Is(err, ErrCompacted) {
				t.Fatalf("%s: read at %d below compaction %d: err %v", when, rev, compactRev, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: read at %d: %v", when, rev, err)
		}
		want := m.states[rev]
		if len(res.KVs) != len(want) || res.Count != len(want) {
			t.Fatalf("%s: rev %d: %d keys (count %d), want %d", when, rev, len(res.KVs), res.Count, len(want))
		}
		for i, k := range sortedKeys(want) {
			if !proto.Equal(res.KVs[i], want[k]) {
				t.Fatalf("%s: rev %d key %s: got %v, want %v", when, rev, k, res.KVs[i], want[k])
			}
		}
		// A single-key read and a limited read agree too.
		if len(want) > 0 {
			k := sortedKeys(want)[0]
			one, err := r.Range([]byte(k), nil, RangeOptions{Rev: rev})
			if err != nil || len(one.KVs) != 1 || !proto.Equal(one.KVs[0], want[k]) {
				t.Fatalf("%s: rev %d get %s: %v %v", when, rev, k, one, err)
			}
			lim, err := r.Range([]byte("k"), []byte("l"), RangeOptions{Rev: rev, Limit: 1})
			if err != nil || len(lim.KVs) != 1 || lim.Count != len(want) {
				t.Fatalf("%s: rev %d limit 1: %v %v", when, rev, lim, err)
			}
		}
	}
}

// TestModelRandomized checks the store against the naive model across
// writes, compactions and restarts.
func TestModelRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			path := filepath.Join(t.TempDir(), "db")
			b := openBackend(t, path)
			s, err := NewStore(b, nil, Config{CompactionSleepInterval: time.Millisecond, CompactionBatchLimit: 7})
			if err != nil {
				t.Fatal(err)
			}
			m := newModel()
			compactRev := int64(0)
			for i := 0; i < 300; i++ {
				ops := randomOps(rng, i)
				applyOps(s, ops)
				m.apply(ops)
				switch rng.IntN(40) {
				case 0:
					if m.rev() > compactRev+1 {
						c := compactRev + 1 + rng.Int64N(m.rev()-compactRev)
						done, err := s.Compact(c)
						if err != nil {
							t.Fatalf("compact %d: %v", c, err)
						}
						<-done
						compactRev = c
						checkAllRevisions(t, s, m, compactRev, fmt.Sprintf("after compact %d", c))
					}
				case 1:
					s.Close()
					if err := b.Close(); err != nil {
						t.Fatal(err)
					}
					b = openBackend(t, path)
					if s, err = NewStore(b, nil, Config{CompactionSleepInterval: time.Millisecond, CompactionBatchLimit: 7}); err != nil {
						t.Fatal(err)
					}
					checkAllRevisions(t, s, m, compactRev, "after restart")
				}
			}
			checkAllRevisions(t, s, m, compactRev, "at end")
			s.Close()
			b.Close()
		})
	}
}

func TestCompactErrors(t *testing.T) {
	s, _ := newTestStore(t)
	applyOps(s, []op{{key: "a", val: "1"}})
	applyOps(s, []op{{key: "a", val: "2"}})
	if _, err := s.Compact(5); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	done, err := s.Compact(2)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := s.Compact(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact again: %v", err)
	}
}

// TestHashIgnoresMetaBookkeeping: Store.Hash, as etcd's, does not change
// when only the consistent index, its term or the storage version do, and
// changes with a put.
func TestHashIgnoresMetaBookkeeping(t *testing.T) {
	s, _ := newTestStore(t)
	hash := func() uint32 {
		t.Helper()
		h, _, err := s.Hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := hash()
	tx := s.Write()
	tx.SetConsistentIndex(42, 7)
	if err := tx.UnsafePut(MetaBucket, storageVersionKey, []byte("3.7.0")); err != nil {
		t.Fatal(err)
	}
	if err := tx.End(); err != nil {
		t.Fatal(err)
	}
	if after := hash(); after != before {
		t.Errorf("hash changed from %x to %x with bookkeeping alone", before, after)
	}
	tx = s.Write()
	tx.Put([]byte("k"), []byte("v"), 0)
	if err := tx.End(); err != nil {
		t.Fatal(err)
	}
	if after := hash(); after == before {
		t.Error("hash did not change with a put")
	}
}
