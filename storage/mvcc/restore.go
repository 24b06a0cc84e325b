package mvcc

import (
	"errors"
	"fmt"

	"github.com/basaltkv/basalt/storage/backend"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// restored is the state rebuilt from a backend.
type restored struct {
	index      *treeIndex
	currentRev int64
	// compactRev is the last finished compaction, -1 if none.
	compactRev int64
	// resumeCompact is a compaction scheduled and not finished, 0 if none.
	resumeCompact int64
}

// restoreLocked rebuilds the key index and revisions from the backend,
// and resumes a compaction a crash interrupted. compactMu is held, and mu
// exclusively.
func (s *Store) restoreLocked() error {
	st, err := s.rebuild(s.b)
	if err != nil {
		return err
	}
	s.mu.kvindex = st.index
	s.revMu.Lock()
	s.currentRev, s.compactMainRev = st.currentRev, st.compactRev
	s.revMu.Unlock()
	if st.resumeCompact > 0 {
		// Its hash is not stored: it would not cover the revisions since
		// the compaction before, which may have been cleaned already.
		s.startCompactionLocked(compaction{rev: st.resumeCompact, prev: st.compactRev})
	}
	return nil
}

// Restore replaces the store's contents: it stops background work, waits
// for every open read/write transaction to end and holds new ones off,
// calls replace (which changes the data in b in place: the member swaps in
// a database received from the leader and recovers its lessor from it),
// rebuilds the index from b, and lets readers in again.
//
// Watchers stay: each catches up from the new contents from the revision
// it had reached, or learns that it was compacted. The hashes compactions
// stored are dropped, being of the history replaced; a compaction
// scheduled and not finished in the new contents resumes. Compact and
// Close wait for it. The calling goroutine must not hold a transaction of
// the store (it would wait for itself), and replace must not use the
// store.
//
// If replace fails, the index is rebuilt from b all the same and the
// error returned; if rebuilding fails, the store must not be used again.
func (s *Store) Restore(replace func(b *backend.Backend) error) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	// The background work takes mu shared: stop it before waiting for mu
	// exclusively, or each would wait for the other. A compaction whose
	// cleaning stops here resumes below if the new contents still have it
	// scheduled.
	close(s.stopc)
	s.wg.Wait()
	s.stopc = make(chan struct{})
	s.compactDone = nil

	s.mu.Lock()
	var errs []error
	if err := replace(s.b); err != nil {
		errs = append(errs, fmt.Errorf("mvcc: restore: replace contents: %w", err))
	}
	s.hashes.reset()
	if err := s.restoreLocked(); err != nil {
		errs = append(errs, err)
	}
	s.watch.restart(s.Rev())
	s.mu.Unlock()

	s.startWatchLoop()
	return errors.Join(errs...)
}

// rebuild reads a backend's key bucket into a new index.
func (s *Store) rebuild(b *backend.Backend) (restored, error) {
	tx := b.BatchTx()
	tx.Lock()
	err := tx.UnsafeCreateBucket(KeyBucket)
	if err == nil {
		err = tx.UnsafeCreateBucket(MetaBucket)
	}
	if uerr := tx.Unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return restored{}, fmt.Errorf("mvcc: create buckets: %w", err)
	}
	view := b.ReadTx()
	defer view.End()
	finished, finishedFound := readCompactRev(view.Get, finishedCompactKey)
	scheduled, scheduledFound := readCompactRev(view.Get, scheduledCompactKey)
	// A new store is at revision 1 and has never been compacted (-1), as
	// etcd's: the first write is revision 2.
	st := restored{index: newTreeIndex(), compactRev: -1, currentRev: 1}
	if finishedFound {
		st.compactRev = finished
	}
	// Compaction may have removed every record up to the revision it ran
	// at, the newest too if it was a tombstone: the current revision is at
	// least that.
	st.currentRev = max(st.currentRev, st.compactRev, scheduled)
	if scheduledFound && scheduled > st.compactRev {
		st.resumeCompact = scheduled
	}
	idx := st.index.tree
	err = view.ForEach(KeyBucket, func(k, v []byte) error {
		rev, ok := bytesToRev(k)
		if !ok {
			return fmt.Errorf("mvcc: restore: bad revision key %x", k)
		}
		var rec mvccpb.KeyValue
		if err := decodeMeta(v, &rec); err != nil {
			return fmt.Errorf("mvcc: restore: revision %d_%d: %w", rev.Main, rev.Sub, err)
		}
		key, lease := rec.Key, rec.Lease
		if rev.Main > st.currentRev {
			st.currentRev = rev.Main
		}
		ki, found := idx.Get(&keyIndex{key: key})
		if !found {
			ki = &keyIndex{key: key}
			idx.ReplaceOrInsert(ki)
			// The oldest record left may follow compacted ones: its
			// creation and version come from the record, not from
			// counting.
			if isTombstone(k) {
				ki.restoreTombstone(rev)
				return nil
			}
			ki.restore(Revision{Main: rec.CreateRevision}, rev, rec.Version)
			if s.leases != nil && lease != 0 {
				s.leases.Attach(lease, key)
			}
			return nil
		}
		if isTombstone(k) {
			// An error is a tombstone of a deleted key, which no write
			// makes: ignore it, as etcd does.
			_ = ki.tombstone(rev.Main, rev.Sub)
			if s.leases != nil {
				if old := s.leases.LeaseOf(key); old != 0 {
					s.leases.Detach(old, key)
				}
			}
			return nil
		}
		ki.put(rev.Main, rev.Sub)
		if s.leases != nil {
			if old := s.leases.LeaseOf(key); old != lease {
				if old != 0 {
					s.leases.Detach(old, key)
				}
				if lease != 0 {
					s.leases.Attach(lease, key)
				}
			}
		}
		return nil
	})
	if err != nil {
		return restored{}, err
	}
	// Drop keys whose every generation is gone; count those that exist.
	var empty []*keyIndex
	idx.Ascend(func(ki *keyIndex) bool {
		if ki.isEmpty() {
			empty = append(empty, ki)
		}
		if ki.isLive() {
			st.index.live++
		}
		return true
	})
	for _, ki := range empty {
		idx.Delete(ki)
	}
	return st, nil
}

// readCompactRev reads a compaction record of the meta bucket: 0 and
// false if there is none.
func readCompactRev(get func(bucket, key []byte) ([]byte, bool), key []byte) (int64, bool) {
	v, ok := get(MetaBucket, key)
	if !ok {
		return 0, false
	}
	r, ok := bytesToRev(v)
	return r.Main, ok
}
