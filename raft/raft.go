package raft

import (
	"bytes"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

// StateType is a member's role.
type StateType uint64

const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

func (st StateType) String() string {
	switch st {
	case StateFollower:
		return "StateFollower"
	case StateCandidate:
		return "StateCandidate"
	case StateLeader:
		return "StateLeader"
	case StatePreCandidate:
		return "StatePreCandidate"
	}
	return fmt.Sprintf("StateType(%d)", uint64(st))
}

// campaignType says why a member campaigns.
type campaignType string

const (
	campaignPreElection campaignType = "CampaignPreElection"
	campaignElection    campaignType = "CampaignElection"
	// campaignTransfer: the leader asked us to take over (MsgTimeoutNow);
	// voters grant it even while they believe in a leader.
	campaignTransfer campaignType = "CampaignTransfer"
	// campaignRemoved marks the vote requests of a member that has applied
	// its own removal (see promotable).
	campaignRemoved = "CampaignRemoved"
)

type stepFunc func(r *raft, m pb.Message) error

// raft is the consensus state machine of one member. It is driven only by
// Step and tick, and communicates only through what it leaves in msgs,
// readStates and the log.
type raft struct {
	id uint64

	Term uint64
	Vote uint64

	raftLog *raftLog
	trk     tracker.Tracker

	state     StateType
	isLearner bool
	lead      uint64
	// leadTransferee is the member leadership is being handed to.
	leadTransferee uint64
	// pendingConfIndex: no new conf change may be proposed until the log is
	// applied past this index (one change at a time).
	pendingConfIndex uint64
	// uncommittedSize is the payload proposed by this leader and not yet
	// committed.
	uncommittedSize uint64

	msgs       []pb.Message
	readStates []ReadState
	reads      readIndexRounds

	electionElapsed  int
	heartbeatElapsed int
	// randomizedElectionTimeout is drawn in [electionTimeout, 2*electionTimeout).
	randomizedElectionTimeout int
	electionTimeout           int
	heartbeatTimeout          int

	checkQuorum               bool
	preVote                   bool
	disableProposalForwarding bool
	maxMsgSize                uint64
	maxUncommittedSize        uint64

	tick func()
	step stepFunc

	rand   Rand
	logger Logger
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	raftlog, err := newLog(c.Storage, c.MaxCommittedSizePerReady)
	if err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: read initial state: %w", err)
	}
	r := &raft{
		id:                        c.ID,
		lead:                      None,
		raftLog:                   raftlog,
		maxMsgSize:                c.MaxSizePerMsg,
		maxUncommittedSize:        c.MaxUncommittedEntriesSize,
		trk:                       tracker.MakeTracker(c.MaxInflightMsgs, c.MaxInflightBytes),
		electionTimeout:           c.ElectionTick,
		heartbeatTimeout:          c.HeartbeatTick,
		checkQuorum:               c.CheckQuorum,
		preVote:                   c.PreVote,
		disableProposalForwarding: c.DisableProposalForwarding,
		rand:                      c.Rand,
		logger:                    c.Logger,
	}
	if err := r.restoreConfState(cs); err != nil {
		return nil, err
	}
	if !IsEmptyHardState(hs) {
		if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
			return nil, fmt.Errorf("raft: persisted commit %d is out of range [%d, %d]", hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
		}
		r.raftLog.committed = hs.Commit
		r.Term = hs.Term
		r.Vote = hs.Vote
	}
	if c.Applied > 0 {
		if c.Applied > r.raftLog.committed {
			return nil, fmt.Errorf("raft: applied %d is past committed %d", c.Applied, r.raftLog.committed)
		}
		if c.Applied < r.raftLog.applied {
			// appliedTo would panic: a bad restart is the caller's error.
			return nil, fmt.Errorf("raft: applied %d is below the snapshot index %d", c.Applied, r.raftLog.applied)
		}
		r.raftLog.appliedTo(c.Applied)
	}
	r.becomeFollower(r.Term, None)
	r.logger.Infof("raft %x: newRaft [peers: %v, term: %d, commit: %d, applied: %d, lastindex: %d, lastterm: %d]",
		r.id, r.trk.Voters, r.Term, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.raftLog.lastTerm())
	return r, nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

func (r *raft) hardState() pb.HardState {
	return pb.HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
}

// send queues m, filling in From and, for most types, Term.
func (r *raft) send(m pb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case pb.MsgVote, pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp:
		// Vote messages carry the term of the election, which for a
		// pre-vote is not ours; the caller sets it.
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: term should be set when sending %s", m.Type))
		}
	case pb.MsgProp, pb.MsgReadIndex:
		// Forwarded requests are local to the cluster, not to a term.
	default:
		m.Term = r.Term
	}
	r.msgs = append(r.msgs, m)
}

