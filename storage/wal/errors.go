package wal

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Errors about a particular file are
// wrapped with its path (and, for corruption, an offset); test them with
// errors.Is.
var (
	// ErrCorrupt is wrapped by every *CorruptionError.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrSnapshotNotFound: Open's snapshot marker is not in the WAL, or the
	// segments that would hold it were purged.
	ErrSnapshotNotFound = errors.New("wal: snapshot marker not found")
	// ErrSnapshotMismatch: the WAL's snapshot record at Open's marker's
	// index has another term.
	ErrSnapshotMismatch = errors.New("wal: snapshot mismatch")
	// ErrNoWAL: the directory holds no WAL segment.
	ErrNoWAL = errors.New("wal: no segments found")
	// ErrExist: Create found a WAL (or other files) already in the directory.
	ErrExist = errors.New("wal: directory already exists and is not empty")
	// ErrLocked: another WAL (in this process or another) has the directory open for writing.
	ErrLocked = errors.New("wal: directory locked by another writer")
	// ErrReadOnly: the WAL was opened with OpenForRead.
	ErrReadOnly = errors.New("wal: opened read-only")
	// ErrNotReady: Save before ReadAll on an opened WAL.
	ErrNotReady = errors.New("wal: ReadAll must complete before appending")
	// ErrReadAllDone: ReadAll called twice, or on a WAL from Create.
	ErrReadAllDone = errors.New("wal: ReadAll already done")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("wal: closed")
)

// CorruptionError says which segment file is damaged and where. A torn
// tail left by a crash is not corruption (it is repaired); everything else
// that fails to decode is.
type CorruptionError struct {
	File   string // path of the segment
	Offset int64  // byte offset of the bad record in the segment
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

func corruptf(file string, off int64, format string, args ...any) error {
	return &CorruptionError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
