// Package wal is basalt's write-ahead log: the raft hard state, entries
// and snapshot markers, appended to segment files, checksummed, fsynced,
// repaired after a crash and replayed on restart. It does not know what an
// entry means.
//
// # Use
//
//	w, err := wal.Create(fs, dir, metadata)           // a new member
//	w, err := wal.Open(fs, dir, wal.Marker{Index, Term}) // a restart, at the loaded snapshot
//	metadata, st, ents, err := w.ReadAll()             // then append:
//	err = w.Save(rd.HardState, rd.Entries)            // per raft Ready; fsyncs if raft's MustSync rule says so
//	err = w.SaveSnapshot(wal.Marker{Index, Term})     // after the snapshot file is saved
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
// (64 MiB; WithSegmentSize) so appends do not grow the file, and when the
// next record would not fit, the tail is truncated to its last record,
// fsynced, and a new segment is made: written as NAME.tmp, fsynced,
// renamed into place, directory fsynced. Create builds the first segment
// (0000000000000000-0000000000000000.wal) in DIR.tmp and renames the
// directory into place, so a WAL directory is always complete. Files
// ending in .wal.tmp are leftovers of an interrupted cut and are removed
// by Open; other unexpected files are logged and ignored.
//
// # Records
//
// A segment is a sequence of records, each 8-byte aligned (all integers
// little-endian):
//
//	offset  size  field
//	0       4     n, length of the data
//	4       1     type: 1 crc, 2 metadata, 3 hard state, 4 entry, 5 snapshot marker
//	5       3     zero
//	8       4     record CRC: CRC-32C seeded with the previous record's record CRC,
//	              over bytes 0:8 of this header and then the data
//	12      4     header CRC: CRC-32C of bytes 0:12
//	16      n     data
//	16+n    pad   zeros, to the next multiple of 8
//
// Because each record CRC is seeded with the one before, records cannot be
// reordered, dropped or spliced in from elsewhere without breaking the
// chain. The chain runs across segments: every segment begins with
//
//	crc record       data: "BWAL", uint32 format version (1), uint32 CRC carried
//	                 over (the last record CRC of the previous segment; 0 in
//	                 the first), uint32 zero; its own record CRC is seeded with
//	                 the carried value
//	metadata record  the caller's opaque metadata (identical in every segment)
//	hard state       the last raftpb.HardState saved (possibly empty)
//
// so each segment can be read on its own. Save writes entries before the
// hard state, so a torn save never leaves a commit index past the log.
// Data of the other records:
// hard state and entry hold raftpb.HardState and raftpb.Entry in protobuf;
// a snapshot marker holds uint64 index and uint64 term.
//
// After the last record comes preallocated space, zeros. A zero header
// ends the log; a record can never be mistaken for zeros, since its type
// byte is never 0. The header CRC lets a reader recognise a genuine header
// without trusting its length.
//
// # Crashes and corruption
//
// Only the tail can hold unsynced data, so only the tail can be torn. When
// a record in the tail fails to decode (short, bad header, bad CRC) and no
// well-formed header starts at any 8-aligned offset after it (after its
// claimed length, if its header is good), it is the torn end of an
// interrupted write: ReadAll after Open truncates the tail there and
// re-zeroes the rest (OpenForRead just stops there). Anything else is
// corruption and ReadAll fails with a *CorruptionError (wrapping
// ErrCorrupt) naming the file and offset: an undecodable record followed
// by well-formed ones, any bad record in an older segment, zeros followed
// by records, a broken CRC chain between segments, a segment that does
// not begin with a crc record, an unknown type, differing metadata, a gap
// between entry indexes, or a gap in sequence numbers.
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
//     ValidSnapshotMarkers lists the markers safe to open at.
//   - Entries passed to Save must continue the log (raft guarantees it);
//     the WAL only records them, and ReadAll replays overwrites.
//   - Purge removes only segments released by ReleaseLockTo; opening at a
//     marker older than the released index may then fail with
//     ErrSnapshotNotFound.
package wal
