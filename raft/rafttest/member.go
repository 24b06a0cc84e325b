package rafttest

import (
	"fmt"
	"math/rand/v2"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// readyPhase is how far a member got with the Ready it took. A crash in
// phaseTaken loses the whole Ready; in phasePersisted, only its sending
// and applying.
type readyPhase uint8

const (
	phaseIdle readyPhase = iota
	phaseTaken
	phasePersisted
)

// member is one simulated server: a RawNode (nil while down), its disk and
// its state machine.
type member struct {
	id   uint64
	rn   *raft.RawNode
	disk *disk
	sm   stateMachine
	// confState is the membership as of the last entry raft handed out
	// for applying: what a snapshot taken now must record.
	confState pb.ConfState
	// nextApply is the index raft must hand out next.
	nextApply uint64
	// incarnation counts restarts; it seeds the member's raft.Rand and
	// ties transport reports to the process that sent the message.
	incarnation int
	destroyed   bool

	phase     readyPhase
	rd        raft.Ready
	sentEarly bool

	// role and term as last observed.
	role raft.StateType
	term uint64
	// leaderCheck: leader completeness, checked on the first Ready this
	// member takes as the new leader.
	leaderCheck leaderCheck
}

type leaderCheck struct {
	term uint64
	// upto: the highest index applied anywhere when it was elected.
	upto   uint64
	active bool
}

func (s *Sim) startMember(m *member, applied uint64) {
	o := s.opts.Raft
	c := &raft.Config{
		ID:                        m.id,
		ElectionTick:              o.ElectionTick,
		HeartbeatTick:             o.HeartbeatTick,
		Storage:                   m.disk.ms,
		Applied:                   applied,
		MaxSizePerMsg:             o.MaxSizePerMsg,
		MaxCommittedSizePerReady:  o.MaxCommittedSizePerReady,
		MaxUncommittedEntriesSize: o.MaxUncommittedEntriesSize,
		MaxInflightMsgs:           o.MaxInflightMsgs,
		MaxInflightBytes:          o.MaxInflightBytes,
		CheckQuorum:               o.CheckQuorum,
		PreVote:                   o.PreVote,
		DisableProposalForwarding: o.DisableProposalForwarding,
		// Each member and each of its lives draws different timeouts,
		// all determined by the seed.
		Rand: rand.New(rand.NewPCG(s.opts.Seed, m.id<<32|uint64(m.incarnation))),
	}
	if s.opts.Logf != nil {
		c.Logger = raftLogger{s: s, id: m.id}
	}
	rn, err := raft.NewRawNode(c)
	if err != nil {
		s.fail("restart from disk", "member %d cannot start from its disk: %v", m.id, err)
	}
	m.rn = rn
	m.phase, m.rd, m.sentEarly = phaseIdle, raft.Ready{}, false
	m.role, m.term = raft.StateFollower, 0
	s.observe(m)
}

// handleReady does the next part of a member's Ready handling, in the
// order raft.Ready prescribes: take it (sending early what
// CanSendBeforePersist allows, in seeds that do), persist it, then send
// the rest, apply and Advance. With Faults.SplitReady it may stop between
// parts, so that crashes and deliveries interleave with them.
func (s *Sim) handleReady(m *member) {
	f := &s.opts.Faults
	for {
		switch m.phase {
		case phaseIdle:
			if !m.rn.HasReady() {
				return
			}
			m.rd = m.rn.Ready()
			m.phase = phaseTaken
			s.readyTaken(m)
			if f.SendBeforePersist {
				m.sentEarly = true
				for _, msg := range m.rd.Messages {
					if raft.CanSendBeforePersist(msg) {
						s.stats.EarlySends++
						s.send(m, msg)
					}
				}
			}
		case phaseTaken:
			s.persist(m)
			m.phase = phasePersisted
		case phasePersisted:
			for _, msg := range m.rd.Messages {
				if !m.sentEarly || !raft.CanSendBeforePersist(msg) {
					s.send(m, msg)
				}
			}
			s.apply(m)
			m.rn.Advance(m.rd)
			m.phase, m.rd, m.sentEarly = phaseIdle, raft.Ready{}, false
			if every := f.SnapshotEvery; every > 0 && m.sm.applied >= m.disk.snapshotIndex()+uint64(every) {
				s.snapshotMember(m)
			}
			return
		}
		if f.SplitReady > 0 && s.rng.Float64() < f.SplitReady {
			return
		}
	}
}

func (s *Sim) readyTaken(m *member) {
	rd := &m.rd
	ev := event{step: s.step, kind: evReady, id: m.id, hs: rd.HardState, c: rd.Snapshot.Metadata.Index, d: uint64(len(rd.Messages))}
	if n := len(rd.Entries); n > 0 {
		ev.a, ev.b = rd.Entries[0].Index, rd.Entries[n-1].Index
	}
	if rd.SoftState != nil {
		ev.text = fmt.Sprintf("%s lead=%d", rd.SoftState.RaftState, rd.SoftState.Lead)
	}
	s.trace.add(ev)
	s.checkLeaderCompleteness(m)
}

func (s *Sim) persist(m *member) {
	rd := &m.rd
	if !raft.IsEmptySnap(rd.Snapshot) {
		s.persistSnapshot(m, rd.Snapshot)
	}
	s.persistEntries(m, rd.Entries)
	if !raft.IsEmptyHardState(rd.HardState) {
		s.persistHardState(m, rd.HardState)
	}
	s.trace.add(event{step: s.step, kind: evPersist, id: m.id, a: m.disk.lastIndex(), b: m.disk.hs.Commit})
}

func (s *Sim) apply(m *member) {
	rd := &m.rd
	ev := event{step: s.step, kind: evApply, id: m.id}
	if !raft.IsEmptySnap(rd.Snapshot) {
		ev.c = rd.Snapshot.Metadata.Index
		s.restoreStateMachine(m, rd.Snapshot)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		ev.a, ev.b = rd.CommittedEntries[0].Index, rd.CommittedEntries[n-1].Index
	}
	s.trace.add(ev)
	for i := range rd.CommittedEntries {
		s.applyEntry(m, &rd.CommittedEntries[i])
	}
	for _, rs := range rd.ReadStates {
		s.checkReadState(m, rs)
	}
}

// restoreStateMachine replaces a member's state with a snapshot's, after
// checking the snapshot against the global history.
func (s *Sim) restoreStateMachine(m *member, snap pb.Snapshot) {
	sm, err := decodeStateMachine(snap.Data)
	if err != nil {
		s.fail("snapshot integrity", "member %d: snapshot@%d: %v", m.id, snap.Metadata.Index, err)
	}
	idx := snap.Metadata.Index
	if idx < m.sm.applied {
		s.fail("applied never goes back", "member %d applied up to %d is handed snapshot@%d", m.id, m.sm.applied, idx)
	}
	s.checkSnapshotState(m, &sm, idx)
	m.sm = sm
	m.nextApply = idx + 1
	m.confState = snap.Metadata.ConfState
}

func (s *Sim) applyEntry(m *member, e *pb.Entry) {
	if e.Index != m.nextApply {
		s.fail("apply order", "member %d is handed entry %d to apply, expected %d", m.id, e.Index, m.nextApply)
	}
	m.nextApply++
	if e.Index <= m.sm.applied {
		// A durable state machine already has it (raft restarted below
		// it): it must be the same entry, and a conf change must reach
		// raft again.
		s.checkReapplied(m, e)
	} else {
		if e.Index != m.sm.applied+1 {
			s.fail("apply order", "member %d applied up to %d is handed entry %d", m.id, m.sm.applied, e.Index)
		}
		m.sm.apply(e)
		s.recordApplied(m, e)
	}
	if e.Type == pb.EntryConfChange {
		s.applyConfChange(m, e)
	}
}

func (s *Sim) applyConfChange(m *member, e *pb.Entry) {
	var cc pb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		s.fail("entry integrity", "member %d: conf change at %d does not decode: %v", m.id, e.Index, err)
	}
	if r, ok := s.removed[cc.NodeID]; ok && r.index < e.Index && cc.Type != pb.ConfChangeRemoveNode {
		// Like etcd's membership layer, the application never lets a
		// removed ID back in (a stale proposal may try): it applies the
		// change as a no-op. Every member applied the removal before
		// this entry, so every member decides the same.
		cc.NodeID = raft.None
	}
	cs, err := m.rn.ApplyConfChange(cc)
	m.confState = cs
	key := fmt.Sprintf("voters=%v learners=%v refused=%t", cs.Voters, cs.Learners, err != nil)
	if prev, ok := s.confAt[e.Index]; ok && prev != key {
		s.fail("membership agreement", "member %d applying %s at %d reaches %s; another member reached %s",
			m.id, raft.DescribeEntry(*e), e.Index, key, prev)
	}
	s.confAt[e.Index] = key
	if _, ok := s.removed[cc.NodeID]; !ok && err == nil && cc.Type == pb.ConfChangeRemoveNode {
		s.removed[cc.NodeID] = removal{index: e.Index, after: cs}
	}
	s.note(m.id, "applies "+raft.DescribeEntry(*e)+": "+key)
	s.observe(m)
}

