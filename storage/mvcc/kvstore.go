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
	cfg Config
	// b is the backend, for the store's life; Restore changes its data in
	// place.
	b      *backend.Backend
	leases Leases

	// mu is the store lock. Every transaction holds it shared from start
	// to End, as do HashKV, ConsistentIndex, Compact, each batch of a
	// compaction's cleaning and each catch-up round of the watchers;
	// Restore holds it exclusively while it replaces the data. A
	// goroutine holding it must not ask for it again (see doc.go).
	mu struct {
		sync.RWMutex
		// kvindex is the key index, replaced wholesale by Restore.
		kvindex *treeIndex
	}

	// revMu guards the revisions readers pair with a backend view. Writers
	// change them only while holding the backend's batch.
	revMu          sync.RWMutex
	currentRev     int64
	compactMainRev int64

	// compactMu serializes compactions, and their start with Restore and
	// Close. It guards compactDone and stopc.
	compactMu sync.Mutex
	// compactDone closes when the backend cleaning of the latest
	// compaction ends; the next one waits for it.
	compactDone <-chan struct{}
	// stopc closes to stop the background work (the watch loop and the
	// compaction cleaners, counted by wg); Restore makes a new one.
	stopc chan struct{}
	wg    sync.WaitGroup
	// testAt, set by tests only, is called at each crash point (at).
	testAt func(p *failpoint.Point)

	watch *watchState
	// hashes are those the latest compactions computed.
	hashes storedHashes
}

// NewStore opens the store kept in b, rebuilding the key index from it,
// and resumes a compaction a crash interrupted. leases may be nil.
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
	s := &Store{cfg: cfg, b: b, leases: leases, stopc: make(chan struct{})}
	s.watch = newWatchState(s)
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.Lock()
	err := s.restoreLocked()
	s.mu.Unlock()
	if err != nil {
		close(s.stopc)
		s.wg.Wait()
		return nil, err
	}
	s.watch.notifiedRev = s.currentRev
	s.startWatchLoop()
	return s, nil
}

// startWatchLoop starts the watchers' catch-up loop. compactMu is held.
func (s *Store) startWatchLoop() {
	stopc := s.stopc
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch.run(stopc)
	}()
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

// KeyCount is the number of keys that exist now.
func (s *Store) KeyCount() int {
	s.mu.RLock()
	idx := s.mu.kvindex
	s.mu.RUnlock()
	return idx.Live()
}

// ConsistentIndex returns the last raft entry applied, as persisted.
func (s *Store) ConsistentIndex() (index, term uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
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

// Close stops the store's goroutines, a compaction's cleaning too (it
// resumes on the next start). The backend stays open.
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