// takeMessages returns and clears the outgoing messages, after starting a
// confirmation round for any read requests that queued meanwhile: all
// reads that arrive between two Readys share one heartbeat round.
//
// A MsgApp may leave before the entries of its Ready are persisted
// (CanSendBeforePersist), so its commit index is capped at the entries
// persisted before this Ready. A leader counts its own entries when it
// appends them: a lone voter commits an entry in the step that appends
// it, and a follower told so could apply an entry that a crash of the
// leader then takes back. A leader has no unstable snapshot, so every
// entry before the unstable ones is persisted.
func (r *raft) takeMessages() []pb.Message {
	r.flushReadIndex()
	msgs := r.msgs
	r.msgs = nil
	persisted := r.raftLog.unstable.offset - 1
	for i := range msgs {
		if msgs[i].Type == pb.MsgApp && msgs[i].Commit > persisted {
			msgs[i].Commit = persisted
		}
	}
	return msgs
}

func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.ResetVotes()
	last := r.raftLog.lastIndex()
	for id, pr := range r.trk.Progress {
		*pr = tracker.Progress{
			Match:     0,
			Next:      last + 1,
			Inflights: pr.Inflights,
			IsLearner: pr.IsLearner,
		}
		pr.Inflights.Reset()
		if id == r.id {
			pr.Match = last
		}
	}
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	r.reads = readIndexRounds{}
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

// promotable reports whether this member may campaign: it is not waiting
// for a snapshot to be persisted, and it is a voter, or it has been
// removed from a membership of two voters.
//
// The removed member of two campaigns so that the removal can always
// finish. The survivor may not know yet that the change committed: it
// still counts on the removed member's vote, and a vote goes only to a log
// at least as up to date, which the survivor's need not be (the removed
// leader may have taken proposals past the change). With three voters or
// more the survivors are a quorum of the old membership and elect one of
// themselves. The removed member counts votes in its own membership, the
// survivor alone, without its own; elected, it leads only until the
// survivor holds its log (maybeStepDownRemoved). That is as safe as any
// election: its voter is a quorum of both memberships. A survivor that
// has applied the removal ignores it (ignoreVoteFromNonMember).
func (r *raft) promotable() bool {
	if r.raftLog.unstable.snapshot != nil {
		return false
	}
	pr := r.trk.Progress[r.id]
	if pr == nil {
		return len(r.trk.Voters) == 1
	}
	return !pr.IsLearner
}

// ignoreVoteFromNonMember reports whether m is a vote request from a
// member that knows it was removed (see promotable) and that we have
// removed too: the removal is done, and its campaign must not raise our
// term. A member that does not know yet that it was removed campaigns as
// any voter does, and its term reaches us as any other.
func (r *raft) ignoreVoteFromNonMember(m pb.Message) bool {
	if m.Type != pb.MsgVote && m.Type != pb.MsgPreVote {
		return false
	}
	return string(m.Context) == campaignRemoved && r.trk.Progress[m.From] == nil
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Infof("raft %x became follower at term %d", r.id, r.Term)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.logger.Infof("raft %x became candidate at term %d", r.id, r.Term)
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> pre-candidate]")
	}
	// A pre-candidate keeps its term and vote: it only asks whether it
	// could win.
	r.step = stepCandidate
	r.trk.ResetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Infof("raft %x became pre-candidate at term %d", r.id, r.Term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	if self := r.trk.Progress[r.id]; self != nil {
		self.BecomeReplicate()
		self.RecentActive = true
	}
	// Entries already in the log may hold a conf change we cannot see yet;
	// hold new ones until everything up to here is applied.
	r.pendingConfIndex = r.raftLog.lastIndex()
	// An empty entry of our term: once it commits, everything before it is
	// committed too (§5.4.2), and reads may be served (§8).
	if !r.appendEntry(pb.Entry{Data: nil}) {
		panic("raft: empty entry was dropped")
	}
	r.logger.Infof("raft %x became leader at term %d", r.id, r.Term)
}

