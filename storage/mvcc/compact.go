package mvcc

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Compact discards history below rev: reads at revisions below rev fail
// with ErrCompacted from now on. The index is compacted before it
// returns; the backend is cleaned in batches in the background, after
// the compactions before it, and the returned channel closes when that is
// done (a physical compaction waits for it) or stopped (Close, Restore).
func (s *Store) Compact(rev int64) (<-chan struct{}, error) {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The batch is held: no write changes the current revision meanwhile.
	tx := s.b.BatchTx()
	tx.Lock()
	s.revMu.RLock()
	prev, cur := s.compactMainRev, s.currentRev
	s.revMu.RUnlock()
	var err error
	var prevFinished bool
	switch {
	case rev <= prev:
		err = ErrCompacted
	case rev > cur:
		err = ErrFutureRev
	default:
		get := func(bucket, key []byte) ([]byte, bool) { return batchGet(tx, bucket, key) }
		sched, schedFound := readCompactRev(get, scheduledCompactKey)
		fin, finFound := readCompactRev(get, finishedCompactKey)
		prevFinished = sched == fin && schedFound == finFound
		// Recorded before it starts, so that a crash midway resumes it.
		err = tx.UnsafePut(MetaBucket, scheduledCompactKey, revToBytes(Revision{Main: rev}, false))
		if err != nil {
			err = fmt.Errorf("mvcc: record scheduled compaction: %w", err)
		}
	}
	if uerr := tx.Unlock(); err == nil && uerr != nil {
		err = fmt.Errorf("mvcc: record scheduled compaction: %w", uerr)
	}
	if err != nil {
		return nil, err
	}
	// Committed before any batch of deletes is, as etcd does: whatever a
	// crash keeps of the cleaning, it keeps the record too.
	s.at(fpCompactBeforeCommitScheduledCompact)
	if err := s.b.ForceCommit(); err != nil {
		return nil, fmt.Errorf("mvcc: commit scheduled compaction: %w", err)
	}
	s.at(fpCompactAfterCommitScheduledCompact)
	return s.startCompactionLocked(compaction{rev: rev, prev: prev, storeHash: prevFinished}), nil
}

// compaction is one compaction's backend cleaning.
type compaction struct {
	rev int64
	// prev is the compaction revision before it, -1 if none: the hash
	// computed while cleaning is taken against it.
	prev int64
	// storeHash is set if the compaction before it had finished when it
	// was scheduled: its hash then covers every revision since that one,
	// and is stored (etcd #15919).
	storeHash bool
}

// startCompactionLocked compacts the index at c.rev and starts cleaning
// the backend once the compactions before it have. compactMu and the
// store lock (shared or exclusive) are held.
func (s *Store) startCompactionLocked(c compaction) <-chan struct{} {
	rev := c.rev
	s.revMu.Lock()
	if rev > s.compactMainRev {
		s.compactMainRev = rev
	}
	s.revMu.Unlock()
	indexStart := time.Now()
	keep := s.mu.kvindex.Compact(rev)
	indexCompactionPauseMs.Observe(milliseconds(time.Since(indexStart)))
	done := make(chan struct{})
	before := s.compactDone
	s.compactDone = done
	stopc := s.stopc
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		if before != nil {
			select {
			case <-before:
			case <-stopc:
				return
			}
		}
		s.cleanBackend(c, keep, stopc)
	}()
	// The watchers behind rev must be told.
	s.watch.compacted(rev)
	return done
}

// cleanBackend deletes from the key bucket every revision at or below
// c.rev that keep does not hold, a batch at a time, committing each batch,
// and records the compaction as finished with the last. It hashes the
// records it reads, and stores the hash if c.storeHash. It returns early
// when stopc closes; the compaction then resumes on the next start.
func (s *Store) cleanBackend(c compaction, keep map[Revision]struct{}, stopc <-chan struct{}) {
	start := time.Now()
	deleted := 0
	defer func() {
		dbCompactionTotalMs.Observe(milliseconds(time.Since(start)))
		dbCompactionKeys.Add(float64(deleted))
		dbCompactionLast.Set(float64(time.Now().Unix()))
	}()
	rev := c.rev
	kh := newKVHasher(c.prev, rev, keep)
	end := make([]byte, 8)
	binary.BigEndian.PutUint64(end, uint64(rev+1))
	last := make([]byte, 8)
	limit := s.cfg.CompactionBatchLimit
	for {
		// Each batch holds the store lock: Restore, which stops this
		// loop first, must not change the data under it.
		batchStart := time.Now()
		s.mu.RLock()
		select {
		case <-stopc:
			s.mu.RUnlock()
			return
		default:
		}
		tx := s.b.BatchTx()
		tx.Lock()
		s.at(fpCompactAfterAcquiredBatchTxLock)
		keys, vals := tx.UnsafeRange(KeyBucket, last, end, int64(limit))
		for i, k := range keys {
			r, ok := bytesToRev(k)
			if !ok {
				continue
			}
			kh.add(k, vals[i])
			if _, kept := keep[r]; !kept {
				if err := tx.UnsafeDelete(KeyBucket, k); err != nil {
					_ = tx.Unlock()
					s.mu.RUnlock()
					return // bbolt failed: the member learns it from its next write
				}
				deleted++
			}
		}
		if len(keys) < limit {
			s.at(fpCompactBeforeSetFinishedCompact)
			err := tx.UnsafePut(MetaBucket, finishedCompactKey, revToBytes(Revision{Main: rev}, false))
			uerr := tx.Unlock()
			s.mu.RUnlock()
			dbCompactionPauseMs.Observe(milliseconds(time.Since(batchStart)))
			if err != nil || uerr != nil {
				return
			}
			s.at(fpCompactAfterSetFinishedCompact)
			if c.storeHash {
				s.hashes.add(kh.sum())
			}
			return
		}
		// Continue after the last key seen.
		last = append(append(last[:0], keys[len(keys)-1]...), 0)
		err := tx.Unlock()
		s.mu.RUnlock()
		if err != nil {
			return
		}
		// Commit the deletes now rather than let them pile up in the
		// batch's buffer, which every read merges with the committed data.
		s.at(fpCompactBeforeCommitBatch)
		if err := s.b.ForceCommit(); err != nil {
			return
		}
		s.at(fpCompactAfterCommitBatch)
		dbCompactionPauseMs.Observe(milliseconds(time.Since(batchStart)))
		select {
		case <-time.After(s.cfg.CompactionSleepInterval):
		case <-stopc:
			return
		}
	}
}
