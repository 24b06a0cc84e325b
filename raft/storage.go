package raft

import (
	"errors"
	"sync"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// Errors a Storage returns.
var (
	// ErrCompacted: the requested index is older than the first one kept.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate: the snapshot is older than the one already held.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable: the requested entries are not in storage yet.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable: no snapshot can be produced now;
	// raft retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)

// Storage is the durable log that raft reads from. The application writes
// to it (entries and hard state from Ready, snapshots) and raft only reads.
// Every method may be called from raft's goroutine while the application
// writes from another, so implementations must be safe for that.
//
// Entries from FirstIndex to LastIndex are available; the entry just
// before FirstIndex is the snapshot's last, whose term Term must still
// return.
type Storage interface {
	// InitialState returns the persisted hard state and membership.
	InitialState() (pb.HardState, pb.ConfState, error)
	// Entries returns entries in [lo, hi), at least one if any, and no
	// more than maxSize bytes otherwise.
	Entries(lo, hi, maxSize uint64) ([]pb.Entry, error)
	// Term returns the term of entry i, in [FirstIndex()-1, LastIndex()].
	Term(i uint64) (uint64, error)
	// LastIndex is the index of the last entry.
	LastIndex() (uint64, error)
	// FirstIndex is the index of the first entry that is not in the
	// snapshot (older ones are compacted).
	FirstIndex() (uint64, error)
	// Snapshot returns the latest snapshot, or
	// ErrSnapshotTemporarilyUnavailable if it is being built.
	Snapshot() (pb.Snapshot, error)
}

// MemoryStorage is a Storage in memory, used by tests and as the cache in
// front of the WAL in the server.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState pb.HardState
	snapshot  pb.Snapshot
	// ents[0] is a dummy entry holding the snapshot's index and term.
	ents []pb.Entry
}

// NewMemoryStorage returns an empty storage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]pb.Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (pb.HardState, pb.ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, ms.snapshot.Metadata.ConfState, nil
}

// SetHardState saves the hard state.
func (ms *MemoryStorage) SetHardState(st pb.HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = st
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndexLocked()+1 {
		return nil, ErrUnavailable
	}
	ents := ms.ents[lo-offset : hi-offset]
	// Full slice expression: appending to the result must not write into
	// our array.
	return limitSize(ents[:len(ents):len(ents)], maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndexLocked(), nil
}

func (ms *MemoryStorage) lastIndexLocked() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the storage's contents with the snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap pb.Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.snapshot.Metadata.Index >= snap.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []pb.Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state at index i (which must be
// applied) and returns it. cs, if not nil, replaces the membership.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return pb.Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i < offset {
		// Compacted without a snapshot first: the term of i is gone.
		return pb.Snapshot{}, ErrCompacted
	}
	if i > ms.lastIndexLocked() {
		return pb.Snapshot{}, ErrUnavailable
	}
	ms.snapshot.Metadata.Index = i
	ms.snapshot.Metadata.Term = ms.ents[i-offset].Term
	if cs != nil {
		ms.snapshot.Metadata.ConfState = *cs
	}
	ms.snapshot.Data = data
	return ms.snapshot, nil
}

// Compact drops entries before compactIndex; the application must have
// snapshotted at or past it.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndexLocked() {
		return ErrUnavailable
	}
	i := compactIndex - offset
	ents := make([]pb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = pb.Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	return nil
}

// Append adds entries, replacing any that conflict. Entries must be
// contiguous and start at or before LastIndex()+1.
func (ms *MemoryStorage) Append(entries []pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil // all compacted already
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return errors.New("raft: MemoryStorage.Append: gap between stored and new entries")
	}
	return nil
}
