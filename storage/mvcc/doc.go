// Package mvcc is basalt's multi-version key-value store: every write
// creates a new revision, older revisions stay readable until compacted,
// and watchers receive every change in revision order.
//
// # Revisions
//
// A revision is {main, sub}: main grows by one per write transaction that
// changes something, sub numbers the changes inside it. A key's history is
// a list of generations; a generation runs from the put that creates the
// key to the delete (tombstone) that ends it. The in-memory key index (a
// B-tree of key → generations) maps a key and a revision to the revision
// holding its value; the values live in the backend.
//
// # On disk
//
// The layout is etcd's, so that a database snapshot taken from basalt is
// read by etcd's tools and the other way around:
//
//   - bucket "key": key = 8-byte big-endian main, '_', 8-byte big-endian
//     sub, and a trailing 't' for a tombstone (17 or 18 bytes); value = the
//     protobuf encoding of mvccpb.KeyValue (a tombstone's holds only the
//     key). Keys are written in ascending order.
//   - bucket "meta": "consistent_index" and "term" (8-byte big-endian: the
//     last raft entry applied, written in the same batch as its effects),
//     "scheduledCompactRev" and "finishedCompactRev" (a revision key, as in
//     bucket "key": a compaction is recorded before it starts and after it
//     ends). On start, the compaction revision is the finished record's, -1
//     if there is none (never compacted); a scheduled record greater than
//     that is a compaction a crash interrupted, which resumes; and the
//     current revision is at least both records, as compaction may have
//     removed every record up to its revision.
//
// # Compaction
//
// Compact(rev) removes history below rev. Of each key it keeps the latest
// revision at or below rev if the key is live at rev, and a tombstone at
// rev itself (etcd ≥ 3.5.16; 3.4 dropped it), so that a watcher starting
// at rev still receives that delete; the next compaction drops it with
// the rest of its generation.
//
// Compact records rev as scheduled and commits that, compacts the index
// at once, and cleans the backend in the background in batches of
// CompactionBatchLimit revisions: each batch deletes under the backend's
// batch lock and commits, then sleeps, so that reads and writes never
// wait long; the last one records rev as finished. Compactions clean one
// after the other, in order. The named crash points of failpoints.go
// (etcd's names) sit between these steps; a crash at any of them leaves
// the finished record behind the scheduled one, and the store resumes the
// compaction on start.
//
// # Hashing
//
// HashKV(rev) lets members compare their histories (etcd's corruption
// checks), with etcd 3.7's rules. It is a CRC-32C (Castagnoli) of the key
// bucket's name, then of each record's key and value in order, over the
// records whose main revision is at most rev, leaving out
//
//   - records at or below the compaction revision C that Keep(rev), what
//     a compaction at rev would keep, does not hold (only when that set is
//     not empty, as etcd): a backend still being cleaned hashes as a
//     cleaned one;
//   - a tombstone at C, which etcd before 3.5.16 did not keep.
//
// It reports Revision rev, CompactRevision C (-1 if never compacted) and
// the current revision.
//
// A compaction at R also hashes, as it cleans, the records up to R by the
// same rules against the compaction before it, P, and its own keep set;
// if P had finished when R was scheduled (the scheduled and finished
// records equal, or both absent), it stores that hash, in memory, with
// the newest ten (Hashes). HashKV(R) then answers with it, with
// CompactRevision P: the same answer as before the compaction. A store
// restarted or restored has none and computes HashKV(R) against R: hashes
// of one revision compare only at equal CompactRevision.
//
// # Locks
//
// The store lock (Store.mu, a sync.RWMutex) is held shared by every
// transaction from Read or Write to End, by HashKV, ConsistentIndex and
// Compact, by each batch of a compaction's backend cleaning and by each
// catch-up round of the watchers; Restore holds it exclusively. A reader
// thus pairs one key index with one backend view: never an index from
// before a Restore with data from after it.
//
// A goroutine holding the store lock must not ask for it again: with Go's
// RWMutex a second shared lock waits behind a pending exclusive one
// (Restore), which waits for the first. So no Read, Write, HashKV,
// Compact, ConsistentIndex or Restore while the same goroutine has a
// transaction open. Nothing in this package does so: what runs under the
// lock reads the revisions under revMu alone, and functions that need the
// lock held end in Locked.
//
// Locks are taken in this order, never the other way:
//
//	compactMu, store lock, backend batch, watch state (watchState.mu),
//	revMu, then the leaves: key index, backend read views, stored hashes
//
// and a WatchStream's lock before the watch state's. Restore stops the
// background work that takes the store lock (the watch loop, compaction
// cleaning) before it waits for the lock exclusively, and restarts it
// after.
//
// # Restore
//
// Restore(replace) replaces the store's contents, for a member installing
// a database from the leader. It stops the background work, takes the
// store lock exclusively (waiting for open transactions to end, holding
// new ones off), and calls replace, which changes the data of the store's
// backend in place: the backend object never changes. It then rebuilds
// the index and revisions from the backend, resumes a compaction the new
// contents have scheduled and not finished, forgets the stored hashes
// (they are of the history replaced), and lets readers in. Watchers
// survive: each catches up from the new contents from the revision it had
// reached, or learns that it was compacted. replace must not use the
// store.
//
// # Caveats
//
// Write transactions are serialized by the backend's batch; a read view
// never blocks a writer. A write transaction changes each key at most
// once (etcd's API refuses others). KeyValues returned by a Range are the
// caller's.
package mvcc
