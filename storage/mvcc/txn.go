package mvcc

import (
	"encoding/binary"

	"github.com/basaltkv/basalt/storage/backend"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// RangeOptions narrow a Range.
type RangeOptions struct {
	// Limit caps the number of keys returned; 0 is no limit.
	Limit int64
	// Rev reads at a past revision; 0 is the current one.
	Rev int64
	// Count returns only the number of keys.
	Count bool
}

// RangeResult is what a Range found.
type RangeResult struct {
	KVs []*mvccpb.KeyValue
	// Rev is the store's revision when the range was read.
	Rev int64
	// Count is the number of keys in the range, regardless of Limit.
	Count int
}

// TxnRead is a read transaction: every Range in it sees one revision.
type TxnRead interface {
	// FirstRev is the oldest revision readable (the compaction point).
	FirstRev() int64
	// Rev is the revision the transaction reads at.
	Rev() int64
	// Range reads [key, end): end nil reads key alone, an empty end (or
	// "\x00") reads every key from key on.
	Range(key, end []byte, ro RangeOptions) (*RangeResult, error)
	End()
}

// ReadTxn is a read-only transaction over a backend view.
type ReadTxn struct {
	s        *Store
	idx      *treeIndex
	view     *backend.ReadTx
	firstRev int64
	rev      int64
	ops      txnOps
}

// Read starts a read transaction at the current revision. It holds the
// store lock shared until End: the goroutine must not start another
// transaction, nor call HashKV, Compact, ConsistentIndex or Restore,
// before then (see doc.go).
func (s *Store) Read() *ReadTxn {
	s.mu.RLock()
	s.revMu.RLock()
	t := &ReadTxn{s: s, idx: s.mu.kvindex, firstRev: s.compactMainRev, rev: s.currentRev, view: s.b.ReadTx()}
	s.revMu.RUnlock()
	return t
}

// FirstRev implements TxnRead.
func (t *ReadTxn) FirstRev() int64 { return t.firstRev }

// Rev implements TxnRead.
func (t *ReadTxn) Rev() int64 { return t.rev }

// Range implements TxnRead.
func (t *ReadTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	t.ops.ranges++
	return t.s.rangeKeys(t.idx, key, end, t.rev, t.firstRev, ro, t.view.Get)
}

// End implements TxnRead. Call it once.
func (t *ReadTxn) End() {
	t.view.End()
	t.s.mu.RUnlock()
	t.ops.report()
}

func normalizeEnd(end []byte) []byte {
	if len(end) == 1 && end[0] == 0 {
		return []byte{}
	}
	return end
}

// rangeKeys reads through the index idx and get, which the caller's
// transaction pairs.
func (s *Store) rangeKeys(idx *treeIndex, key, end []byte, curRev, firstRev int64, ro RangeOptions, get func(bucket, key []byte) ([]byte, bool)) (*RangeResult, error) {
	rev := ro.Rev
	if rev > curRev {
		return &RangeResult{Rev: curRev}, ErrFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	if rev < firstRev {
		return &RangeResult{Rev: curRev}, ErrCompacted
	}
	end = normalizeEnd(end)
	if len(end) > 0 && string(end) <= string(key) {
		return &RangeResult{Rev: curRev}, nil
	}
	var revs []Revision
	var total int
	if ro.Count {
		total = idx.CountRevisions(key, end, rev)
	} else {
		revs, total = idx.Revisions(key, end, rev, int(ro.Limit))
	}
	// A compaction past rev may have started while we read the index,
	// which it changes in place: the revisions read may be incomplete.
	if rev < s.CompactRev() {
		return &RangeResult{Rev: curRev}, ErrCompacted
	}
	res := &RangeResult{Rev: curRev, Count: total}
	if len(revs) == 0 {
		return res, nil
	}
	res.KVs = make([]*mvccpb.KeyValue, len(revs))
	for i, r := range revs {
		kv, err := readKV(get, r)
		if err != nil {
			return nil, err
		}
		res.KVs[i] = kv
	}
	return res, nil
}

// WriteTxn is a write transaction: all its changes share one main
// revision and become visible to readers and watchers together at End.
// It holds the backend's batch from Write to End, so the raft entry being
// applied can write other buckets (leases, the consistent index) in the
// same atomic batch.
//
// A transaction changes each key at most once, as etcd's API enforces (a
// Txn that puts a key twice, or puts a key it deletes, is refused with
// ErrDuplicateKey): the key index keeps one revision per key per main
// revision in mind, and compaction keeps only the newest of a generation.
type WriteTxn struct {
	s        *Store
	idx      *treeIndex
	tx       *backend.BatchTx
	beginRev int64
	firstRev int64
	events   []*mvccpb.Event
	ops      txnOps
}

// Write starts a write transaction. It holds the store lock shared until
// End, as Read does, and the backend's batch.
func (s *Store) Write() *WriteTxn {
	s.mu.RLock()
	tx := s.b.BatchTx()
	tx.Lock()
	// The batch is held: currentRev cannot change under us.
	s.revMu.RLock()
	t := &WriteTxn{s: s, idx: s.mu.kvindex, tx: tx, beginRev: s.currentRev, firstRev: s.compactMainRev}
	s.revMu.RUnlock()
	return t
}

// FirstRev implements TxnRead.
func (t *WriteTxn) FirstRev() int64 { return t.firstRev }

// Rev is the revision of the transaction's changes so far.
func (t *WriteTxn) Rev() int64 {
	if len(t.events) > 0 {
		return t.beginRev + 1
	}
	return t.beginRev
}

// Range reads, seeing the transaction's own changes.
func (t *WriteTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	t.ops.ranges++
	get := func(bucket, key []byte) ([]byte, bool) { return batchGet(t.tx, bucket, key) }
	return t.s.rangeKeys(t.idx, key, end, t.Rev(), t.firstRev, ro, get)
}

// Put writes key=value with a lease (0 for none) and returns the revision.
func (t *WriteTxn) Put(key, value []byte, lease int64) int64 {
	t.ops.puts++
	t.ops.putSize += len(key) + len(value)
	rev := t.beginRev + 1
	created := rev
	var ver int64
	if _, c, v, err := t.idx.Get(key, rev); err == nil {
		created, ver = c.Main, v
	}
	idxRev := Revision{Main: rev, Sub: int64(len(t.events))}
	kv := &mvccpb.KeyValue{
		Key:            key,
		Value:          value,
		CreateRevision: created,
		ModRevision:    rev,
		Version:        ver + 1,
		Lease:          lease,
	}
	if err := t.tx.UnsafeSeqPut(KeyBucket, revToBytes(idxRev, false), encodeKV(kv)); err != nil {
		// The key bucket exists from NewStore on: this is bbolt failing.
		panic(err)
	}
	t.idx.Put(key, idxRev)
	t.events = append(t.events, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv})
	if l := t.s.leases; l != nil {
		if old := l.LeaseOf(key); old != lease {
			if old != 0 {
				l.Detach(old, key)
			}
			if lease != 0 {
				l.Attach(lease, key)
			}
		}
	}
	return rev
}

// DeleteRange deletes the keys in [key, end) (see TxnRead.Range for end)
// and returns how many it deleted and the revision.
func (t *WriteTxn) DeleteRange(key, end []byte) (n, rev int64) {
	t.ops.deletes++
	end = normalizeEnd(end)
	if len(end) > 0 && string(end) <= string(key) {
		return 0, t.Rev()
	}
	keys, _ := t.idx.Range(key, end, t.Rev())
	for _, k := range keys {
		t.delete(k)
	}
	return int64(len(keys)), t.Rev()
}

func (t *WriteTxn) delete(key []byte) {
	rev := t.beginRev + 1
	idxRev := Revision{Main: rev, Sub: int64(len(t.events))}
	if err := t.tx.UnsafeSeqPut(KeyBucket, revToBytes(idxRev, true), encodeKV(&mvccpb.KeyValue{Key: key})); err != nil {
		panic(err)
	}
	if err := t.idx.Tombstone(key, idxRev); err != nil {
		panic(err) // the key came from the index at this revision
	}
	t.events = append(t.events, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}})
	if l := t.s.leases; l != nil {
		if old := l.LeaseOf(key); old != 0 {
			l.Detach(old, key)
		}
	}
}

