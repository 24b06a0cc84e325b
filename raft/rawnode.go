package raft

import (
	"errors"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

// RawNode is the raft state machine with the Ready/Advance protocol, for
// callers that drive it from their own loop. It is not safe for concurrent
// use; Node wraps it in a goroutine.
type RawNode struct {
	raft       *raft
	prevSoftSt SoftState
	prevHardSt pb.HardState
	// awaitingAdvance: a Ready was handed out and not yet advanced.
	awaitingAdvance bool
}

// NewRawNode starts a member from what config.Storage holds.
func NewRawNode(config *Config) (*RawNode, error) {
	r, err := newRaft(config)
	if err != nil {
		return nil, err
	}
	return &RawNode{raft: r, prevSoftSt: r.softState(), prevHardSt: r.hardState()}, nil
}

// Peer is a member of a new cluster.
type Peer struct {
	ID      uint64
	Context []byte
}

// Bootstrap writes the first membership of a new cluster into an empty
// log: one committed ConfChangeAddNode entry per peer, at term 1. The
// entries come out in the next Ready like any others, so the application
// persists and applies them (ApplyConfChange) the usual way; every member
// of the new cluster must bootstrap with the same peers.
func (rn *RawNode) Bootstrap(peers []Peer) error {
	if len(peers) == 0 {
		return errors.New("raft: must specify at least one peer to bootstrap")
	}
	if last := rn.raft.raftLog.lastIndex(); last != 0 {
		return fmt.Errorf("raft: can't bootstrap a nonempty log (last index %d)", last)
	}
	if rn.raft.Term != 0 || len(rn.raft.trk.Progress) != 0 {
		return errors.New("raft: can't bootstrap a member that has state")
	}
	ents := make([]pb.Entry, len(peers))
	for i, p := range peers {
		cc := pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: p.ID, Context: p.Context}
		data, err := cc.Marshal()
		if err != nil {
			return fmt.Errorf("raft: marshal bootstrap conf change: %w", err)
		}
		ents[i] = pb.Entry{Type: pb.EntryConfChange, Term: 1, Index: uint64(i + 1), Data: data}
	}
	rn.raft.becomeFollower(1, None)
	rn.raft.raftLog.append(ents...)
	// They are committed by definition: every member starts with them. The
	// application applies them from CommittedEntries; applying them here
	// too lets this member campaign before that.
	rn.raft.raftLog.committed = uint64(len(ents))
	for _, p := range peers {
		if _, err := rn.raft.applyConfChange(pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: p.ID}); err != nil {
			return err
		}
	}
	return nil
}

// Tick advances the logical clock by one tick.
func (rn *RawNode) Tick() { rn.raft.tick() }

// Campaign makes this member start an election.
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(pb.Message{Type: pb.MsgHup})
}

// Propose proposes data to be appended to the log.
func (rn *RawNode) Propose(data []byte) error {
	return rn.raft.Step(pb.Message{
		Type:    pb.MsgProp,
		From:    rn.raft.id,
		Entries: []pb.Entry{{Data: data}},
	})
}

// ProposeConfChange proposes a membership change.
func (rn *RawNode) ProposeConfChange(cc pb.ConfChange) error {
	data, err := cc.Marshal()
	if err != nil {
		return fmt.Errorf("raft: marshal conf change: %w", err)
	}
	return rn.raft.Step(pb.Message{
		Type:    pb.MsgProp,
		Entries: []pb.Entry{{Type: pb.EntryConfChange, Data: data}},
	})
}

// ApplyConfChange applies a committed membership change and returns the
// resulting membership. A change the state machine refuses (removing the
// last voter, demoting a voter) returns an error and changes nothing, on
// every member alike.
func (rn *RawNode) ApplyConfChange(cc pb.ConfChange) (pb.ConfState, error) {
	return rn.raft.applyConfChange(cc)
}

// Step hands a message from the network to raft.
func (rn *RawNode) Step(m pb.Message) error {
	if IsLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	if pr := rn.raft.trk.Progress[m.From]; pr != nil || !IsResponseMsg(m.Type) {
		return rn.raft.Step(m)
	}
	return ErrStepPeerNotFound
}

// TransferLeader asks the leader to hand leadership to transferee.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgTransferLeader, From: transferee})
}

// ReadIndex requests a read index; the answer arrives in a Ready's
// ReadStates with the same rctx.
func (rn *RawNode) ReadIndex(rctx []byte) error {
	return rn.raft.Step(pb.Message{Type: pb.MsgReadIndex, Entries: []pb.Entry{{Data: rctx}}})
}

