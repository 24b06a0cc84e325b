package mvcc

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// newKeyIndex builds a key's history: positive mains are puts, negative
// ones tombstones.
func newKeyIndex(mains ...int64) *keyIndex {
	ki := &keyIndex{key: []byte("k")}
	for _, m := range mains {
		if m < 0 {
			if err := ki.tombstone(-m, 0); err != nil {
				panic(err)
			}
			continue
		}
		ki.put(m, 0)
	}
	return ki
}

// gens renders generations as "[2 4 6][8]": the last revision of every
// generation but the last is its tombstone.
func gens(ki *keyIndex) string {
	var b strings.Builder
	for _, g := range ki.generations {
		mains := make([]string, len(g.revs))
		for i, r := range g.revs {
			mains[i] = fmt.Sprint(r.Main)
		}
		fmt.Fprintf(&b, "[%s]", strings.Join(mains, " "))
	}
	return b.String()
}

func mains(set map[Revision]struct{}) []int64 {
	var out []int64
	for r := range set {
		out = append(out, r.Main)
	}
	slices.Sort(out)
	return out
}

// TestKeyIndexCompactKeepsTombstoneAtCompactRev: compacting at a key's
// tombstone keeps the tombstone (etcd ≥ 3.5.16) until a later compaction;
// keep, which hashing uses, leaves it out all the same.
func TestKeyIndexCompactKeepsTombstoneAtCompactRev(t *testing.T) {
	lived := []int64{2, 4, -6, 8, 10, -12, 14} // two ended generations, one live
	deleted := []int64{2, -4}                  // deleted now
	tests := []struct {
		history  []int64
		at       int64
		wantGens string
		wantKept []int64 // by compact
		wantKeep []int64 // by keep
	}{
		{lived, 1, "[2 4 6][8 10 12][14]", nil, nil},
		{lived, 3, "[2 4 6][8 10 12][14]", []int64{2}, []int64{2}},
		{lived, 4, "[4 6][8 10 12][14]", []int64{4}, []int64{4}},
		{lived, 6, "[6][8 10 12][14]", []int64{6}, nil},
		{lived, 7, "[8 10 12][14]", nil, nil},
		{lived, 11, "[10 12][14]", []int64{10}, []int64{10}},
		{lived, 12, "[12][14]", []int64{12}, nil},
		{lived, 13, "[14]", nil, nil},
		{lived, 20, "[14]", []int64{14}, []int64{14}},
		{deleted, 3, "[2 4][]", []int64{2}, []int64{2}},
		{deleted, 4, "[4][]", []int64{4}, nil},
		{deleted, 5, "[]", nil, nil},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%v at %d", tt.history, tt.at)
		keep := map[Revision]struct{}{}
		newKeyIndex(tt.history...).keep(tt.at, keep)
		if got := mains(keep); !slices.Equal(got, tt.wantKeep) {
			t.Errorf("%s: keep %v, want %v", name, got, tt.wantKeep)
		}
		ki := newKeyIndex(tt.history...)
		kept := map[Revision]struct{}{}
		ki.compact(tt.at, kept)
		if got := gens(ki); got != tt.wantGens {
			t.Errorf("%s: generations %s, want %s", name, got, tt.wantGens)
		}
		if got := mains(kept); !slices.Equal(got, tt.wantKept) {
			t.Errorf("%s: compact kept %v, want %v", name, got, tt.wantKept)
		}
	}
	// The kept tombstone goes with the next compaction.
	ki := newKeyIndex(deleted...)
	ki.compact(4, map[Revision]struct{}{})
	kept := map[Revision]struct{}{}
	ki.compact(5, kept)
	if !ki.isEmpty() || len(kept) != 0 {
		t.Errorf("compact 4 then 5: generations %s, kept %v; want the key empty", gens(ki), mains(kept))
	}
	// The key does not exist at its tombstone, kept or not.
	if _, _, _, err := newKeyIndex(lived...).get(6); err != ErrRevisionNotFound {
		t.Errorf("get at the tombstone: %v", err)
	}
	ki = newKeyIndex(lived...)
	ki.compact(6, map[Revision]struct{}{})
	if _, _, _, err := ki.get(6); err != ErrRevisionNotFound {
		t.Errorf("get at the kept tombstone: %v", err)
	}
}
