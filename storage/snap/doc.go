// Package snap keeps raft snapshot files and the database snapshot files
// a member receives from its leader.
//
// # Files
//
// One directory (the server's member/snap) holds:
//
//	%016x-%016x.snap   a raftpb.Snapshot, named by its term and index
//	%016x.snap.db      a database (bbolt) snapshot received from the leader,
//	                   named by the raft index it was taken at
//	NAME.tmp           a file being written; removed by New (leftover of a crash)
//	NAME.broken        a .snap file Load found corrupt and set aside
//
// A .snap file is etcd's: a snappb.Snapshot in protobuf, whose field 1
// (varint) is the CRC-32C of field 2 (bytes), a raftpb.Snapshot in
// protobuf. etcd's tools read basalt's files and basalt reads etcd's. A
// file is corrupt if it is empty, if it holds other fields or lacks one,
// if the CRC does not match, if the snapshot does not decode, or if its
// term and index are not the ones in its name.
//
// A .snap.db file is the leader's database bytes exactly as received;
// this package adds no framing. Its integrity is the caller's to check,
// through WithDBVerifier (the server checks it is a sound bbolt file);
// what this package guarantees is that the final name only ever refers
// to a complete, fsynced, verified file.
//
// # Writing
//
// Every file is written as NAME.tmp, fsynced, (for .snap.db) verified,
// renamed to NAME, and the directory fsynced, so after a crash a name
// either refers to the whole file or does not exist.
//
// # Reading
//
// Load returns the newest (highest index) snapshot that passes the
// checks; each corrupt file it meets on the way is logged and renamed to
// NAME.broken so that it is not tried again. LoadNewestAvailable does the
// same among the snapshots whose (term, index) appear in a list of WAL
// snapshot markers (wal.ValidSnapshotMarkers), which is what a restarting
// member must use: a snapshot the WAL cannot be replayed from is useless.
//
// # Caveats
//
//   - Save the .snap file before writing its marker to the WAL, and the
//     .snap.db before applying a snapshot that needs it.
//   - Purge(maxSnapshots) removes the oldest .snap files regardless of the
//     WAL; keep maxSnapshots at least 1. ReleaseSnapDBs removes .snap.db
//     files older than the index the backend has applied.
//   - Two calls must not write the same file at once (the temporary name
//     is NAME.tmp).
package snap