// Changes returns the events of the transaction so far.
func (t *WriteTxn) Changes() []*mvccpb.Event { return t.events }

// SetConsistentIndex records the raft entry being applied, in the same
// batch as its effects.
func (t *WriteTxn) SetConsistentIndex(index, term uint64) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], index)
	binary.BigEndian.PutUint64(b[8:], term)
	if err := t.tx.UnsafePut(MetaBucket, consistentIndexKey, b[:8]); err != nil {
		panic(err)
	}
	if err := t.tx.UnsafePut(MetaBucket, termKey, b[8:]); err != nil {
		panic(err)
	}
}

// UnsafePut writes another bucket in the transaction's batch.
func (t *WriteTxn) UnsafePut(bucket, key, value []byte) error {
	return t.tx.UnsafePut(bucket, key, value)
}

// UnsafeDelete deletes from another bucket in the transaction's batch.
func (t *WriteTxn) UnsafeDelete(bucket, key []byte) error {
	return t.tx.UnsafeDelete(bucket, key)
}

// UnsafeCreateBucket creates a bucket in the transaction's batch.
func (t *WriteTxn) UnsafeCreateBucket(bucket []byte) error {
	return t.tx.UnsafeCreateBucket(bucket)
}

// End makes the changes visible, tells the watchers and releases the
// batch and the store lock. It returns a commit error if the batch
// committed and failed.
func (t *WriteTxn) End() error {
	if len(t.events) > 0 {
		rev := t.beginRev + 1
		t.s.revMu.Lock()
		t.tx.Publish()
		t.s.currentRev = rev
		t.s.revMu.Unlock()
		// Still holding the batch: watchers hear of revisions in order.
		t.s.watch.notify(rev, t.events)
	}
	err := t.tx.Unlock()
	t.s.mu.RUnlock()
	t.ops.report()
	return err
}

// batchGet reads a key within the batch, seeing its uncommitted writes.
func batchGet(tx *backend.BatchTx, bucket, key []byte) ([]byte, bool) {
	keys, vals := tx.UnsafeRange(bucket, key, nil, 0)
	if len(keys) == 0 {
		return nil, false
	}
	return vals[0], true
}
