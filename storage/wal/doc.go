// Package wal is basalt's write-ahead log, in etcd's format: the raft hard
// state, entries and snapshot records, appended to segment files,
// checksummed, fsynced, repaired after a crash and replayed on restart.
// etcd (3.x) opens a WAL basalt wrote and basalt one etcd wrote; each can
// append to the other's. It does not know what an entry means.
//
// # Use
//
//	w, err := wal.Create(fs, dir, metadata)           // a new member
//	w, err := wal.Open(fs, dir, wal.Marker{Index, Term}) // a restart, at the loaded snapshot
//	metadata, st, ents, err := w.ReadAll()             // then append:
//	err = w.Save(rd.HardState, rd.Entries)            // per raft Ready; fsyncs if raft's MustSync rule says so
//	err = w.SaveSnapshot(snapshot.Metadata)           // after the snapshot file is saved
//	err = w.ReleaseLockTo(snapIndex); removed, err := w.Purge(maxWALs)
//
// # Files
//
// A WAL is a directory of segment files named
//
//	%016x-%016x.wal   (sequence number, raft index of the first entry appended after it)
//
// with sequence numbers consecutive from the oldest kept. The newest
// segment is the tail; a segment is preallocated to SegmentSizeBytes
// (etcd's 64 MB; WithSegmentSize) so appends do not grow the file, and
// when the next record would not fit, the tail is truncated to its last
// record, fsynced, and a new segment is made: written as NAME.tmp,
// fsynced, renamed into place, directory fsynced. Create builds the first
// segment (0000000000000000-0000000000000000.wal) in DIR.tmp and renames
// the directory into place, so a WAL directory is always complete. Files
// ending in .wal.tmp are leftovers of an interrupted cut and are removed
// by Open, as are etcd's preallocated N.tmp files; other unexpected files
// are logged and ignored.
//
// # Records
//
// A segment is a sequence of frames, 8-byte aligned, as etcd writes them:
//
//	offset  size  field
//	0       8     length word, little-endian: the low 56 bits are n, the
//	              length of the record; when n is not a multiple of 8 the
//	              top byte is 0x80|pad
//	8       n     a walpb.Record in protobuf: type (field 1), crc (field 2),
//	              data (field 3)
//	8+n     pad   zeros, to the next multiple of 8
//
// Record types are etcd's: 1 metadata (the caller's opaque bytes, the same
// in every segment), 2 entry (a raftpb.Entry), 3 state (a
// raftpb.HardState), 4 crc, 5 snapshot (a walpb.Snapshot: index, term and
// the configuration). A record's crc is CRC-32C over its data, seeded
// with the crc of the record before it, so records cannot be reordered,
// dropped or spliced in from elsewhere without breaking the chain. The
// chain runs across segments: every segment begins with a crc record
// (no data) whose crc is the last crc of the segment before (0 in the
// first), then the metadata, then in the first segment a snapshot record
// at index 0 (etcd opens a new WAL there) and in later ones the last hard
// state saved, unless empty; so each segment can be read on its own.
// Save writes entries before the hard state, so a torn save never leaves
// a commit index past the log.
//
// After the last record comes preallocated space: a zero length word ends
// the log, as in etcd.
//
// # Crashes and corruption
//
// Only the tail can hold unsynced data, so only the tail can be torn. A
// record in the tail that fails to decode (short, undecodable, bad CRC)
// is the torn end of an interrupted write if it holds a sector (512
// bytes, aligned in the file) of zeros, as etcd decides, or if nothing
// after it looks like a record (a plausible length word, a record with a
// known type, zero padding): ReadAll after Open then truncates the tail
// there. Either way the tail is cut after its last valid record and
// preallocated again, so that what follows is zeros, as etcd does when it
// opens a tail (OpenForRead just stops). Anything else is corruption and
// ReadAll fails with a *CorruptionError (wrapping ErrCorrupt) naming the
// file and offset: a damaged record followed by valid ones, any bad
// record in an older segment, a broken CRC chain between segments (which
// also catches records of an older segment lost behind zeros), a segment
// that does not begin with a crc record, an unknown type, differing
// metadata, a gap between entry indexes, or a gap in sequence numbers. A
// snapshot record at Open's index with another term is ErrSnapshotMismatch.
//
// # Durability and fsync
//
// Save follows raft's MustSync rule: it fsyncs when it appends entries or
// changes the term or vote; a commit-only hard state is written but not
// synced (a later sync or raft itself recovers it). SaveSnapshot always
// syncs. Concurrent Saves share fsyncs (group commit): one caller fsyncs
// for all records appended before its fsync started while others keep
// appending. SaveNoSync then Sync batches explicitly. Every fsync and
// write is observed in etcd's metrics (metrics.go); WithFsyncObserver
// reports each fsync's duration to the caller too.
//
// After any failed write or fsync the WAL is unusable (every append
// returns the first error): after a failed fsync the kernel may have
// dropped the dirty pages, so nothing short of reopening tells what is on
// disk.
//
// # Caveats
//
//   - One writer per directory: Create and Open take an exclusive lock on
//     the directory (flock on vfs.OS); OpenForRead takes none and may see
//     a tail being written.
//   - Open then ReadAll before appending; ReadAll once.
//   - Open at a marker only if the snapshot at that marker was saved:
//     save the snapshot file, then SaveSnapshot, then ReleaseLockTo.
//   - The lock is basalt's (on the directory); etcd locks each segment
//     file. Never run basalt and etcd on one data dir at once.
//     ValidSnapshotMarkers lists the markers safe to open at.
//   - Entries passed to Save must continue the log (raft guarantees it);
//     the WAL only records them, and ReadAll replays overwrites.
//   - Purge removes only segments released by ReleaseLockTo; opening at a
//     marker older than the released index may then fail with
//     ErrSnapshotNotFound.
package wal
