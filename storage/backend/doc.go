// Package backend is basalt's durable key-value storage: one bbolt file
// (by default member/snap/db under the data dir) with named buckets.
//
// # Writes
//
// All writes go through one long-lived bbolt read-write transaction, the
// batch. A caller takes the batch with BatchTx().Lock(), writes, and
// Unlock()s; the batch commits to disk every BatchInterval, after
// BatchLimit write operations, or on ForceCommit, whichever comes first.
// A crash loses the writes of the uncommitted batch — which is why the
// server stores the consistent index (the last raft index applied) in the
// same batch as the data it covers: on restart it re-applies, from the
// WAL, exactly the entries whose effects were lost.
//
// # Reads
//
// Readers must see every write a caller has Unlock()ed, committed or not.
// Each bucket's uncommitted writes are mirrored in a B-tree buffer; a read
// view (ReadTx) pairs a copy-on-write clone of those buffers with the
// bbolt read transaction of the last commit, and merges the two. Taking a
// view is O(buckets) and never waits for a commit; a commit never waits
// for a reader, except when bbolt must grow its memory map, which waits
// for read transactions opened before it to end.
//
// # Replacing the file
//
// Defrag and ReplaceWith (a database received from the leader) swap the
// bbolt file under the same Backend, holding the batch and the readers'
// lock: views open on the old file are waited for, new ones wait, and
// every later view, commit, hash or snapshot sees the new file. A
// Snapshot being streamed holds a read transaction of its own file, which
// stays open until the Snapshot is closed. So the Backend a caller holds
// is never a closed one while the member runs; after Close (or a failed
// commit, defrag or replace, which close it) views find nothing and
// writes fail with ErrClosed — a view never touches a closed database.
//
// # On disk
//
// The file is a plain bbolt database; its format is bbolt's. Bucket
// contents belong to their owners (mvcc, lease, auth, membership), which
// document them. Defrag rewrites the file compactly into a temporary file
// next to it, fsyncs it, renames it over the original and fsyncs the
// directory before the next commit. ReplaceWith renames the received
// file over the backend's and fsyncs the directory; the writes of the
// batch not yet committed are dropped with the old file.
//
// # Crashes
//
// bbolt writes a commit's pages, fsyncs, then writes one of its two meta
// pages and fsyncs again; a torn meta page leaves the other, the commit
// before. A crash therefore keeps whole commits: the consistent index and
// the writes it covers, together. bbolt does its own IO through a memory
// map, so this file does not go through storage/vfs; crash_test.go kills
// a writing child process at random moments (in commits and defrags) and
// tears the newest meta page instead.
//
// Caveats: a caller must not keep slices returned by reads after the read
// view ends (they may point into the memory map); values passed to writes
// must not be modified after the call.
package backend