func (r *raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		if err := r.Step(pb.Message{From: r.id, Type: pb.MsgHup}); err != nil {
			r.logger.Debugf("raft %x: error campaigning on election timeout: %v", r.id, err)
		}
	}
}

func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(pb.Message{From: r.id, Type: pb.MsgCheckQuorum})
		}
		// A transfer that has not finished within an election timeout is
		// abandoned so that proposals flow again.
		if r.state == StateLeader && r.leadTransferee != None {
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(pb.Message{From: r.id, Type: pb.MsgBeat})
	}
}

// Step is the one entry point for messages, local or from peers.
func (r *raft) Step(m pb.Message) error {
	if !IsLocalMsg(m.Type) {
		if err := validateMessage(m); err != nil {
			r.logger.Warningf("raft %x: ignoring malformed %s from %x: %v", r.id, m.Type, m.From, err)
			return nil
		}
	}
	if r.ignoreVoteFromNonMember(m) {
		r.logger.Infof("raft %x [term: %d] ignored %s from %x [term: %d]: not a member",
			r.id, r.Term, m.Type, m.From, m.Term)
		return nil
	}
	switch {
	case m.Term == 0:
		// Local message, or a forwarded proposal or read request.
	case m.Term > r.Term:
		if m.Type == pb.MsgVote || m.Type == pb.MsgPreVote {
			force := bytes.Equal(m.Context, []byte(campaignTransfer))
			inLease := r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
			if !force && inLease {
				// We heard from a leader within the minimum election timeout:
				// do not let a disruptive member bump our term (§6).
				r.logger.Infof("raft %x [term: %d] ignored %s from %x [term: %d]: lease is not expired",
					r.id, r.Term, m.Type, m.From, m.Term)
				return nil
			}
		}
		switch {
		case m.Type == pb.MsgPreVote:
			// A pre-vote never changes our term.
		case m.Type == pb.MsgPreVoteResp && !m.Reject:
			// The term in a granted pre-vote is the one we will campaign
			// in; we bump it when the pre-vote is won.
		default:
			r.logger.Infof("raft %x [term: %d] received a %s message with higher term from %x [term: %d]",
				r.id, r.Term, m.Type, m.From, m.Term)
			if m.Type == pb.MsgApp || m.Type == pb.MsgHeartbeat || m.Type == pb.MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.Term:
		switch {
		case (r.checkQuorum || r.preVote) && (m.Type == pb.MsgHeartbeat || m.Type == pb.MsgApp):
			// A stale leader, perhaps cut off and now back. Tell it our
			// term so it steps down; without this, with CheckQuorum or
			// PreVote it could never learn it and never rejoin.
			r.send(pb.Message{To: m.From, Type: pb.MsgAppResp})
		case m.Type == pb.MsgPreVote:
			r.send(pb.Message{To: m.From, Term: r.Term, Type: pb.MsgPreVoteResp, Reject: true})
		default:
			r.logger.Debugf("raft %x [term: %d] ignored a %s message with lower term from %x [term: %d]",
				r.id, r.Term, m.Type, m.From, m.Term)
		}
		return nil
	}

	switch m.Type {
	case pb.MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case pb.MsgVote, pb.MsgPreVote:
		r.handleVoteRequest(m)
	default:
		return r.step(r, m)
	}
	return nil
}

// handleVoteRequest grants a vote to a candidate whose log is at least as
// up to date as ours (§5.4.1), at most one per term (§5.2).
func (r *raft) handleVoteRequest(m pb.Message) {
	canVote := r.Vote == m.From ||
		(r.Vote == None && r.lead == None) ||
		(m.Type == pb.MsgPreVote && m.Term > r.Term)
	if canVote && r.raftLog.isUpToDate(m.Index, m.LogTerm) {
		r.logger.Infof("raft %x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] at term %d",
			r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
		// The response carries the term of the request so the candidate
		// counts it; for a pre-vote that is a term we have not reached.
		r.send(pb.Message{To: m.From, Term: m.Term, Type: voteRespMsgType(m.Type)})
		if m.Type == pb.MsgVote {
			r.electionElapsed = 0
			r.Vote = m.From
		}
		return
	}
	r.logger.Infof("raft %x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d",
		r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
	if r.Term == 0 {
		// Only a pre-vote reaches here at term 0 (a vote raises our term
		// first). A member that has never seen a term has none to reject
		// in: term 0 would read as a local message, and the pre-vote's
		// term would make the pre-candidate raise its own. Stay silent;
		// the pre-candidate times out.
		return
	}
	r.send(pb.Message{To: m.From, Term: r.Term, Type: voteRespMsgType(m.Type), Reject: true})
}

func (r *raft) hup(t campaignType) {
	if r.state == StateLeader {
		r.logger.Debugf("raft %x ignoring MsgHup because already leader", r.id)
		return
	}
	if !r.promotable() {
		r.logger.Warningf("raft %x is unpromotable and can not campaign", r.id)
		return
	}
	if r.Term == ^uint64(0) {
		// A forged message from the network can push our term to the top;
		// a campaign would wrap it to 0.
		r.logger.Warningf("raft %x cannot campaign at term %d: no higher term exists", r.id, r.Term)
		return
	}
	if r.hasUnappliedConfChanges() {
		// The membership we would count votes in is about to change.
		r.logger.Warningf("raft %x cannot campaign at term %d since there are still pending configuration changes to apply", r.id, r.Term)
		return
	}
	r.logger.Infof("raft %x is starting a new election at term %d", r.id, r.Term)
	r.campaign(t)
}

func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	lo, hi := r.raftLog.applied+1, r.raftLog.committed+1
	ents, err := r.raftLog.slice(lo, hi, noLimit)
	if err != nil {
		r.logger.Warningf("raft %x: reading unapplied entries [%d,%d): %v", r.id, lo, hi, err)
		return true
	}
	for i := range ents {
		if ents[i].Type == pb.EntryConfChange {
			return true
		}
	}
	return false
}

func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg pb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = pb.MsgPreVote
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = pb.MsgVote
		term = r.Term
	}
	if _, _, res := r.poll(r.id, voteRespMsgType(voteMsg), true); res == voteWon {
		// A single voter wins at once.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	for _, id := range r.trk.VoterIDs() {
		if id == r.id {
			continue
		}
		var ctx []byte
		switch {
		case t == campaignTransfer:
			ctx = []byte(t)
		case r.trk.Progress[r.id] == nil:
			ctx = []byte(campaignRemoved)
		}
		r.send(pb.Message{To: id, Term: term, Type: voteMsg, Index: r.raftLog.lastIndex(), LogTerm: r.raftLog.lastTerm(), Context: ctx})
	}
}

