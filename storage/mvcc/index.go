package mvcc

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// treeIndex is the key index: a B-tree of keyIndex ordered by key.
type treeIndex struct {
	mu   sync.RWMutex
	tree *btree.BTreeG[*keyIndex]
	// live is the number of keys that exist now (not deleted).
	live int
}

func lessKeyIndex(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }

func newTreeIndex() *treeIndex {
	return &treeIndex{tree: btree.NewG(32, lessKeyIndex)}
}

func (ti *treeIndex) Put(key []byte, rev Revision) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	probe := &keyIndex{key: key}
	ki, ok := ti.tree.Get(probe)
	if !ok {
		ki = probe
		ti.tree.ReplaceOrInsert(ki)
	}
	if ki.put(rev.Main, rev.Sub) {
		ti.live++
	}
}

func (ti *treeIndex) Tombstone(key []byte, rev Revision) error {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ki, ok := ti.tree.Get(&keyIndex{key: key})
	if !ok {
		return ErrRevisionNotFound
	}
	if err := ki.tombstone(rev.Main, rev.Sub); err != nil {
		return err
	}
	ti.live--
	return nil
}

// Get returns the key's revision at atRev.
func (ti *treeIndex) Get(key []byte, atRev int64) (modified, created Revision, ver int64, err error) {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	ki, ok := ti.tree.Get(&keyIndex{key: key})
	if !ok {
		return Revision{}, Revision{}, 0, ErrRevisionNotFound
	}
	return ki.get(atRev)
}

// visit calls f for each key in [key, end): end nil means key alone, an
// empty end means every key from key on.
func (ti *treeIndex) visit(key, end []byte, f func(ki *keyIndex) bool) {
	if end == nil {
		if ki, ok := ti.tree.Get(&keyIndex{key: key}); ok {
			f(ki)
		}
		return
	}
	ti.tree.AscendGreaterOrEqual(&keyIndex{key: key}, func(ki *keyIndex) bool {
		if len(end) > 0 && bytes.Compare(ki.key, end) >= 0 {
			return false
		}
		return f(ki)
	})
}

// Revisions returns the revisions of the keys live in [key, end) at atRev
// (at most limit if limit > 0), and how many such keys there are in all.
func (ti *treeIndex) Revisions(key, end []byte, atRev int64, limit int) (revs []Revision, total int) {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	ti.visit(key, end, func(ki *keyIndex) bool {
		if rev, _, _, err := ki.get(atRev); err == nil {
			if limit <= 0 || len(revs) < limit {
				revs = append(revs, rev)
			}
			total++
		}
		return true
	})
	return revs, total
}

// CountRevisions counts the keys live in [key, end) at atRev.
func (ti *treeIndex) CountRevisions(key, end []byte, atRev int64) int {
	_, total := ti.Revisions(key, end, atRev, 1)
	return total
}

// Range returns the keys live in [key, end) at atRev and their revisions.
func (ti *treeIndex) Range(key, end []byte, atRev int64) (keys [][]byte, revs []Revision) {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	ti.visit(key, end, func(ki *keyIndex) bool {
		if rev, _, _, err := ki.get(atRev); err == nil {
			keys = append(keys, ki.key)
			revs = append(revs, rev)
		}
		return true
	})
	return keys, revs
}

// Compact compacts every key at rev and returns the revisions to keep.
// It holds the write lock only in short stretches, so that reads and
// writes proceed while a large index is compacted.
func (ti *treeIndex) Compact(rev int64) map[Revision]struct{} {
	available := make(map[Revision]struct{})
	// Clone writes to the tree's copy-on-write state: take the write lock.
	ti.mu.Lock()
	clone := ti.tree.Clone()
	ti.mu.Unlock()
	const step = 1000
	var batch []*keyIndex
	flush := func() {
		ti.mu.Lock()
		for _, ki := range batch {
			ki.compact(rev, available)
			if ki.isEmpty() {
				ti.tree.Delete(ki)
			}
		}
		ti.mu.Unlock()
		batch = batch[:0]
	}
	clone.Ascend(func(ki *keyIndex) bool {
		batch = append(batch, ki)
		if len(batch) >= step {
			flush()
		}
		return true
	})
	flush()
	return available
}

// Keep returns what Compact(rev) would keep, changing nothing.
func (ti *treeIndex) Keep(rev int64) map[Revision]struct{} {
	available := make(map[Revision]struct{})
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	ti.tree.Ascend(func(ki *keyIndex) bool {
		ki.keep(rev, available)
		return true
	})
	return available
}

// Live is the number of keys that exist now.
func (ti *treeIndex) Live() int {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	return ti.live
}

// Len is the number of keys in the index (live or with history).
func (ti *treeIndex) Len() int {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	return ti.tree.Len()
}