// ReportUnreachable tells raft that a message to id could not be sent.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgUnreachable, From: id})
}

// SnapshotStatus is the outcome of sending a snapshot.
type SnapshotStatus int

const (
	SnapshotFinish  SnapshotStatus = 1
	SnapshotFailure SnapshotStatus = 2
)

// ReportSnapshot tells raft whether a snapshot sent to id was applied.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(pb.Message{Type: pb.MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}

// HasReady reports whether a Ready is waiting. It is false while a Ready
// handed out is not yet advanced.
func (rn *RawNode) HasReady() bool {
	if rn.awaitingAdvance {
		return false
	}
	r := rn.raft
	if !r.softState().equal(rn.prevSoftSt) {
		return true
	}
	if hs := r.hardState(); !IsEmptyHardState(hs) && !isHardStateEqual(hs, rn.prevHardSt) {
		return true
	}
	if r.raftLog.unstable.snapshot != nil {
		return true
	}
	if len(r.msgs) > 0 || len(r.raftLog.unstableEntries()) > 0 || r.raftLog.hasNextCommittedEnts() {
		return true
	}
	if len(r.readStates) != 0 {
		return true
	}
	// Queued reads become a heartbeat round when the Ready is built.
	return len(r.reads.queued) > 0 && r.state == StateLeader && r.committedEntryInCurrentTerm()
}

func (a SoftState) equal(b SoftState) bool { return a.Lead == b.Lead && a.RaftState == b.RaftState }

// Ready returns what the application must do now (see Ready). Call Advance
// when it is done.
func (rn *RawNode) Ready() Ready {
	r := rn.raft
	rd := Ready{
		Entries:          r.raftLog.unstableEntries(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		Messages:         r.takeMessages(),
	}
	if softSt := r.softState(); !softSt.equal(rn.prevSoftSt) {
		// A copy, so that only a Ready that reports a change allocates:
		// taking softSt's own address would move it to the heap on every
		// call.
		changed := softSt
		rd.SoftState = &changed
		rn.prevSoftSt = softSt
	}
	if hardSt := r.hardState(); !isHardStateEqual(hardSt, rn.prevHardSt) {
		rd.HardState = hardSt
	}
	if r.raftLog.unstable.snapshot != nil {
		rd.Snapshot = *r.raftLog.unstable.snapshot
	}
	if len(r.readStates) != 0 {
		rd.ReadStates = r.readStates
		r.readStates = nil
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.applying = rd.CommittedEntries[n-1].Index
	}
	rd.MustSync = mustSync(r.hardState(), rn.prevHardSt, len(rd.Entries))
	if !IsEmptyHardState(rd.HardState) {
		rn.prevHardSt = rd.HardState
	}
	rn.awaitingAdvance = true
	return rd
}

// Advance tells raft that the application did everything rd asked.
func (rn *RawNode) Advance(rd Ready) {
	r := rn.raft
	rn.awaitingAdvance = false
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.raftLog.stableTo(e.Index, e.Term)
	}
	if !IsEmptySnap(rd.Snapshot) {
		r.raftLog.stableSnapTo(rd.Snapshot.Metadata.Index)
		if rd.Snapshot.Metadata.Index > r.raftLog.applied {
			r.raftLog.appliedTo(rd.Snapshot.Metadata.Index)
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		r.reduceUncommittedSize(payloadsSize(rd.CommittedEntries))
	}
}

// Status returns the member's current state.
func (rn *RawNode) Status() Status { return getStatus(rn.raft) }

// Status is a member's state, for monitoring and for the application.
type Status struct {
	ID uint64
	pb.HardState
	SoftState
	Applied        uint64
	LeadTransferee uint64
	Config         pb.ConfState
	// Progress of every member; only on the leader.
	Progress map[uint64]tracker.Progress
}

func getStatus(r *raft) Status {
	s := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LeadTransferee: r.leadTransferee,
		Config:         r.trk.ConfState(),
	}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]tracker.Progress, len(r.trk.Progress))
		for id, pr := range r.trk.Progress {
			cp := *pr
			cp.Inflights = pr.Inflights.Clone()
			s.Progress[id] = cp
		}
	}
	return s
}

func (s Status) String() string {
	return fmt.Sprintf("id=%x term=%d vote=%x commit=%d applied=%d lead=%x state=%s", s.ID, s.Term, s.Vote, s.Commit, s.Applied, s.Lead, s.RaftState)
}
