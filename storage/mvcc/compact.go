package mvcc

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Compact discards history at or below rev. The index is compacted before
// it returns; the backend is cleaned in batches in the background, and
// the returned channel closes when that is done (a physical compaction
// waits for it).
func (s *Store) Compact(rev int64) (<-chan struct{}, error) {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.revMu.Lock()
	if rev <= s.compactMainRev {
		s.revMu.Unlock()
		return nil, ErrCompacted
	}
	if rev > s.currentRev {
		s.revMu.Unlock()
		return nil, ErrFutureRev
	}
	s.compactMainRev = rev
	s.revMu.Unlock()

	// Record the compaction before doing it, so a crash midway resumes it.
	tx := s.b.BatchTx()
	tx.Lock()
	err := tx.UnsafePut(MetaBucket, scheduledCompactKey, revToBytes(Revision{Main: rev}, false))
	if uerr := tx.Unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return nil, fmt.Errorf("mvcc: record scheduled compaction: %w", err)
	}
	return s.compact(rev)
}

// compact compacts the index and starts cleaning the backend.
func (s *Store) compact(rev int64) (<-chan struct{}, error) {
	s.revMu.Lock()
	if rev > s.compactMainRev {
		s.compactMainRev = rev
	}
	s.revMu.Unlock()
	keep := s.kvindex.Compact(rev)
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		s.cleanBackend(rev, keep)
	}()
	// The watchers behind rev must be told.
	s.watch.compacted(rev)
	return done, nil
}

// cleanBackend deletes from the key bucket every revision at or below rev
// that keep does not hold, a batch at a time.
func (s *Store) cleanBackend(rev int64, keep map[Revision]struct{}) {
	end := make([]byte, 8)
	binary.BigEndian.PutUint64(end, uint64(rev+1))
	last := make([]byte, 8)
	for {
		select {
		case <-s.stopc:
			return
		default:
		}
		tx := s.b.BatchTx()
		tx.Lock()
		keys, _ := tx.UnsafeRange(KeyBucket, last, end, int64(s.cfg.CompactionBatchLimit))
		for _, k := range keys {
			r, ok := bytesToRev(k)
			if !ok {
				continue
			}
			if _, kept := keep[r]; !kept {
				if err := tx.UnsafeDelete(KeyBucket, k); err != nil {
					tx.Unlock()
					return
				}
			}
		}
		if len(keys) < s.cfg.CompactionBatchLimit {
			_ = tx.UnsafePut(MetaBucket, finishedCompactKey, revToBytes(Revision{Main: rev}, false))
			_ = tx.Unlock()
			return
		}
		// Continue after the last key seen.
		last = append(append(last[:0], keys[len(keys)-1]...), 0)
		_ = tx.Unlock()
		select {
		case <-time.After(s.cfg.CompactionSleepInterval):
		case <-s.stopc:
			return
		}
	}
}

// KVHash is HashKV's answer.
type KVHash struct {
	Hash            uint32
	Revision        int64 // the revision hashed up to
	CompactRevision int64
	CurrentRevision int64
}

// HashKV hashes every key-value record up to rev (0: the current
// revision) that compaction at the current compaction point keeps. Members
// that applied the same entries get the same hash, whether or not their
// backends finished cleaning.
func (s *Store) HashKV(rev int64) (KVHash, error) {
	s.revMu.RLock()
	compactRev, curRev := s.compactMainRev, s.currentRev
	view := s.b.ReadTx()
	s.revMu.RUnlock()
	defer view.End()
	if rev > 0 && rev < compactRev {
		return KVHash{}, ErrCompacted
	}
	if rev > curRev {
		return KVHash{}, ErrFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	keep := s.kvindex.Keep(compactRev)
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(KeyBucket)
	end := make([]byte, 8)
	binary.BigEndian.PutUint64(end, uint64(rev+1))
	keys, vals := view.Range(KeyBucket, make([]byte, 8), end, 0)
	for i, k := range keys {
		r, ok := bytesToRev(k)
		if !ok {
			continue
		}
		if r.Main <= compactRev {
			if _, kept := keep[r]; !kept {
				continue
			}
		}
		h.Write(k)
		h.Write(vals[i])
	}
	return KVHash{Hash: h.Sum32(), Revision: rev, CompactRevision: compactRev, CurrentRevision: curRev}, nil
}
