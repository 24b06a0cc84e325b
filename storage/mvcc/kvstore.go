package mvcc

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/basaltkv/basalt/pkg/failpoint"
	"github.com/basaltkv/basalt/storage/backend"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Bucket and meta key names; see doc.go.
var (
	KeyBucket  = []byte("key")
	MetaBucket = []byte("meta")

	consistentIndexKey  = []byte("consistent_index")
	termKey             = []byte("term")
	scheduledCompactKey = []byte("scheduledCompactRev")
	finishedCompactKey  = []byte("finishedCompactRev")
)

// Leases is how the store keeps the lessor told which keys each lease
// holds. LeaseOf returns 0 for a key without a lease.
type Leases interface {
	LeaseOf(key []byte) int64
	Attach(lease int64, key []byte)
	Detach(lease int64, key []byte)
}

// Config tunes the store.
type Config struct {
	// CompactionBatchLimit is the number of revisions deleted from the
	// backend per compaction batch.
	CompactionBatchLimit int
	// CompactionSleepInterval is the pause between compaction batches.
	CompactionSleepInterval time.Duration
	// SyncWatchersInterval is how often lagging watchers catch up.
	SyncWatchersInterval time.Duration
}

// Store is the multi-version store over a backend.
type Store struct {
	cfg     Config
	b       *backend.Backend
	kvindex *treeIndex
	leases  Leases

	// revMu guards the revisions readers pair with a backend view. Writers
	// change them only while holding the backend's batch.
	revMu          sync.RWMutex
	currentRev     int64
	compactMainRev int64

	// compactMu serializes compactions, and their start with Restore and
	// Close.
	compactMu sync.Mutex
	// compactDone closes when the backend cleaning of the latest
	// compaction ends; the next one waits for it. Guarded by compactMu.
	compactDone <-chan struct{}
	// testAt, set by tests only, is called at each crash point (at).
	testAt func(p *failpoint.Point)

	watch *watchState
	// hashes are those the latest compactions computed.
	hashes storedHashes

	stopc chan struct{}
	wg    sync.WaitGroup
}

// NewStore opens the store kept in b, rebuilding the key index from it.
// leases may be nil.
func NewStore(b *backend.Backend, leases Leases, cfg Config) (*Store, error) {
	if cfg.CompactionBatchLimit <= 0 {
		cfg.CompactionBatchLimit = 1000
	}
	if cfg.CompactionSleepInterval <= 0 {
		cfg.CompactionSleepInterval = 10 * time.Millisecond
	}
	if cfg.SyncWatchersInterval <= 0 {
		cfg.SyncWatchersInterval = 100 * time.Millisecond
	}
	s := &Store{
		cfg:     cfg,
		b:       b,
		kvindex: newTreeIndex(),
		leases:  leases,
		stopc:   make(chan struct{}),
	}
	s.watch = newWatchState(s)
	s.compactMu.Lock()
	err := s.restore()
	s.compactMu.Unlock()
	if err != nil {
		return nil, err
	}
	s.watch.notifiedRev = s.currentRev
	s.wg.Add(1)
	go s.watch.run()
	return s, nil
}

// restored is the state rebuilt from a backend.
type restored struct {
	index      *treeIndex
	currentRev int64
	// compactRev is the last finished compaction, -1 if none.
	compactRev int64
	// resumeCompact is a compaction scheduled and not finished, 0 if none.
	resumeCompact int64
}

// restore rebuilds the key index and revisions from the backend, and
// finishes a compaction a crash interrupted.
func (s *Store) restore() error {
	st, err := s.rebuild(s.b)
	if err != nil {
		return err
	}
	s.kvindex, s.currentRev, s.compactMainRev = st.index, st.currentRev, st.compactRev
	if st.resumeCompact > 0 {
		// Not stored: the hash would not cover the revisions since the
		// compaction before, which may have been cleaned already.
		s.startCompaction(compaction{rev: st.resumeCompact, prev: st.compactRev})
	}
	return nil
}

// Restore replaces the store's backend with b (a database received from
// the leader) and rebuilds everything from it. Watchers stay: they catch
// up from the new backend, or learn that their history was compacted.
// The caller must not write meanwhile.
func (s *Store) Restore(b *backend.Backend) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	// Stop the background work that holds the old backend.
	close(s.stopc)
	s.wg.Wait()
	st, err := s.rebuild(b)
	if err != nil {
		return err
	}
	s.revMu.Lock()
	s.b = b
	s.kvindex, s.currentRev, s.compactMainRev = st.index, st.currentRev, st.compactRev
	s.revMu.Unlock()
	s.stopc = make(chan struct{})
	s.watch.restart(st.currentRev)
	s.wg.Add(1)
	go s.watch.run()
	s.compactDone = nil
	// The stored hashes are of the history replaced.
	s.hashes.reset()
	if st.resumeCompact > 0 {
		// Not stored: the hash would not cover the revisions since the
		// compaction before, which may have been cleaned already.
		s.startCompaction(compaction{rev: st.resumeCompact, prev: st.compactRev})
	}
	return nil
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
	// Drop keys whose every generation is gone.
	var empty []*keyIndex
	idx.Ascend(func(ki *keyIndex) bool {
		if ki.isEmpty() {
			empty = append(empty, ki)
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

// Rev is the current revision.
func (s *Store) Rev() int64 {
	s.revMu.RLock()
	defer s.revMu.RUnlock()
	return s.currentRev
}

// CompactRev is the revision of the last compaction, -1 if the store was
// never compacted.
func (s *Store) CompactRev() int64 {
	s.revMu.RLock()
	defer s.revMu.RUnlock()
	return s.compactMainRev
}

// ConsistentIndex returns the last raft entry applied, as persisted.
func (s *Store) ConsistentIndex() (index, term uint64) {
	view := s.b.ReadTx()
	defer view.End()
	if v, ok := view.Get(MetaBucket, consistentIndexKey); ok && len(v) == 8 {
		index = binary.BigEndian.Uint64(v)
	}
	if v, ok := view.Get(MetaBucket, termKey); ok && len(v) == 8 {
		term = binary.BigEndian.Uint64(v)
	}
	return index, term
}

// Backend is the store's backend.
func (s *Store) Backend() *backend.Backend { return s.b }

// Close stops the store's goroutines. The backend stays open.
func (s *Store) Close() {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	select {
	case <-s.stopc:
		return
	default:
	}
	close(s.stopc)
	s.wg.Wait()
	s.watch.closeAll()
}

// readKV reads the record of rev through get.
func readKV(get func(bucket, key []byte) ([]byte, bool), rev Revision) (*mvccpb.KeyValue, error) {
	v, ok := get(KeyBucket, revToBytes(rev, false))
	if !ok {
		return nil, fmt.Errorf("mvcc: revision %d_%d is in the index but not in the backend", rev.Main, rev.Sub)
	}
	kv := &mvccpb.KeyValue{}
	if err := decodeKV(v, kv); err != nil {
		return nil, fmt.Errorf("mvcc: revision %d_%d: %w", rev.Main, rev.Sub, err)
	}
	return kv, nil
}
