package mvcc

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"slices"
	"sync"
	"time"
)

// maxStoredHashes is how many compaction hashes a store keeps, as etcd.
const maxStoredHashes = 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// KVHash is a hash of the key-value history (see doc.go for what it
// covers). Two hashes of one revision are comparable only if their
// CompactRevision is equal too: members that applied the same entries
// then report the same Hash.
type KVHash struct {
	Hash uint32
	// Revision is the revision hashed up to.
	Revision int64
	// CompactRevision is the compaction the hash was taken against: the
	// store's compaction revision for a hash computed on request, the one
	// before the compaction for a hash a compaction stored; -1 for none.
	CompactRevision int64
	// CurrentRevision is the store's revision when the hash was asked for.
	CurrentRevision int64
}

// kvHasher hashes records of the key bucket, in order, by etcd's rules:
// a record counts if its main revision is at most rev, unless it is at or
// below compactRev and keep (if not empty) does not hold it — it is gone
// or going from a cleaned backend — or it is a tombstone at compactRev,
// which etcd before 3.5.16 did not keep.
type kvHasher struct {
	h          hash.Hash32
	compactRev int64
	rev        int64
	keep       map[Revision]struct{}
}

func newKVHasher(compactRev, rev int64, keep map[Revision]struct{}) *kvHasher {
	h := crc32.New(castagnoli)
	h.Write(KeyBucket)
	return &kvHasher{h: h, compactRev: compactRev, rev: rev, keep: keep}
}

func (kh *kvHasher) add(k, v []byte) {
	r, ok := bytesToRev(k)
	if !ok || r.Main > kh.rev {
		return
	}
	if r.Main <= kh.compactRev && len(kh.keep) > 0 {
		if _, kept := kh.keep[r]; !kept {
			return
		}
	}
	if r.Main == kh.compactRev && isTombstone(k) {
		return
	}
	kh.h.Write(k)
	kh.h.Write(v)
}

func (kh *kvHasher) sum() KVHash {
	return KVHash{Hash: kh.h.Sum32(), Revision: kh.rev, CompactRevision: kh.compactRev}
}

// storedHashes are the hashes compactions computed: the newest
// maxStoredHashes, by revision.
type storedHashes struct {
	mu     sync.Mutex
	hashes []KVHash
}

func (sh *storedHashes) add(h KVHash) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.hashes = append(sh.hashes, h)
	slices.SortStableFunc(sh.hashes, func(a, b KVHash) int { return cmp.Compare(a.Revision, b.Revision) })
	if n := len(sh.hashes); n > maxStoredHashes {
		sh.hashes = slices.Delete(sh.hashes, 0, n-maxStoredHashes)
	}
}

func (sh *storedHashes) get(rev int64) (KVHash, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, h := range sh.hashes {
		if h.Revision == rev {
			return h, true
		}
	}
	return KVHash{}, false
}

func (sh *storedHashes) list() []KVHash {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return slices.Clone(sh.hashes)
}

func (sh *storedHashes) reset() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.hashes = nil
}

// HashKV hashes the key-value history up to rev (0: the current
// revision). If a compaction at rev stored the hash it computed while
// cleaning, that is the answer (its CompactRevision is the compaction
// before); otherwise the hash is computed now against the store's
// compaction revision. See doc.go for the rules.
func (s *Store) HashKV(rev int64) (KVHash, error) {
	start := time.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.revMu.RLock()
	compactRev, curRev := s.compactMainRev, s.currentRev
	view := s.b.ReadTx()
	s.revMu.RUnlock()
	defer view.End()
	if h, ok := s.hashes.get(rev); ok {
		h.CurrentRevision = curRev
		return h, nil
	}
	if rev > 0 && rev < compactRev {
		return KVHash{}, ErrCompacted
	}
	if rev > curRev {
		return KVHash{}, ErrFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	keep := s.mu.kvindex.Keep(rev)
	// A compaction past rev that began meanwhile changed the index in
	// place: keep may lack what the view still holds.
	if rev < s.CompactRev() {
		return KVHash{}, ErrCompacted
	}
	kh := newKVHasher(compactRev, rev, keep)
	end := make([]byte, 8)
	binary.BigEndian.PutUint64(end, uint64(rev+1))
	keys, vals := view.Range(KeyBucket, make([]byte, 8), end, 0)
	for i, k := range keys {
		kh.add(k, vals[i])
	}
	h := kh.sum()
	h.CurrentRevision = curRev
	hashRevSec.Observe(time.Since(start).Seconds())
	return h, nil
}

// Hash commits the backend and hashes all of it, every bucket, as etcd's
// Maintenance.Hash does (but the meta keys that change without a user's
// write: the consistent index, its term and the storage version), and
// returns the hash with the revision after it.
func (s *Store) Hash() (hash uint32, rev int64, err error) {
	start := time.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	hash, err = s.b.Hash(hashIgnores)
	if err != nil {
		return 0, 0, err
	}
	rev = s.Rev()
	hashSec.Observe(time.Since(start).Seconds())
	return hash, rev, nil
}

// Hashes returns the hashes the latest compactions stored (up to ten,
// oldest first), each as HashKV of its revision would report it now. A
// compaction stores its hash only if the compaction before it had
// finished when it was scheduled, so that the hash covers every revision
// since; a restart or Restore forgets them.
func (s *Store) Hashes() []KVHash {
	cur := s.Rev()
	hs := s.hashes.list()
	for i := range hs {
		hs[i].CurrentRevision = cur
	}
	return hs
}

// storageVersionKey is where the server records the storage version in
// the meta bucket (server/schema).
var storageVersionKey = []byte("storageVersion")

// hashIgnores are the keys Hash leaves out, etcd's schema.DefaultIgnores.
func hashIgnores(bucket, key []byte) bool {
	return bytes.Equal(bucket, MetaBucket) &&
		(bytes.Equal(key, termKey) || bytes.Equal(key, consistentIndexKey) || bytes.Equal(key, storageVersionKey))
}
