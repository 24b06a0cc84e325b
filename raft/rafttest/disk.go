package rafttest

import (
	"fmt"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// disk is a member's durable state. Its MemoryStorage is what raft reads
// and what survives a crash; it is written only when the member persists
// a Ready (or snapshots its own state). Beside it the disk keeps the
// prefix hash of every entry it holds, so that log matching is checked at
// the moment an entry becomes durable.
type disk struct {
	ms *raft.MemoryStorage
	hs pb.HardState
	// chain[i] is the prefix hash at index base+i. base is the storage's
	// dummy entry: its snapshot or compaction point.
	base  uint64
	chain []uint64
	// known is false for the empty disk of a member that joined and has
	// not yet received a snapshot: it knows no prefix at all.
	known bool
}

// newBootstrapDisk is a founding member's disk: the initial snapshot at
// index 1, term 1, holding the founding membership and an empty state
// machine.
func newBootstrapDisk(cs pb.ConfState) (*disk, error) {
	ms := raft.NewMemoryStorage()
	sm := bootstrapStateMachine()
	snap := pb.Snapshot{Data: sm.encode(), Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}
	if err := ms.ApplySnapshot(snap); err != nil {
		return nil, err
	}
	return &disk{ms: ms, base: 1, chain: []uint64{bootstrapHash}, known: true}, nil
}

// newEmptyDisk is the disk of a member that joins an existing cluster: it
// learns everything from the leader's snapshot.
func newEmptyDisk() *disk {
	return &disk{ms: raft.NewMemoryStorage(), chain: []uint64{0}}
}

func (d *disk) lastIndex() uint64 { return d.base + uint64(len(d.chain)) - 1 }

func (d *disk) snapshotIndex() uint64 {
	snap, _ := d.ms.Snapshot()
	return snap.Metadata.Index
}

// chainAt is the prefix hash at index i, if the disk holds it.
func (d *disk) chainAt(i uint64) (uint64, bool) {
	if !d.known || i < d.base || i > d.lastIndex() {
		return 0, false
	}
	return d.chain[i-d.base], true
}

// chainWith is the prefix hash at index i of the log this disk would hold
// after appending ents: what raft's log is while ents are unstable.
func (d *disk) chainWith(ents []pb.Entry, i uint64) (uint64, bool) {
	if len(ents) == 0 || i < ents[0].Index {
		return d.chainAt(i)
	}
	first := ents[0].Index
	if first <= d.base {
		skip := d.base + 1 - first
		if skip >= uint64(len(ents)) {
			return d.chainAt(i)
		}
		ents, first = ents[skip:], d.base+1
	}
	h, ok := d.chainAt(first - 1)
	if !ok {
		return 0, false
	}
	for k := range ents {
		if ents[k].Index > i {
			break
		}
		h = chainHash(h, &ents[k])
		if ents[k].Index == i {
			return h, true
		}
	}
	return 0, false
}

// hasConfChange reports whether the disk's log holds a conf change in
// [lo, hi).
func (d *disk) hasConfChange(lo, hi uint64) (bool, error) {
	if lo >= hi {
		return false, nil
	}
	ents, err := d.ms.Entries(lo, hi, ^uint64(0))
	if err != nil {
		return false, err
	}
	for i := range ents {
		if ents[i].Type == pb.EntryConfChange {
			return true, nil
		}
	}
	return false, nil
}

// Persisting a Ready. Each step reports a violation through s.fail,
// since raft asking for an impossible write is a bug in raft.

func (s *Sim) persistSnapshot(m *member, snap pb.Snapshot) {
	d := m.disk
	sm, err := decodeStateMachine(snap.Data)
	if err != nil {
		s.fail("snapshot integrity", "member %d asked to persist snapshot@%d with undecodable data: %v", m.id, snap.Metadata.Index, err)
	}
	idx := snap.Metadata.Index
	if sm.applied != idx {
		s.fail("snapshot integrity", "member %d got snapshot@%d whose state machine is at %d", m.id, idx, sm.applied)
	}
	s.checkLogEntry(m, idx, snap.Metadata.Term, sm.chain)
	if err := d.ms.ApplySnapshot(snap); err != nil {
		s.fail("Ready contract", "member %d cannot persist snapshot@%d from its Ready: %v", m.id, idx, err)
	}
	d.base, d.chain, d.known = idx, append(d.chain[:0], sm.chain), true
	s.stats.SnapshotsInstalled++
}

func (s *Sim) persistEntries(m *member, ents []pb.Entry) {
	if len(ents) == 0 {
		return
	}
	d := m.disk
	if err := d.ms.Append(ents); err != nil {
		s.fail("Ready contract", "member %d cannot persist entries [%d..%d] from its Ready (disk holds (%d..%d]): %v",
			m.id, ents[0].Index, ents[len(ents)-1].Index, d.base, d.lastIndex(), err)
	}
	first := ents[0].Index
	if first <= d.base {
		skip := d.base + 1 - first
		if skip >= uint64(len(ents)) {
			return
		}
		ents, first = ents[skip:], d.base+1
	}
	if !d.known {
		s.fail("Ready contract", "member %d persisted entries from %d without ever receiving a snapshot", m.id, first)
	}
	// Entries replace the disk's from first on. One the member already
	// persisted as committed must be replaced by itself, or it is lost.
	last := ents[len(ents)-1].Index
	if oldLast := d.lastIndex(); last < oldLast && last < d.hs.Commit {
		s.fail("committed entry lost", "member %d truncates its log (%d..%d] to %d though its persisted commit is %d",
			m.id, d.base, oldLast, last, d.hs.Commit)
	}
	h := d.chain[first-1-d.base]
	for i := range ents {
		idx := ents[i].Index
		h = chainHash(h, &ents[i])
		if pos := idx - d.base; pos < uint64(len(d.chain)) {
			if idx <= d.hs.Commit && d.chain[pos] != h {
				s.fail("committed entry lost", "member %d overwrites entry %d though its persisted commit is %d", m.id, idx, d.hs.Commit)
			}
			if d.chain[pos] != h {
				s.stats.LogTruncations++
			}
			d.chain[pos] = h
		} else {
			d.chain = append(d.chain, h)
		}
		s.checkLogEntry(m, idx, ents[i].Term, h)
	}
	d.chain = d.chain[:last-d.base+1]
}

func (s *Sim) persistHardState(m *member, hs pb.HardState) {
	d := m.disk
	old := d.hs
	switch {
	case hs.Term < old.Term:
		s.fail("durable term", "member %d persists term %d after term %d", m.id, hs.Term, old.Term)
	case hs.Term == old.Term && old.Vote != raft.None && hs.Vote != old.Vote:
		s.fail("one vote per term", "member %d changes its vote in term %d from %d to %d", m.id, hs.Term, old.Vote, hs.Vote)
	case hs.Commit < old.Commit:
		s.fail("durable commit", "member %d persists commit %d after commit %d", m.id, hs.Commit, old.Commit)
	case hs.Commit > d.lastIndex():
		s.fail("durable commit", "member %d persists commit %d past its last persisted entry %d", m.id, hs.Commit, d.lastIndex())
	}
	_ = d.ms.SetHardState(hs)
	d.hs = hs
}

// snapshotMember snapshots a member's applied state into its storage and
// compacts the log behind it, keeping a few entries.
func (s *Sim) snapshotMember(m *member) bool {
	if m.rn == nil || m.phase != phaseIdle || m.sm.applied != m.nextApply-1 || m.sm.applied <= m.disk.snapshotIndex() {
		return false
	}
	d := m.disk
	idx := m.sm.applied
	if h, ok := d.chainAt(idx); !ok || h != m.sm.chain {
		s.fail("log matches state machine", "member %d applied up to %d (hash %x) but its log there has hash %x (held: %t)",
			m.id, idx, m.sm.chain, h, ok)
	}
	cs := m.confState
	if _, err := d.ms.CreateSnapshot(idx, &cs, m.sm.encode()); err != nil {
		s.fail("snapshot", "member %d cannot snapshot at applied index %d: %v", m.id, idx, err)
	}
	compact := idx - min(idx, uint64(s.rng.IntN(s.opts.Faults.CompactKeep+1)))
	if compact > d.base {
		if err := d.ms.Compact(compact); err != nil {
			s.fail("snapshot", "member %d cannot compact to %d: %v", m.id, compact, err)
		}
		d.chain = append([]uint64(nil), d.chain[compact-d.base:]...)
		d.base = compact
	}
	s.stats.SnapshotsTaken++
	s.note(m.id, fmt.Sprintf("snapshots at %d, log now (%d..%d]", idx, d.base, d.lastIndex()))
	return true
}
