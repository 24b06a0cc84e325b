package raft

import (
	"errors"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

// Membership changes are single-member changes, one at a time: a leader
// accepts a new ConfChange only once the previous one is applied, and a
// change takes effect on each member when the application applies the
// committed entry (ApplyConfChange). See doc.go for why this is safe.

// Errors for conf changes the state machine refuses; every member refuses
// the same ones, so applying a refused change is a no-op everywhere.
var (
	ErrRemoveLastVoter   = errors.New("raft: removing the last voter is not allowed")
	ErrDemoteVoter       = errors.New("raft: a voter cannot be made a learner")
	ErrInvalidConfChange = errors.New("raft: invalid conf change")
)

// restoreConfState rebuilds the tracker from a ConfState.
func (r *raft) restoreConfState(cs pb.ConfState) error {
	for _, id := range cs.Learners {
		for _, v := range cs.Voters {
			if v == id {
				return fmt.Errorf("raft: member %x is both voter and learner in %v", id, cs)
			}
		}
	}
	old := r.trk
	r.trk = tracker.MakeTracker(old.MaxInflight, old.MaxInflightBytes)
	next := r.raftLog.lastIndex() + 1
	for _, id := range cs.Voters {
		r.trk.Voters[id] = struct{}{}
		r.trk.Progress[id] = r.trk.NewProgress(next, false)
	}
	for _, id := range cs.Learners {
		r.trk.Learners[id] = struct{}{}
		r.trk.Progress[id] = r.trk.NewProgress(next, true)
	}
	r.isLearner = false
	if pr := r.trk.Progress[r.id]; pr != nil {
		pr.Match = r.raftLog.lastIndex()
		r.isLearner = pr.IsLearner
	}
	return nil
}

// applyConfChange changes the membership. A refused change returns an
// error and changes nothing.
func (r *raft) applyConfChange(cc pb.ConfChange) (pb.ConfState, error) {
	if cc.NodeID == None && cc.Type != pb.ConfChangeUpdateNode {
		return r.trk.ConfState(), fmt.Errorf("%w: node id 0", ErrInvalidConfChange)
	}
	var err error
	switch cc.Type {
	case pb.ConfChangeAddNode:
		err = r.addNode(cc.NodeID, false)
	case pb.ConfChangeAddLearnerNode:
		err = r.addNode(cc.NodeID, true)
	case pb.ConfChangeRemoveNode:
		err = r.removeNode(cc.NodeID)
	case pb.ConfChangeUpdateNode:
	default:
		err = fmt.Errorf("%w: unknown type %d", ErrInvalidConfChange, cc.Type)
	}
	return r.trk.ConfState(), err
}

func (r *raft) addNode(id uint64, learner bool) error {
	pr := r.trk.Progress[id]
	switch {
	case pr == nil:
		pr = r.trk.NewProgress(r.raftLog.lastIndex()+1, learner)
		if id == r.id {
			pr.Match = r.raftLog.lastIndex()
		}
		r.trk.Progress[id] = pr
		if learner {
			r.trk.Learners[id] = struct{}{}
		} else {
			r.trk.Voters[id] = struct{}{}
		}
	case learner && !pr.IsLearner:
		return fmt.Errorf("%w: %x", ErrDemoteVoter, id)
	case learner == pr.IsLearner:
		return nil // already so
	default: // promote a learner
		pr.IsLearner = false
		delete(r.trk.Learners, id)
		r.trk.Voters[id] = struct{}{}
	}
	if id == r.id {
		r.isLearner = learner
	}
	if r.state == StateLeader && id != r.id {
		// Start replicating to the new member at once.
		r.sendAppend(id)
	}
	return nil
}

func (r *raft) removeNode(id uint64) error {
	if r.trk.Progress[id] == nil {
		return nil
	}
	if _, voter := r.trk.Voters[id]; voter && len(r.trk.Voters) == 1 {
		return ErrRemoveLastVoter
	}
	delete(r.trk.Progress, id)
	delete(r.trk.Voters, id)
	delete(r.trk.Learners, id)
	if r.reads.acked != nil {
		delete(r.reads.acked, id)
	}
	if r.state != StateLeader {
		return nil
	}
	if r.leadTransferee == id {
		r.abortLeaderTransfer()
	}
	// The quorum changed: entries may now be committed.
	if r.maybeCommit() {
		r.bcastAppend()
	}
	r.maybeStepDownRemoved()
	return nil
}

// maybeStepDownRemoved makes a leader that removed itself step down, once
// every remaining voter holds its whole log. Until then it leads on,
// refusing proposals, so that the others learn the removal committed: one
// that has not still counts on this member's vote, and a vote goes only to
// a log at least as long as ours (with two voters, the survivor could
// otherwise never be elected).
func (r *raft) maybeStepDownRemoved() {
	if r.state != StateLeader || r.trk.Progress[r.id] != nil {
		return
	}
	last := r.raftLog.lastIndex()
	for id := range r.trk.Voters {
		if r.trk.Progress[id].Match < last {
			return
		}
	}
	r.logger.Infof("raft %x was removed from the configuration; stepping down", r.id)
	r.becomeFollower(r.Term, None)
}
