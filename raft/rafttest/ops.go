package rafttest

import (
	"encoding/binary"
	"fmt"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// maxNewMembers caps how many members a run adds beyond its founders.
const maxNewMembers = 8

// The random operations of chaos steps. Each goes to the leader most of
// the time and to any live member otherwise, which forwards it or refuses.

func (s *Sim) pickTarget() *member {
	live := s.liveMembers()
	if len(live) == 0 {
		return nil
	}
	if lead := s.leader(); lead != nil && s.rng.IntN(10) < 7 {
		return lead
	}
	return live[s.rng.IntN(len(live))]
}

func (s *Sim) randomPropose() {
	if m := s.pickTarget(); m != nil {
		s.proposals++
		s.propose(m, "p"+itoa(uint64(s.proposals)))
	}
}

func (s *Sim) propose(m *member, data string) error {
	err := m.rn.Propose([]byte(data))
	s.note(m.id, "propose "+data+errSuffix(err))
	s.observe(m)
	return err
}

func (s *Sim) randomRead() {
	live := s.liveMembers()
	if len(live) == 0 {
		return
	}
	m := live[s.rng.IntN(len(live))]
	s.readCount++
	ctx := binary.BigEndian.AppendUint64(nil, uint64(s.readCount))
	s.readIssued[string(ctx)] = uint64(len(s.hist) - 1)
	err := m.rn.ReadIndex(ctx)
	s.note(m.id, fmt.Sprintf("read index request %x (applied anywhere: %d)%s", ctx, len(s.hist)-1, errSuffix(err)))
	s.observe(m)
}

func (s *Sim) randomTransfer() {
	lead := s.leader()
	if lead == nil {
		return
	}
	var cands []uint64
	for _, id := range lead.confState.Voters {
		if id != lead.id {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return
	}
	target := cands[s.rng.IntN(len(cands))]
	via := s.pickTarget()
	via.rn.TransferLeader(target)
	s.stats.TransferRequests++
	s.note(via.id, "asked to transfer leadership to "+itoa(target))
	s.observe(via)
}

// randomConfChange proposes one membership change that the leader's
// current membership allows: add a learner or a voter (a new member with
// an empty disk, started at once), promote a learner, remove a learner or
// a voter (the leader included).
func (s *Sim) randomConfChange() {
	lead := s.leader()
	if lead == nil {
		return
	}
	f := &s.opts.Faults
	cs := lead.confState
	var cands []pb.ConfChange
	for _, id := range cs.Learners {
		cands = append(cands,
			pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: id},
			pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: id})
	}
	if len(cs.Voters) > max(f.MinVoters, 1) {
		for _, id := range cs.Voters {
			cands = append(cands, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: id})
		}
	}
	if len(cs.Voters)+len(cs.Learners) < f.MaxMembers && s.nextID <= uint64(s.opts.Voters+maxNewMembers) {
		// Adding is weighted up: without it removals would shrink every
		// cluster to its minimum.
		for range 3 {
			cands = append(cands, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: s.nextID})
		}
		cands = append(cands, pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: s.nextID})
	}
	if len(cands) == 0 {
		return
	}
	cc := cands[s.rng.IntN(len(cands))]
	via := s.pickTarget()
	err := via.rn.ProposeConfChange(cc)
	s.note(via.id, fmt.Sprintf("propose %s %d%s", cc.Type, cc.NodeID, errSuffix(err)))
	s.observe(via)
	if err == nil && cc.NodeID == s.nextID {
		s.nextID++
		s.stats.MembersAdded++
		m := &member{id: cc.NodeID, disk: newEmptyDisk(), nextApply: 1}
		s.members = append(s.members, m)
		s.byID[m.id] = m
		s.startMember(m, 0)
		s.note(m.id, "started with an empty disk, to join")
	}
}

// Scripted control, for tests that drive a Sim by hand. Each returns the
// run's failure, if any.

// Crash stops a member; what it had not persisted is lost.
func (s *Sim) Crash(id uint64) error {
	return s.do(func() {
		if m := s.byID[id]; m != nil && m.rn != nil {
			s.crash(m, "scripted")
		}
	})
}

// Restart restarts a crashed member from its disk.
func (s *Sim) Restart(id uint64) error {
	return s.do(func() {
		if m := s.byID[id]; m != nil && m.rn == nil && !m.destroyed {
			s.restart(m)
		}
	})
}

// Isolate cuts every link to and from a member.
func (s *Sim) Isolate(id uint64) {
	for _, m := range s.members {
		if m.id != id {
			s.cutLink(id, m.id)
			s.cutLink(m.id, id)
		}
	}
	s.note(0, "partition: isolate "+itoa(id))
}

// Cut drops messages from one member to another (one way).
func (s *Sim) Cut(from, to uint64) {
	s.cutLink(from, to)
	s.note(0, "partition: one-way, "+itoa(from)+" cannot reach "+itoa(to))
}

// HealPartitions removes every cut link.
func (s *Sim) HealPartitions() { s.healPartitions() }

func (s *Sim) healPartitions() {
	s.net.cut = nil
	s.note(0, "partitions healed")
}

// Propose proposes data at a member.
func (s *Sim) Propose(id uint64, data string) error {
	var perr error
	err := s.do(func() {
		m := s.byID[id]
		if m == nil || m.rn == nil {
			perr = fmt.Errorf("rafttest: member %d is not running", id)
			return
		}
		perr = s.propose(m, data)
	})
	if err != nil {
		return err
	}
	return perr
}

// Snapshot makes a member snapshot its applied state and compact its log.
func (s *Sim) Snapshot(id uint64) error {
	return s.do(func() {
		if m := s.byID[id]; m != nil && m.rn != nil {
			s.snapshotMember(m)
		}
	})
}

// Leader is the live member that believes it leads the highest term, or
// raft.None.
func (s *Sim) Leader() uint64 {
	if m := s.leader(); m != nil {
		return m.id
	}
	return raft.None
}

// Applied returns the normal entries a member's state machine holds.
func (s *Sim) Applied(id uint64) []AppliedEntry {
	if m := s.byID[id]; m != nil {
		return append([]AppliedEntry(nil), m.sm.entries...)
	}
	return nil
}

// Trace returns the last events, oldest first.
func (s *Sim) Trace() string { return s.trace.String() }

// Options returns the options the Sim runs with.
func (s *Sim) Options() Options { return s.opts }

// StepCount and Ticks say how far the run got.
func (s *Sim) StepCount() int { return s.step }

// Ticks is the number of cluster-wide ticks so far.
func (s *Sim) Ticks() int { return s.ticks }