// crash stops a member. Whatever its current Ready had not persisted is
// lost, and so is its state machine unless that is durable.
func (s *Sim) crash(m *member, why string) {
	lost := "nothing pending"
	switch m.phase {
	case phaseTaken:
		lost = "loses its unpersisted Ready"
	case phasePersisted:
		lost = "its Ready was persisted, not applied"
	}
	s.trace.add(event{step: s.step, kind: evCrash, id: m.id, text: why + "; " + lost})
	s.stats.Crashes++
	if m.phase == phaseTaken {
		s.stats.LostReadies++
	}
	m.rn = nil
	m.phase, m.rd, m.sentEarly = phaseIdle, raft.Ready{}, false
	m.incarnation++
	m.leaderCheck = leaderCheck{}
	m.role, m.term = raft.StateFollower, 0
	if !s.opts.Faults.DurableStateMachine {
		m.sm = stateMachine{}
	}
}

// restart brings a crashed member back from its disk. A volatile state
// machine restarts from the disk's snapshot (Config.Applied is the
// snapshot's index) and raft hands out every committed entry after it
// again. A durable one keeps its state; raft is told it applied that much
// unless conf changes lie between the snapshot and there, in which case
// raft restarts from the snapshot so that it sees them, and the state
// machine skips what it has.
func (s *Sim) restart(m *member) {
	snap, _ := m.disk.ms.Snapshot()
	sIdx := snap.Metadata.Index
	// At least the snapshot is applied: raft would otherwise start from
	// the storage's first index, which lies below the snapshot when the
	// compaction kept entries behind it.
	applied := sIdx
	if s.opts.Faults.DurableStateMachine && m.sm.applied > sIdx {
		cc, err := m.disk.hasConfChange(sIdx+1, m.sm.applied+1)
		if err != nil {
			s.fail("durable apply", "member %d applied %d but its disk lacks entries (%d..%d]: %v", m.id, m.sm.applied, sIdx, m.sm.applied, err)
		}
		if !cc {
			applied = m.sm.applied
		}
	} else if sIdx > 0 {
		m.sm = stateMachine{}
		s.restoreStateMachine(m, snap)
	} else {
		m.sm = stateMachine{}
	}
	m.confState = snap.Metadata.ConfState
	m.nextApply = applied + 1
	s.trace.add(event{step: s.step, kind: evRestart, id: m.id, a: sIdx, b: applied,
		text: fmt.Sprintf("(%d..%d] hs{term:%d vote:%d commit:%d}", m.disk.base, m.disk.lastIndex(), m.disk.hs.Term, m.disk.hs.Vote, m.disk.hs.Commit)})
	s.stats.Restarts++
	s.startMember(m, applied)
}

// destroyRemoved shuts down members removed from the membership, as a
// server does once it learns it was removed. Like etcd, which stops a
// removed member only after a delay, it waits until every member of the
// new membership has applied the removal: a leader that removed itself
// may be the only one that knows the removal committed, and the others
// may need its vote until they learn it. With all set it shuts down every
// member it may; otherwise one at random.
func (s *Sim) destroyRemoved(all bool) {
	var cands []*member
	for _, m := range s.members {
		if r, ok := s.removed[m.id]; ok && !m.destroyed && s.removalSettled(r) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return
	}
	if !all {
		cands = cands[s.rng.IntN(len(cands)):][:1]
	}
	for _, m := range cands {
		if m.rn != nil {
			s.crash(m, "removed from the cluster, shut down")
		}
		m.destroyed = true
	}
}

func (s *Sim) removalSettled(r removal) bool {
	for _, ids := range [][]uint64{r.after.Voters, r.after.Learners} {
		for _, id := range ids {
			if m := s.byID[id]; m != nil && !m.destroyed && m.sm.applied < r.index {
				return false
			}
		}
	}
	return true
}
