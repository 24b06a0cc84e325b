package raft

import (
	"github.com/basaltkv/basalt/raft/quorum"
	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

type voteResult = quorum.VoteResult

const (
	votePending = quorum.VotePending
	voteLost    = quorum.VoteLost
	voteWon     = quorum.VoteWon
)

func stepLeader(r *raft, m pb.Message) error {
	// Messages that need no progress of the sender.
	switch m.Type {
	case pb.MsgBeat:
		r.bcastHeartbeat()
		return nil
	case pb.MsgCheckQuorum:
		if !r.trk.QuorumActive() {
			r.logger.Warningf("raft %x stepped down to follower since quorum is not active", r.id)
			r.becomeFollower(r.Term, None)
		}
		// Start the next window: only members heard from in it count.
		for id, pr := range r.trk.Progress {
			pr.RecentActive = id == r.id
		}
		return nil
	case pb.MsgProp:
		return r.handlePropose(m)
	case pb.MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.Progress[m.From]
	if pr == nil {
		r.logger.Debugf("raft %x no progress available for %x", r.id, m.From)
		return nil
	}
	switch m.Type {
	case pb.MsgAppResp:
		r.handleAppendResponse(m, pr)
	case pb.MsgHeartbeatResp:
		pr.RecentActive = true
		pr.MsgAppProbesPaused = false
		if pr.Match < r.raftLog.lastIndex() {
			if pr.State == tracker.StateReplicate && pr.Inflights.Full() {
				// The window may be full of MsgApps that were lost without
				// a report, and then no ack would ever free it. An empty
				// MsgApp at Next-1 settles it: acked, it frees the window;
				// rejected, it sends us back to probing from Match.
				r.sendEmptyAppend(m.From, pr)
			} else {
				r.sendAppend(m.From)
			}
		}
		if len(m.Context) > 0 {
			r.recvReadIndexAck(m.From, m.Context)
		}
	case pb.MsgSnapStatus:
		if pr.State != tracker.StateSnapshot {
			return nil
		}
		if m.Reject {
			r.logger.Debugf("raft %x snapshot failed, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
			pr.PendingSnapshot = 0
		} else {
			r.logger.Debugf("raft %x snapshot succeeded, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
		}
		pr.BecomeProbe()
		// Wait for the follower's answer (or the next heartbeat) before
		// probing: the snapshot may still be being applied.
		pr.MsgAppProbesPaused = true
	case pb.MsgUnreachable:
		// Optimistic streaming likely lost messages: probe instead.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.logger.Debugf("raft %x failed to send message to %x because it is unreachable [%s]", r.id, m.From, pr)
	case pb.MsgTransferLeader:
		r.handleTransferLeader(m, pr)
	}
	return nil
}

func (r *raft) handlePropose(m pb.Message) error {
	if len(m.Entries) == 0 {
		return ErrEmptyProposal
	}
	if r.trk.Progress[r.id] == nil {
		// Removed from the configuration while leader.
		return ErrNotMember
	}
	if r.leadTransferee != None {
		r.logger.Debugf("raft %x [term %d] transfer leadership to %x is in progress; dropping proposal", r.id, r.Term, r.leadTransferee)
		return ErrLeaderTransferInProgress
	}
	// pendingConfIndex moves only once the entries are in the log: a
	// refused proposal must not hold up the next conf change.
	pending := r.pendingConfIndex
	for i := range m.Entries {
		if m.Entries[i].Type != pb.EntryConfChange {
			continue
		}
		if pending > r.raftLog.applied {
			r.logger.Infof("raft %x ignoring conf change at index %d: previous change at index %d is not applied yet (applied %d)",
				r.id, r.raftLog.lastIndex()+uint64(i)+1, pending, r.raftLog.applied)
			return ErrConfChangePending
		}
		pending = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(m.Entries...) {
		return ErrUncommittedTooLarge
	}
	r.pendingConfIndex = pending
	r.bcastAppend()
	return nil
}

func (r *raft) handleAppendResponse(m pb.Message, pr *tracker.Progress) {
	pr.RecentActive = true
	if m.Reject {
		r.logger.Debugf("raft %x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d",
			r.id, m.RejectHint, m.LogTerm, m.From, m.Index)
		// The follower told us the last index at which it might match and
		// that entry's term: skip straight past every entry of ours with a
		// later term, which the follower cannot have.
		next := m.RejectHint
		if m.LogTerm > 0 {
			next, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.MaybeDecrTo(m.Index, next) {
			if pr.State == tracker.StateReplicate {
				pr.BecomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	if m.Index > r.raftLog.lastIndex() {
		// An acknowledgement of entries we do not have: ignore it.
		return
	}
	oldPaused := pr.IsPaused()
	if !pr.MaybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The follower caught up past the snapshot; the log can take it
		// from here.
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == tracker.StateReplicate:
		pr.Inflights.FreeLE(m.Index)
	}
	if r.maybeCommit() {
		r.bcastAppend()
	} else if oldPaused {
		r.sendAppend(m.From)
	}
	// Fill the window with whatever else is waiting.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("raft %x sent MsgTimeoutNow to %x after received MsgAppResp", r.id, m.From)
		r.sendTimeoutNow(m.From)
	}
	r.maybeStepDownRemoved()
}

func (r *raft) handleTransferLeader(m pb.Message, pr *tracker.Progress) {
	if pr.IsLearner {
		r.logger.Debugf("raft %x is learner. Ignored transferring leadership", m.From)
		return
	}
	transferee := m.From
	if last := r.leadTransferee; last != None {
		if last == transferee {
			r.logger.Infof("raft %x [term %d] transfer leadership to %x is in progress, ignores request to same node %x", r.id, r.Term, transferee, transferee)
			return
		}
		r.abortLeaderTransfer()
	}
	if transferee == r.id {
		r.logger.Debugf("raft %x is already leader. Ignored transferring leadership to self", r.id)
		return
	}
	r.logger.Infof("raft %x [term %d] starts to transfer leadership to %x", r.id, r.Term, transferee)
	// The transfer must finish within an election timeout.
	r.electionElapsed = 0
	r.leadTransferee = transferee
	if pr.Match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(transferee)
		r.logger.Infof("raft %x sends MsgTimeoutNow to %x immediately as %x already has up-to-date log", r.id, transferee, transferee)
	} else {
		r.sendAppend(transferee)
	}
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.send(pb.Message{To: to, Type: pb.MsgTimeoutNow})
}

// sendAppend sends entries (or an empty probe) to a follower.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends the next MsgApp to a follower, or a snapshot if the
// entries it needs are compacted. With sendIfEmpty false it sends nothing
// when there are no new entries. It reports whether it sent anything.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.Progress[to]
	if pr == nil || pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	var ents []pb.Entry
	var erre error
	if errt == nil {
		ents, erre = r.raftLog.entries(pr.Next, r.maxMsgSize)
		if len(ents) == 0 && !sendIfEmpty && erre == nil {
			return false
		}
	}
	if errt != nil || erre != nil {
		return r.maybeSendSnapshot(to, pr)
	}
	r.send(pb.Message{
		To:      to,
		Type:    pb.MsgApp,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: ents,
		Commit:  r.raftLog.committed,
	})
	last := prevIndex
	if n := len(ents); n > 0 {
		last = ents[n-1].Index
	}
	pr.SentEntries(last, payloadsSize(ents), len(ents))
	return true
}

// sendEmptyAppend sends a MsgApp without entries at pr.Next-1, whatever
// the flow control says; it carries no entries, so it takes no room.
func (r *raft) sendEmptyAppend(to uint64, pr *tracker.Progress) {
	prevTerm, err := r.raftLog.term(pr.Next - 1)
	if err != nil {
		// Compacted, so the follower lacks entries after Match that we no
		// longer have; no ack or rejection will come for the lost
		// MsgApps, and only a snapshot can bring it past them.
		r.maybeSendSnapshot(to, pr)
		return
	}
	r.send(pb.Message{To: to, Type: pb.MsgApp, Index: pr.Next - 1, LogTerm: prevTerm, Commit: r.raftLog.committed})
}

// maybeSendSnapshot sends the snapshot to a follower that needs entries we
// no longer have.
func (r *raft) maybeSendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		r.logger.Debugf("ignore sending snapshot to %x since it is not recently active", to)
		return false
	}
	snapshot, err := r.raftLog.snapshot()
	if err != nil {
		r.logger.Debugf("raft %x failed to send snapshot to %x because snapshot is temporarily unavailable: %v", r.id, to, err)
		return false
	}
	if IsEmptySnap(snapshot) {
		r.logger.Warningf("raft %x: follower %x needs compacted entries but the snapshot is empty", r.id, to)
		return false
	}
	sindex, sterm := snapshot.Metadata.Index, snapshot.Metadata.Term
	r.logger.Debugf("raft %x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%s]",
		r.id, r.raftLog.firstIndex(), r.raftLog.committed, sindex, sterm, to, pr)
	pr.BecomeSnapshot(sindex)
	r.send(pb.Message{To: to, Type: pb.MsgSnap, Snapshot: &snapshot})
	return true
}

// bcastAppend sends new entries (if any) to every follower and learner.
func (r *raft) bcastAppend() {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendAppend(id)
		}
	})
}

// bcastHeartbeat sends the periodic heartbeats. They carry the newest read
// round still unconfirmed, so that a round whose own heartbeats were lost
// is confirmed by later answers instead of waiting for another request.
func (r *raft) bcastHeartbeat() { r.bcastHeartbeatWithCtx(r.reads.pendingCtx()) }

func (r *raft) bcastHeartbeatWithCtx(ctx []byte) {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	})
}

func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	// A follower must not learn a commit index past what it is known to
	// hold: its log beyond Match may differ from ours.
	commit := min(r.trk.Progress[to].Match, r.raftLog.committed)
	r.send(pb.Message{To: to, Type: pb.MsgHeartbeat, Commit: commit, Context: ctx})
}
