package rafttest

import (
	"strings"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// The invariants, checked as the events they concern happen:
//
//   - election safety: at most one leader per term over the whole run
//     (observe, sim.go);
//   - log matching: two persisted entries with the same index and term
//     have the same log before them, whichever members hold them
//     (checkLogEntry, via prefix hashes);
//   - leader completeness: a new leader's log holds every entry applied
//     anywhere before its election, unless compacted into its snapshot
//     (checkLeaderCompleteness);
//   - state machine safety and no lost commits: every member applies a
//     prefix of one global history, entry by entry, through snapshots and
//     restarts (recordApplied, checkReapplied, checkSnapshotState);
//   - membership agreement: every member applying a conf change reaches
//     the same membership;
//   - durability: term, vote and commit on disk never go back, and no
//     entry persisted as committed is overwritten (disk.go);
//   - read index: a ReadIndex answer is at least every index applied
//     anywhere when the request was issued.

// checkLogEntry records that a member persisted entry (index, term) with
// the given prefix hash.
func (s *Sim) checkLogEntry(m *member, index, term, hash uint64) {
	k := [2]uint64{index, term}
	prev, ok := s.logTerms[k]
	if !ok {
		s.logTerms[k] = hash
		return
	}
	if prev != hash {
		s.fail("log matching", "member %d persisted entry %d of term %d, but its log up to there differs from "+
			"another member's that holds an entry %d of term %d", m.id, index, term, index, term)
	}
}

// checkLeaderCompleteness runs on the first Ready a new leader takes,
// when its log is its disk plus that Ready's entries, and nothing has
// been removed from it since it won.
func (s *Sim) checkLeaderCompleteness(m *member) {
	c := m.leaderCheck
	if !c.active {
		return
	}
	m.leaderCheck.active = false
	if m.role != raft.StateLeader || m.term != c.term {
		return // deposed before it did anything: nothing to see
	}
	if !raft.IsEmptySnap(m.rd.Snapshot) {
		s.fail("leader completeness", "leader %d of term %d has a snapshot to install", m.id, c.term)
	}
	h, ok := m.disk.chainWith(m.rd.Entries, c.upto)
	if !ok {
		if c.upto < m.disk.base {
			return // compacted into its snapshot, checked when persisted
		}
		last := m.disk.lastIndex()
		if n := len(m.rd.Entries); n > 0 {
			last = m.rd.Entries[n-1].Index
		}
		s.fail("leader completeness", "member %d became leader of term %d without entry %d, which was applied "+
			"before its election (its log is (%d..%d])", m.id, c.term, c.upto, m.disk.base, last)
	}
	if h != s.hist[c.upto].chain {
		s.fail("leader completeness", "member %d became leader of term %d with a log that differs from the "+
			"applied history at or before index %d", m.id, c.term, c.upto)
	}
}

// recordApplied checks an entry a member's state machine just applied
// against the global history, or extends the history with it.
func (s *Sim) recordApplied(m *member, e *pb.Entry) {
	i := e.Index
	switch {
	case i < uint64(len(s.hist)):
		if g := &s.hist[i]; g.chain != m.sm.chain {
			s.fail("state machine safety", "member %d applied %s at index %d, but member %d applied %s there (step %d)"+
				" or the logs before it differ", m.id, raft.DescribeEntry(*e), i, g.by, describeHist(g, i), g.step)
		}
	case i == uint64(len(s.hist)):
		prev := s.hist[i-1]
		h := histEntry{term: e.Term, typ: e.Type, data: string(e.Data), chain: m.sm.chain, normals: prev.normals, by: m.id, step: s.step}
		if e.Type == pb.EntryNormal && len(e.Data) > 0 {
			h.normals++
			if s.markerIndex == 0 && strings.HasPrefix(h.data, markerPrefix) {
				s.markerIndex = i
			}
		}
		s.hist = append(s.hist, h)
	default:
		s.fail("state machine safety", "member %d applied index %d, past anything applied (%d)", m.id, i, len(s.hist)-1)
	}
}

// checkReapplied checks an entry raft hands again to a durable state
// machine that already applied its index.
func (s *Sim) checkReapplied(m *member, e *pb.Entry) {
	if e.Index >= uint64(len(s.hist)) {
		s.fail("state machine safety", "member %d re-applies index %d, past anything applied", m.id, e.Index)
	}
	g := &s.hist[e.Index]
	if g.term != e.Term || g.typ != e.Type || g.data != string(e.Data) {
		s.fail("committed entry lost", "member %d, restarted, is handed %s at index %d, where %s was applied (by %d, step %d)",
			m.id, raft.DescribeEntry(*e), e.Index, describeHist(g, e.Index), g.by, g.step)
	}
}

// checkSnapshotState checks that a snapshot's state machine is the global
// history up to its index.
func (s *Sim) checkSnapshotState(m *member, sm *stateMachine, idx uint64) {
	if idx >= uint64(len(s.hist)) {
		s.fail("state machine safety", "member %d restores snapshot@%d, past anything applied (%d)", m.id, idx, len(s.hist)-1)
	}
	g := &s.hist[idx]
	if sm.chain != g.chain {
		s.fail("state machine safety", "member %d restores snapshot@%d whose applied log differs from the history", m.id, idx)
	}
	if len(sm.entries) != g.normals {
		s.fail("state machine safety", "member %d restores snapshot@%d holding %d entries, the history has %d", m.id, idx, len(sm.entries), g.normals)
	}
	for _, e := range sm.entries {
		if e.Index > idx || s.hist[e.Index].data != e.Data || s.hist[e.Index].term != e.Term {
			s.fail("state machine safety", "member %d restores snapshot@%d holding %d/%d %q, not in the history", m.id, idx, e.Term, e.Index, e.Data)
		}
	}
}

func (s *Sim) checkReadState(m *member, rs raft.ReadState) {
	want, ok := s.readIssued[string(rs.RequestCtx)]
	if ok && rs.Index < want {
		s.fail("linearizable read", "member %d got read index %d for request %x, issued when %d was already applied",
			m.id, rs.Index, rs.RequestCtx, want)
	}
	s.stats.ReadStates++
	s.note(m.id, "read state index "+itoa(rs.Index))
}

func describeHist(g *histEntry, i uint64) string {
	return raft.DescribeEntry(pb.Entry{Index: i, Term: g.term, Type: g.typ, Data: []byte(g.data)})
}
