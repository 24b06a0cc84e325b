// Package vfs is the small filesystem interface through which basalt's
// storage packages (wal, snap, and later others) do all their file access,
// so that tests can put a fault-injecting filesystem underneath.
//
// # Implementations
//
// OS is the host filesystem. File.Sync is fdatasync(2) on Linux (fsync
// elsewhere); File.Preallocate is fallocate(2) with mode 0 (the size grows
// and the new range reads as zeros), falling back to Truncate where the
// filesystem does not support it; FS.Lock is flock(2) LOCK_EX|LOCK_NB on
// the named file or directory, held by an open descriptor until the
// returned Closer is closed. Because flock belongs to the open file
// description, a second Lock of the same path fails even within one
// process.
//
// CrashFS (NewCrashFS) is an in-memory filesystem for tests. It keeps, for
// every file, the contents that are durable (as of its last Sync) beside
// the changes made since, and, for every directory, the entries that are
// durable (as of its last SyncDir) beside the current ones. Crash drops
// whatever is not durable; CrashTorn and CrashTearLast let an in-order
// prefix of each file's pending changes through, the last of them
// possibly torn. SetFault makes chosen operations fail (FailNth, FailFrom,
// FailMatch, AnyFault). Locks are a table keyed by file (so a lock follows
// its file or directory through a rename), cleared by a crash.
//
// # The durability model, and what callers must therefore do
//
// Both implementations are used as if the disk honoured only this:
//
//   - File data is durable after File.Sync. Writes between two syncs may
//     reach the disk in part; CrashFS models the part as a prefix in issue
//     order (real disks may also persist later pages before earlier ones;
//     CrashFS does not model that reordering).
//   - A create, rename or remove is durable only after FS.SyncDir of the
//     directory that holds the name (both directories, for a rename across
//     directories). Syncing a file does not make its name durable.
//     MkdirAllSync creates directories durably.
//   - An atomic replace is therefore: write a temporary file, Sync it,
//     Rename it into place, SyncDir the directory.
//
// Caveats: a File is not safe for concurrent use, except that one
// goroutine may Sync while another writes. After a CrashFS crash every
// File opened before it returns ErrCrashed; reopen files as a restarted
// process would. A Fault must not call back into the CrashFS.
package vfs