func (r *raft) poll(id uint64, t pb.MessageType, v bool) (granted, rejected int, result voteResult) {
	if v {
		r.logger.Infof("raft %x received %s from %x at term %d", r.id, t, id, r.Term)
	} else {
		r.logger.Infof("raft %x received %s rejection from %x at term %d", r.id, t, id, r.Term)
	}
	r.trk.RecordVote(id, v)
	return r.trk.TallyVotes()
}

// appendEntry stamps es with our term and the next indexes and appends
// them; it reports false if the uncommitted-size limit refuses them.
func (r *raft) appendEntry(es ...pb.Entry) bool {
	li := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	if !r.increaseUncommittedSize(es) {
		r.logger.Warningf("raft %x appending new entries to log would exceed uncommitted entry size limit; dropping proposal", r.id)
		return false
	}
	li = r.raftLog.append(es...)
	// The leader counts its own entries at once; they are persisted before
	// anything that depends on the commit they allow leaves this member.
	if pr := r.trk.Progress[r.id]; pr != nil {
		pr.MaybeUpdate(li)
	}
	r.maybeCommit()
	return true
}

// maybeCommit advances commit to what a quorum holds, if that entry is of
// the current term; it reports whether commit moved.
func (r *raft) maybeCommit() bool {
	return r.raftLog.maybeCommit(r.trk.Committed(), r.Term)
}

func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

func (r *raft) increaseUncommittedSize(ents []pb.Entry) bool {
	s := payloadsSize(ents)
	if r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		// An empty log always accepts one proposal, however large, so
		// that a big entry is never refused forever.
		return false
	}
	r.uncommittedSize += s
	return true
}

func (r *raft) reduceUncommittedSize(s uint64) {
	if s > r.uncommittedSize {
		// Entries of a previous leader's term may be applied here too.
		r.uncommittedSize = 0
	} else {
		r.uncommittedSize -= s
	}
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }
