package raft

import (
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// stepCandidate serves both candidates and pre-candidates.
func stepCandidate(r *raft, m pb.Message) error {
	myVoteRespType := pb.MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteRespType = pb.MsgPreVoteResp
	}
	switch m.Type {
	case pb.MsgProp:
		r.logger.Infof("raft %x no leader at term %d; dropping proposal", r.id, r.Term)
		return ErrNoLeader
	case pb.MsgReadIndex:
		return ErrNoLeader
	case pb.MsgApp:
		r.becomeFollower(m.Term, m.From) // always m.Term == r.Term
		r.handleAppendEntries(m)
	case pb.MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case pb.MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteRespType:
		gr, rj, res := r.poll(m.From, m.Type, !m.Reject)
		r.logger.Infof("raft %x has received %d %s votes and %d vote rejections", r.id, gr, m.Type, rj)
		switch res {
		case voteWon:
			if r.state == StatePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case voteLost:
			// A rejected pre-vote does not raise our term; a rejected vote
			// came at our term already.
			r.becomeFollower(r.Term, None)
		}
	case pb.MsgTimeoutNow:
		r.logger.Debugf("raft %x [term %d state %v] ignored MsgTimeoutNow from %x", r.id, r.Term, r.state, m.From)
	}
	return nil
}

func stepFollower(r *raft, m pb.Message) error {
	switch m.Type {
	case pb.MsgProp:
		if r.lead == None {
			r.logger.Infof("raft %x no leader at term %d; dropping proposal", r.id, r.Term)
			return ErrNoLeader
		}
		if r.disableProposalForwarding {
			r.logger.Infof("raft %x not forwarding to leader %x at term %d; dropping proposal", r.id, r.lead, r.Term)
			return ErrProposalForwardingDisabled
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case pb.MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case pb.MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case pb.MsgTransferLeader:
		if r.lead == None {
			r.logger.Infof("raft %x no leader at term %d; dropping leader transfer msg", r.id, r.Term)
			return ErrNoLeader
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgTimeoutNow:
		r.logger.Infof("raft %x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership", r.id, r.Term, m.From)
		// The leader wants us to lead now: skip the pre-vote, which the
		// other followers would refuse while they hear from the leader.
		r.hup(campaignTransfer)
	case pb.MsgReadIndex:
		if r.lead == None {
			r.logger.Infof("raft %x no leader at term %d; dropping index reading msg", r.id, r.Term)
			return ErrNoLeader
		}
		m.To = r.lead
		r.send(m)
	case pb.MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Entries[0].Data})
	}
	return nil
}

func (r *raft) handleAppendEntries(m pb.Message) {
	if m.Index < r.raftLog.committed {
		// Everything up to commit is settled; tell the leader where we are.
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if lastNew, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: lastNew})
		return
	}
	// The consistency check failed. Hint the leader at the largest index
	// at or below m.Index whose term is at most m.LogTerm: every entry of
	// ours after it cannot match, so the leader can skip them all.
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debugf("raft %x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x",
		r.id, r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(m.Index)), m.Index, m.LogTerm, m.Index, m.From)
	r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m pb.Message) {
	// The leader never sends a commit past what we hold; clamp anyway so a
	// bad message cannot make us commit entries we do not have.
	r.raftLog.commitTo(min(m.Commit, r.raftLog.lastIndex()))
	r.send(pb.Message{To: m.From, Type: pb.MsgHeartbeatResp, Context: m.Context})
}

func (r *raft) handleSnapshot(m pb.Message) {
	s := *m.Snapshot
	sindex, sterm := s.Metadata.Index, s.Metadata.Term
	if r.restore(s) {
		r.logger.Infof("raft %x [commit: %d] restored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
		r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.lastIndex()})
		return
	}
	r.logger.Infof("raft %x [commit: %d] ignored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
	r.send(pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.committed})
}

// restore replaces our state with a snapshot; it reports false if the
// snapshot is not newer than what we have.
func (r *raft) restore(s pb.Snapshot) bool {
	if s.Metadata.Index <= r.raftLog.committed {
		return false
	}
	if r.raftLog.applying > r.raftLog.applied {
		// The application is applying entries we handed out, conf changes
		// among them maybe, which would then change the snapshot's
		// membership. The leader sends the snapshot again.
		r.logger.Infof("raft %x [applied: %d, applying: %d] ignored snapshot [index: %d] while applying",
			r.id, r.raftLog.applied, r.raftLog.applying, s.Metadata.Index)
		return false
	}
	if r.state != StateFollower {
		// Only a follower may take a snapshot; should never happen since a
		// MsgSnap makes us follower first.
		r.logger.Warningf("raft %x attempted to restore snapshot as %s; should never happen", r.id, r.state)
		r.becomeFollower(r.Term+1, None)
		return false
	}
	found := false
	cs := s.Metadata.ConfState
	for _, set := range [][]uint64{cs.Voters, cs.Learners} {
		for _, id := range set {
			if id == r.id {
				found = true
			}
		}
	}
	if !found {
		r.logger.Warningf("raft %x attempted to restore snapshot but it is not in the ConfState %v; should never happen", r.id, cs)
		return false
	}
	if r.raftLog.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		// We have the entries already: just learn that they are committed.
		r.logger.Infof("raft %x [commit: %d, lastindex: %d, lastterm: %d] fast-forwarded commit to snapshot [index: %d, term: %d]",
			r.id, r.raftLog.committed, r.raftLog.lastIndex(), r.raftLog.lastTerm(), s.Metadata.Index, s.Metadata.Term)
		r.raftLog.commitTo(s.Metadata.Index)
		return false
	}
	r.raftLog.restore(s)
	if err := r.restoreConfState(cs); err != nil {
		// The ConfState was checked above; nothing else can fail.
		panic(err)
	}
	return true
}
