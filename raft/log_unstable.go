package raft

import (
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// unstable holds what raft has accepted but the application has not yet
// persisted: at most one incoming snapshot, and entries after it (or after
// the storage's last entry).
type unstable struct {
	snapshot *pb.Snapshot
	// entries[i] has index offset+i.
	entries []pb.Entry
	offset  uint64
}

// maybeFirstIndex is the first index if an unstable snapshot defines it.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex is the last index held here, if any.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm is the term of entry i, if held here.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo forgets entries up to i once persisted, provided entry i still
// has term t (it may have been replaced meanwhile).
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	u.entries = u.entries[i+1-u.offset:]
	u.offset = i + 1
	u.shrinkEntriesArray()
}

// shrinkEntriesArray lets the backing array go once most of it is unused.
func (u *unstable) shrinkEntriesArray() {
	const lenMultiple = 2
	if len(u.entries) == 0 {
		u.entries = nil
	} else if len(u.entries)*lenMultiple < cap(u.entries) {
		u.entries = append([]pb.Entry(nil), u.entries...)
	}
}

// stableSnapTo forgets the snapshot at index i once persisted.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}

// restore replaces everything with the snapshot.
func (u *unstable) restore(s pb.Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
}

// truncateAndAppend appends ents, dropping held entries they conflict with.
func (u *unstable) truncateAndAppend(ents []pb.Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replace everything; the storage's conflicting tail is replaced
		// when these are persisted.
		u.offset = after
		u.entries = append([]pb.Entry(nil), ents...)
	default:
		keep := u.slice(u.offset, after)
		u.entries = append(append([]pb.Entry(nil), keep...), ents...)
	}
}

func (u *unstable) slice(lo, hi uint64) []pb.Entry {
	if lo > hi || lo < u.offset || hi > u.offset+uint64(len(u.entries)) {
		panic(fmt.Sprintf("raft: unstable.slice[%d,%d) out of bound [%d,%d]", lo, hi, u.offset, u.offset+uint64(len(u.entries))))
	}
	return u.entries[lo-u.offset : hi-u.offset]
}
