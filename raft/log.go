package raft

import (
	"errors"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// raftLog is the log as raft sees it: the persisted part in storage, the
// part not yet persisted in unstable, and the commit and apply points.
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be on a quorum.
	committed uint64
	// applied is the highest index handed to the application to apply.
	applied uint64
	// applying is the last committed entry handed out in a Ready that is
	// not yet advanced; above applied, the application is applying.
	applying uint64
	// maxApplyBytes caps the committed entries handed out in one Ready.
	maxApplyBytes uint64
}

func newLog(storage Storage, maxApplyBytes uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("read first index: %w", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("read last index: %w", err)
	}
	return &raftLog{
		storage:       storage,
		unstable:      unstable{offset: last + 1},
		committed:     first - 1,
		applied:       first - 1,
		maxApplyBytes: maxApplyBytes,
	}, nil
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applied=%d unstable.offset=%d len(unstable.entries)=%d",
		l.committed, l.applied, l.unstable.offset, len(l.unstable.entries))
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(err) // storage failures are fatal to raft
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(err)
	}
	return i
}

// term returns the term of entry i, or an error if it is compacted or
// beyond the log.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	// The valid range is [firstIndex-1, lastIndex]: the entry before the
	// first is the snapshot's last.
	if i < l.firstIndex()-1 { // not i+1 < firstIndex: i+1 wraps at the top
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(err)
}

// zeroTermOnOutOfBounds maps a compacted or missing entry to term 0.
func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	panic(err)
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last entry: %v", err))
	}
	return t
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// isUpToDate is the election restriction (§5.4.1): a log ending in
// (lasti, term) is at least as up to date as ours.
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

// maybeAppend appends ents after (index, logTerm) if our log has that
// entry, truncating any conflicting suffix, and raises commit. It returns
// the index of the last new entry and whether it accepted.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []pb.Entry) (lastNew uint64, ok bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew = index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
		// Everything already present.
	case ci <= l.committed:
		panic(fmt.Sprintf("raft: entry %d conflicts with committed entry [committed(%d)]", ci, l.committed))
	default:
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

// append adds entries after any at or past their first index; it returns
// the new last index.
func (l *raftLog) append(ents ...pb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that is
// missing from our log or has another term, or 0 if all are present.
func (l *raftLog) findConflict(ents []pb.Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index at or below index whose
// term is at or below term, and that term. A leader uses it to skip, in
// one round trip, every entry of a term the follower does not have.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// unstableEntries returns the entries not yet persisted.
func (l *raftLog) unstableEntries() []pb.Entry {
	if len(l.unstable.entries) == 0 {
		return nil
	}
	return l.unstable.entries
}

// applyBounds is the range of committed entries ready to apply: after
// applied, up to committed. Nothing is applied while a snapshot waits to
// be persisted.
func (l *raftLog) applyBounds() (lo, hi uint64) {
	lo = max(l.applied+1, l.firstIndex())
	hi = l.committed + 1
	if l.unstable.snapshot != nil {
		return lo, lo
	}
	return lo, hi
}

func (l *raftLog) hasNextCommittedEnts() bool {
	lo, hi := l.applyBounds()
	return lo < hi
}

func (l *raftLog) nextCommittedEnts() []pb.Entry {
	lo, hi := l.applyBounds()
	if lo >= hi {
		return nil
	}
	ents, err := l.slice(lo, hi, l.maxApplyBytes)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries [%d,%d): %v", lo, hi, err))
	}
	return ents
}

// snapshot returns the unstable snapshot, or the storage's.
func (l *raftLog) snapshot() (pb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed >= tocommit {
		return
	}
	if l.lastIndex() < tocommit {
		panic(fmt.Sprintf("raft: commit %d is out of range [lastIndex(%d)]", tocommit, l.lastIndex()))
	}
	l.committed = tocommit
}

// maybeCommit commits up to maxIndex if that entry is of term: a leader
// only commits entries of its own term by counting (§5.4.2).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		panic(fmt.Sprintf("raft: applied(%d) is out of range [prevApplied(%d), committed(%d)]", i, l.applied, l.committed))
	}
	l.applied = i
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

// restore replaces the log with a snapshot.
func (l *raftLog) restore(s pb.Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// entries returns entries from i on, at most maxSize bytes (at least one).
func (l *raftLog) entries(i, maxSize uint64) ([]pb.Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// allEntries is for tests.
func (l *raftLog) allEntries() []pb.Entry {
	ents, err := l.entries(l.firstIndex(), noLimit)
	if err == nil {
		return ents
	}
	if errors.Is(err, ErrCompacted) {
		return l.allEntries() // compacted meanwhile
	}
	panic(err)
}

// slice returns entries in [lo, hi), at most maxSize bytes but at least one.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	if err := l.mustCheckOutOfBounds(lo, hi); err != nil {
		return nil, err
	}
	if lo == hi {
		return nil, nil
	}
	var ents []pb.Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if errors.Is(err, ErrUnavailable) {
			panic(fmt.Sprintf("raft: entries[%d:%d) are unavailable from storage", lo, min(hi, l.unstable.offset)))
		} else if err != nil {
			panic(err)
		}
		// Storage returned fewer than asked: the size limit was reached.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			combined := make([]pb.Entry, len(ents)+len(u))
			n := copy(combined, ents)
			copy(combined[n:], u)
			ents = combined
		} else {
			ents = u
		}
	}
	return limitSize(ents, maxSize), nil
}

// mustCheckOutOfBounds requires firstIndex <= lo <= hi <= lastIndex+1.
func (l *raftLog) mustCheckOutOfBounds(lo, hi uint64) error {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid slice %d > %d", lo, hi))
	}
	if lo < l.firstIndex() {
		return ErrCompacted
	}
	if length := l.lastIndex() + 1 - l.firstIndex(); hi > l.firstIndex()+length {
		panic(fmt.Sprintf("raft: slice[%d,%d) out of bound [%d,%d]", lo, hi, l.firstIndex(), l.lastIndex()))
	}
	return nil
}
