package raft

// Behaviour beyond the paper's core rules: PreVote, CheckQuorum, stale
// leaders, fast backtracking, proposal errors and forwarding, restart,
// bootstrap and Status. Flow control, ReadIndex, leadership transfer,
// membership and snapshots have files of their own.

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// A pre-candidate asks whether it could win the next term without
// entering it: its term and vote, the hard state it persists, stay put.
func TestPreVoteDoesNotChangeTermOrVote(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2, 3}, 1, 1)
	_ = s.SetHardState(pb.HardState{Term: 5, Vote: 2})
	r := newTestRaft(t, 1, s, withPreVote)
	before := r.hardState()
	if err := r.Step(pb.Message{Type: pb.MsgHup}); err != nil {
		t.Fatal(err)
	}
	if r.state != StatePreCandidate {
		t.Fatalf("state %s, want %s", r.state, StatePreCandidate)
	}
	if r.hardState() != before {
		t.Errorf("hard state %+v, want unchanged %+v", r.hardState(), before)
	}
	var got []string
	for _, m := range readMessages(r) {
		got = append(got, DescribeMessage(m))
	}
	want := []string{"1->2 MsgPreVote Term:6 Log:1/2", "1->3 MsgPreVote Term:6 Log:1/2"}
	if !slices.Equal(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}

	// Losing the pre-vote leaves everything as it was.
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgPreVoteResp, Term: 5, Reject: true})
	_ = r.Step(pb.Message{From: 3, To: 1, Type: pb.MsgPreVoteResp, Term: 5, Reject: true})
	if r.state != StateFollower || r.hardState() != before {
		t.Errorf("after losing: %s %+v, want follower %+v", r.state, r.hardState(), before)
	}
}

// Winning the pre-vote starts the real election in the next term.
func TestPreVoteWonStartsElection(t *testing.T) {
	r := newTestRaft(t, 1, newTestLogStorage([]uint64{1, 2, 3}, 1), withPreVote)
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	readMessages(r)
	_ = r.Step(pb.Message{From: 3, To: 1, Type: pb.MsgPreVoteResp, Term: 2})
	if r.state != StateCandidate || r.Term != 2 || r.Vote != 1 {
		t.Fatalf("%s term %d vote %d, want candidate at 2 voting for itself", r.state, r.Term, r.Vote)
	}
	votes := msgsOfType(readMessages(r), pb.MsgVote)
	if len(votes) != 2 || votes[0].Term != 2 || votes[1].Term != 2 {
		t.Errorf("vote requests %v, want two at term 2", votes)
	}
}

// A voter answers a pre-vote in the term asked about, without moving to
// it or spending its vote.
func TestPreVoteGrantDoesNotChangeVoter(t *testing.T) {
	for _, tt := range []struct {
		name       string
		logTerm    uint64
		wantReject bool
	}{
		{"up to date", 1, false},
		{"behind", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestLogStorage([]uint64{1, 2, 3}, 1)
			_ = s.SetHardState(pb.HardState{Term: 5})
			r := newTestRaft(t, 1, s, withPreVote)
			_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgPreVote, Term: 6, Index: 1, LogTerm: tt.logTerm})
			msgs := readMessages(r)
			wantTerm := uint64(6)
			if tt.wantReject {
				wantTerm = 5 // a rejection tells our own term
			}
			if len(msgs) != 1 || msgs[0].Type != pb.MsgPreVoteResp || msgs[0].Reject != tt.wantReject || msgs[0].Term != wantTerm {
				t.Errorf("answer %v, want MsgPreVoteResp reject=%t term %d", msgs, tt.wantReject, wantTerm)
			}
			if r.Term != 5 || r.Vote != None || r.state != StateFollower {
				t.Errorf("voter moved to term %d vote %d %s", r.Term, r.Vote, r.state)
			}
		})
	}
}

// The point of PreVote: a member cut off from the cluster keeps
// campaigning, but in pre-votes that nobody answers, so its term does not
// grow; when it comes back, its log is behind, it cannot win a pre-vote,
// and the leader carries on undisturbed. Without PreVote the same member
// comes back with a higher term and unseats the leader.
func TestPreVoteRejoiningMemberDoesNotDisrupt(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run(fmt.Sprintf("prevote=%t", preVote), func(t *testing.T) {
			nw := newTestNetwork(t, 3, func(c *Config) { c.PreVote = preVote })
			nw.campaign(1)
			term := nw.raft(1).Term
			nw.isolate(3)
			for _, d := range []string{"a", "b"} {
				if err := nw.propose(1, d); err != nil {
					t.Fatal(err)
				}
			}
			nw.tick(50)
			if preVote && nw.raft(3).Term != term {
				t.Fatalf("isolated member reached term %d, want %d", nw.raft(3).Term, term)
			}
			nw.recover()
			nw.tick(30)
			disrupted := nw.leader() != 1 || nw.raft(1).Term != term
			if disrupted == preVote {
				t.Errorf("leader %d at term %d (was 1 at %d): disrupted=%t, want %t",
					nw.leader(), nw.raft(nw.leader()).Term, term, disrupted, !preVote)
			}
			if preVote {
				if got := nw.appliedData(3); !slices.Equal(got, []string{"a", "b"}) {
					t.Errorf("rejoined member applied %v, want [a b]", got)
				}
			}
		})
	}
}

// With PreVote and CheckQuorum, even a member whose log is as up to date
// as everyone's cannot disrupt: the others heard from the leader within
// the election timeout and ignore its pre-votes.
func TestPreVoteCheckQuorumRejoiningUpToDateMember(t *testing.T) {
	nw := newTestNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign(1)
	term := nw.raft(1).Term
	nw.isolate(3)
	nw.tick(50)
	if r := nw.raft(3); r.Term != term || r.state != StatePreCandidate {
		t.Fatalf("isolated member is %s at term %d, want pre-candidate at %d", r.state, r.Term, term)
	}
	nw.recover()
	nw.tick(30)
	if nw.leader() != 1 || nw.raft(1).Term != term || nw.raft(3).lead != 1 {
		t.Errorf("leader %d at term %d, 3 follows %d; want 1 at %d followed by 3", nw.leader(), nw.raft(1).Term, nw.raft(3).lead, term)
	}
}

// CheckQuorum: a leader that has not heard from a quorum within an
// election timeout steps down, so that a partitioned leader stops
// accepting proposals. The check runs once per election timeout, over
// what was heard during it.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	const et = 10
	nw := newTestNetwork(t, 3, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(1)
	for i := 0; i < et-1; i++ {
		nw.nodes[1].Tick()
		nw.stabilize()
	}
	if nw.raft(1).state != StateLeader {
		t.Fatalf("stepped down within %d ticks of losing contact", et-1)
	}
	for i := 0; i < et+1; i++ {
		nw.nodes[1].Tick()
		nw.stabilize()
	}
	if r := nw.raft(1); r.state != StateFollower || r.lead != None {
		t.Fatalf("isolated leader is %s (lead %d) after two election timeouts, want follower", r.state, r.lead)
	}
	if err := nw.nodes[1].Propose([]byte("x")); !errors.Is(err, ErrNoLeader) {
		t.Errorf("proposal to the deposed leader: %v, want %v", err, ErrNoLeader)
	}
}

// A leader in touch with a quorum stays, however long, even with a
// member unreachable.
func TestCheckQuorumLeaderStaysWithQuorum(t *testing.T) {
	nw := newTestNetwork(t, 3, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(3)
	nw.tick(100)
	if nw.leader() != 1 || nw.raft(1).Term != 1 {
		t.Errorf("leader %d at term %d, want 1 at 1", nw.leader(), nw.raft(nw.leader()).Term)
	}
}

// CheckQuorum's lease: a member that heard from a leader within the
// election timeout ignores vote requests, so a member that comes back from
// a partition with a high term cannot force a new election by asking for
// votes. A request from a transfer (MsgTimeoutNow) bypasses the lease.
func TestCheckQuorumLeaseIgnoresVotes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		typ         pb.MessageType
		ctx         []byte
		leaseExpiry bool
		wantGrant   bool
	}{
		{"vote in lease", pb.MsgVote, nil, false, false},
		{"pre-vote in lease", pb.MsgPreVote, nil, false, false},
		{"transfer vote in lease", pb.MsgVote, []byte(campaignTransfer), false, true},
		{"vote after lease", pb.MsgVote, nil, true, true},
		{"pre-vote after lease", pb.MsgPreVote, nil, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, newTestLogStorage([]uint64{1, 2, 3}, 1), withCheckQuorum, withPreVote)
			_ = r.Step(pb.Message{From: 1, To: 2, Type: pb.MsgHeartbeat, Term: 1})
			readMessages(r)
			if tt.leaseExpiry {
				// No word from the leader for an election timeout.
				r.electionElapsed = r.electionTimeout
			}
			_ = r.Step(pb.Message{From: 3, To: 2, Type: tt.typ, Term: 2, Index: 1, LogTerm: 1, Context: tt.ctx})
			msgs := readMessages(r)
			granted := len(msgs) == 1 && !msgs[0].Reject
			if granted != tt.wantGrant || (!tt.wantGrant && len(msgs) != 0) {
				t.Errorf("answers %v, want granted=%t", msgs, tt.wantGrant)
			}
			wantTerm, wantLead := uint64(1), uint64(1)
			if tt.wantGrant && tt.typ == pb.MsgVote {
				wantTerm, wantLead = 2, None
			}
			if r.Term != wantTerm || r.lead != wantLead {
				t.Errorf("term %d lead %d, want %d %d", r.Term, r.lead, wantTerm, wantLead)
			}
		})
	}
}

// A member that campaigned alone up to a high term (without PreVote) is
// ignored while the others hold a lease, but not forever: the leader's
// messages reach it, its answer carries its term, the leader steps down,
// and the cluster elects a leader at a term past it.
func TestCheckQuorumFreesStuckCandidate(t *testing.T) {
	nw := newTestNetwork(t, 3, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(3)
	nw.tick(60)
	stuck := nw.raft(3).Term
	if stuck <= 2 || nw.raft(3).state != StateCandidate {
		t.Fatalf("isolated member is %s at term %d, want a candidate past term 2", nw.raft(3).state, stuck)
	}
	nw.recover()
	// Its next vote request is ignored by members in lease.
	for nw.raft(3).Term == stuck {
		nw.nodes[3].Tick()
		nw.handleReady(1)
		nw.handleReady(2)
		for _, m := range nw.handleReady(3) {
			nw.deliver(m)
		}
	}
	if nw.raft(1).Term != 1 || nw.raft(2).Term != 1 || nw.leader() != 1 {
		t.Fatalf("vote requests in lease moved terms: 1 at %d, 2 at %d", nw.raft(1).Term, nw.raft(2).Term)
	}
	nw.tick(40)
	lead := nw.leader()
	if lead == None {
		t.Fatal("no leader after the stuck candidate rejoined")
	}
	for id := range nw.nodes {
		if r := nw.raft(id); r.Term != nw.raft(lead).Term || r.lead != lead {
			t.Errorf("member %d at term %d follows %d, leader %d is at %d", id, r.Term, r.lead, lead, nw.raft(lead).Term)
		}
	}
	if nw.raft(lead).Term <= stuck {
		t.Errorf("new leader's term %d, want past %d", nw.raft(lead).Term, stuck)
	}
}

// A leader cut off while the others elect a new one still believes it
// leads. When it comes back, its messages are of an old term: the others
// answer with their term (CheckQuorum and PreVote need this, since the
// stale leader gets no vote request that would tell it), it steps down,
// and what it accepted meanwhile is discarded.
func TestStaleLeaderStepsDown(t *testing.T) {
	for _, opt := range []struct {
		name string
		o    func(*Config)
	}{{"prevote", withPreVote}, {"checkquorum", withCheckQuorum}} {
		t.Run(opt.name, func(t *testing.T) {
			nw := newTestNetwork(t, 3, opt.o)
			nw.campaign(1)
			nw.isolate(1)
			if err := nw.propose(1, "stale"); err != nil {
				t.Fatal(err)
			}
			// Let 2 and 3 elect 2, without 1 stepping down on its own.
			nw.nodes[2].raft.electionElapsed = nw.nodes[2].raft.electionTimeout
			nw.nodes[3].raft.electionElapsed = nw.nodes[3].raft.electionTimeout
			nw.campaign(2)
			mustState(t, nw, 2, StateLeader, 2)
			if nw.raft(1).state != StateLeader || nw.raft(1).Term != 1 {
				t.Fatalf("setup: 1 is %s at %d", nw.raft(1).state, nw.raft(1).Term)
			}
			if err := nw.propose(2, "fresh"); err != nil {
				t.Fatal(err)
			}
			nw.recover()
			var told bool
			nw.intercept = func(m pb.Message) bool {
				if m.To == 1 && m.Type == pb.MsgAppResp && m.Term == 2 {
					told = true
				}
				return true
			}
			nw.nodes[1].Tick() // a heartbeat of term 1
			nw.stabilize()
			if !told {
				t.Error("nobody answered the stale leader with the new term")
			}
			if r := nw.raft(1); r.state != StateFollower || r.Term != 2 {
				t.Fatalf("stale leader is %s at term %d, want follower at 2", r.state, r.Term)
			}
			nw.intercept = nil
			nw.tick(3)
			for id := range nw.nodes {
				if got := nw.appliedData(id); !slices.Equal(got, []string{"fresh"}) {
					t.Errorf("member %d applied %v, want [fresh]", id, got)
				}
			}
		})
	}
}

// Fast backtracking (§5.3, "the protocol can be optimized"): a follower
// that rejects a MsgApp hints at the last entry of its log that might
// match, and the leader skips every entry of a term the follower cannot
// have. The rounds needed to find the match grow with the number of terms
// in the divergent part, not with its length.
func TestFastBacktracking(t *testing.T) {
	repeat := func(term uint64, n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = term
		}
		return out
	}
	concat := func(parts ...[]uint64) []uint64 { return slices.Concat(parts...) }
	for _, tt := range []struct {
		name                 string
		leader, follower     []uint64
		firstHint, firstTerm uint64 // the first rejection's hint
		maxRejections        int
	}{
		{
			name:      "long tail of one old term",
			leader:    concat(repeat(1, 5), repeat(3, 50)),
			follower:  concat(repeat(1, 5), repeat(2, 100)),
			firstHint: 55, firstTerm: 2,
			maxRejections: 1,
		},
		{
			name:      "follower far behind",
			leader:    concat(repeat(1, 5), repeat(3, 100)),
			follower:  repeat(1, 5),
			firstHint: 5, firstTerm: 1,
			maxRejections: 1,
		},
		{
			name:      "tail of several newer terms",
			leader:    concat(repeat(1, 5), repeat(2, 10), repeat(5, 40)),
			follower:  concat(repeat(1, 5), repeat(2, 10), repeat(3, 30), repeat(4, 30)),
			firstHint: 55, firstTerm: 4,
			maxRejections: 1,
		},
		{
			name:      "interleaved terms",
			leader:    concat(repeat(1, 1), repeat(2, 10), repeat(4, 10), repeat(6, 10), repeat(8, 10)),
			follower:  concat(repeat(1, 1), repeat(3, 10), repeat(5, 10), repeat(7, 10)),
			firstHint: 31, firstTerm: 7,
			maxRejections: 4, // one per term of the follower's tail, and one more
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			voters := []uint64{1, 2, 3}
			term := max(slices.Max(tt.leader), slices.Max(tt.follower))
			storages := map[uint64]*MemoryStorage{
				1: newTestLogStorage(voters, tt.leader...),
				2: newTestLogStorage(voters, tt.follower...),
				3: newTestLogStorage(voters, tt.leader...),
			}
			for _, s := range storages {
				_ = s.SetHardState(pb.HardState{Term: term})
			}
			nw := newTestNetworkFromStorages(t, storages)
			var rejections []pb.Message
			var appends int
			nw.intercept = func(m pb.Message) bool {
				switch {
				case m.From == 1 && m.To == 2 && m.Type == pb.MsgApp:
					appends++
				case m.From == 2 && m.Type == pb.MsgAppResp && m.Reject:
					rejections = append(rejections, m)
				}
				return true
			}
			nw.campaign(1)
			mustState(t, nw, 1, StateLeader, term+1)
			if len(rejections) == 0 {
				t.Fatal("no rejection at all")
			}
			if h := rejections[0]; h.RejectHint != tt.firstHint || h.LogTerm != tt.firstTerm {
				t.Errorf("first rejection hints %d/%d, want %d/%d", h.RejectHint, h.LogTerm, tt.firstHint, tt.firstTerm)
			}
			if len(rejections) > tt.maxRejections {
				t.Errorf("%d rejections, want at most %d (%d MsgApps)", len(rejections), tt.maxRejections, appends)
			}
			want := entryIDs(nw.raft(1).raftLog.allEntries())
			if got := entryIDs(nw.raft(2).raftLog.allEntries()); !slices.Equal(got, want) {
				t.Errorf("follower log %v, want %v", got, want)
			}
		})
	}
}

// Every refused proposal is an ErrProposalDropped, and the more specific
// error says why.
func TestProposalErrors(t *testing.T) {
	prop := func(rn *RawNode) error { return rn.Propose([]byte("x")) }
	for _, tt := range []struct {
		name    string
		setup   func(t *testing.T) (*RawNode, func(*RawNode) error)
		wantErr error
	}{
		{"candidate", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3)
			nw.isolate(1)
			nw.campaign(1)
			return nw.nodes[1], prop
		}, ErrNoLeader},
		{"pre-candidate", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3, withPreVote)
			nw.isolate(1)
			nw.campaign(1)
			return nw.nodes[1], prop
		}, ErrNoLeader},
		{"follower without leader", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			return newTestNetwork(t, 3).nodes[2], prop
		}, ErrNoLeader},
		{"follower with forwarding disabled", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3, func(c *Config) { c.DisableProposalForwarding = true })
			nw.campaign(1)
			return nw.nodes[2], prop
		}, ErrProposalForwardingDisabled},
		{"leader transferring", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3)
			nw.campaign(1)
			nw.isolate(3)
			nw.nodes[1].TransferLeader(3)
			nw.stabilize()
			return nw.nodes[1], prop
		}, ErrLeaderTransferInProgress},
		{"conf change pending", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3)
			nw.campaign(1)
			if err := nw.nodes[1].ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}); err != nil {
				t.Fatal(err)
			}
			return nw.nodes[1], func(rn *RawNode) error {
				return rn.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 5})
			}
		}, ErrConfChangePending},
		{"uncommitted too large", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 10 })
			nw.campaign(1)
			nw.isolate(1)
			if err := nw.propose(1, "0123456789"); err != nil {
				t.Fatal(err)
			}
			return nw.nodes[1], prop
		}, ErrUncommittedTooLarge},
		{"empty", func(t *testing.T) (*RawNode, func(*RawNode) error) {
			nw := newTestNetwork(t, 1)
			nw.campaign(1)
			return nw.nodes[1], func(rn *RawNode) error {
				return rn.Step(pb.Message{Type: pb.MsgProp, From: 1})
			}
		}, ErrEmptyProposal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rn, propose := tt.setup(t)
			last := rn.raft.raftLog.lastIndex()
			err := propose(rn)
			if !errors.Is(err, ErrProposalDropped) || !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v (an %v)", err, tt.wantErr, ErrProposalDropped)
			}
			if rn.raft.raftLog.lastIndex() != last {
				t.Error("refused proposal was appended")
			}
			for _, m := range rn.raft.msgs {
				if m.Type == pb.MsgProp {
					t.Errorf("refused proposal was forwarded: %s", DescribeMessage(m))
				}
			}
		})
	}
}

// MaxUncommittedEntriesSize bounds what a leader holds uncommitted; once
// entries commit and are applied there is room again. One proposal is
// always accepted into an empty budget, however large, or it could never
// be.
func TestUncommittedSizeLimit(t *testing.T) {
	const limit = 100
	nw := newTestNetwork(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = limit })
	nw.campaign(1)
	nw.isolate(2)
	nw.isolate(3)
	big := make([]byte, 2*limit)
	if err := nw.propose(1, string(big)); err != nil {
		t.Fatalf("a large proposal into an empty budget: %v", err)
	}
	if err := nw.propose(1, "x"); !errors.Is(err, ErrUncommittedTooLarge) {
		t.Fatalf("proposal over the limit: %v, want %v", err, ErrUncommittedTooLarge)
	}
	nw.recover()
	nw.tick(2)
	if c := nw.raft(1).raftLog.committed; c != nw.raft(1).raftLog.lastIndex() {
		t.Fatalf("not everything committed: %d of %d", c, nw.raft(1).raftLog.lastIndex())
	}
	// Proposals that do not commit fill the budget again: ten of ten
	// bytes fit, the eleventh does not.
	nw.isolate(2)
	nw.isolate(3)
	for i := 0; i < limit/10; i++ {
		if err := nw.propose(1, "0123456789"); err != nil {
			t.Fatalf("proposal %d after the budget was freed: %v", i, err)
		}
	}
	if err := nw.propose(1, "0123456789"); !errors.Is(err, ErrUncommittedTooLarge) {
		t.Errorf("proposal past a refilled budget: %v, want %v", err, ErrUncommittedTooLarge)
	}
}

// A follower forwards a proposal to the leader, which appends and
// replicates it like its own.
func TestFollowerForwardsProposal(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	var forwarded []pb.Message
	nw.intercept = func(m pb.Message) bool {
		if m.Type == pb.MsgProp {
			forwarded = append(forwarded, m)
		}
		return true
	}
	if err := nw.propose(2, "via 2"); err != nil {
		t.Fatal(err)
	}
	if len(forwarded) != 1 || forwarded[0].From != 2 || forwarded[0].To != 1 {
		t.Fatalf("forwarded %v, want one MsgProp from 2 to 1", forwarded)
	}
	for id := range nw.nodes {
		if got := nw.appliedData(id); !slices.Equal(got, []string{"via 2"}) {
			t.Errorf("member %d applied %v", id, got)
		}
	}
	// Forwarding to a leader that is gone loses the proposal silently:
	// the follower cannot know. The caller retries on a timeout.
	nw.isolate(1)
	if err := nw.propose(2, "lost"); err != nil {
		t.Errorf("forwarding while the leader is unreachable: %v", err)
	}
}

// A member restarts from what its storage holds: hard state, log,
// membership; Config.Applied says which committed entries the
// application already applied, and those are not handed out again.
func TestRestartFromStorage(t *testing.T) {
	newStorage := func() *MemoryStorage {
		s := NewMemoryStorage()
		cs := pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
		if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 5, Term: 2, ConfState: cs}, Data: []byte("snap")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Append([]pb.Entry{{Index: 6, Term: 2, Data: []byte("6")}, {Index: 7, Term: 3, Data: []byte("7")}, {Index: 8, Term: 3, Data: []byte("8")}}); err != nil {
			t.Fatal(err)
		}
		_ = s.SetHardState(pb.HardState{Term: 3, Vote: 2, Commit: 7})
		return s
	}
	for _, tt := range []struct {
		applied     uint64
		wantApplied []string
	}{
		{0, []string{"6", "7"}},
		{5, []string{"6", "7"}},
		{6, []string{"7"}},
		{7, nil},
	} {
		t.Run(fmt.Sprintf("applied=%d", tt.applied), func(t *testing.T) {
			c := testConfig(1, 10, 1, newStorage())
			c.Applied = tt.applied
			rn, err := NewRawNode(c)
			if err != nil {
				t.Fatal(err)
			}
			st := rn.Status()
			if st.Term != 3 || st.Vote != 2 || st.Commit != 7 || st.RaftState != StateFollower {
				t.Errorf("status %s, want follower at term 3, vote 2, commit 7", st)
			}
			if fmt.Sprint(st.Config) != fmt.Sprint(pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}) {
				t.Errorf("membership %v", st.Config)
			}
			if got := entryIDs(rn.raft.raftLog.allEntries()); !slices.Equal(got, []string{"6/2", "7/3", "8/3"}) {
				t.Errorf("log %v", got)
			}
			rd := rn.Ready()
			var applied []string
			for _, e := range rd.CommittedEntries {
				applied = append(applied, string(e.Data))
			}
			if !slices.Equal(applied, tt.wantApplied) {
				t.Errorf("entries to apply %v, want %v", applied, tt.wantApplied)
			}
			if !IsEmptyHardState(rd.HardState) || len(rd.Entries) != 0 || rd.SoftState != nil {
				t.Errorf("a restart alone produced state to persist: %+v", rd)
			}
		})
	}
	for _, bad := range []struct {
		name    string
		applied uint64
	}{
		{"applied past commit", 8},
		// The application's state is older than the snapshot it must
		// have restored: a bad restart, to be reported, not a crash.
		{"applied below the snapshot", 3},
	} {
		t.Run(bad.name, func(t *testing.T) {
			c := testConfig(1, 10, 1, newStorage())
			c.Applied = bad.applied
			if _, err := NewRawNode(c); err == nil {
				t.Errorf("started with Applied %d (snapshot 5, commit 7)", bad.applied)
			}
		})
	}
}

// A restarted member rejoins its cluster and catches up.
func TestRestartRejoins(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "a")
	nw.isolate(3)
	_ = nw.propose(1, "b")
	nw.restart(3)
	nw.recover()
	nw.tick(3)
	if got := nw.appliedData(3); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("restarted member applied %v, want [a b]", got)
	}
}

// Bootstrap writes the first membership as committed entries; the members
// of a new cluster apply them like any others and can then elect.
func TestBootstrap(t *testing.T) {
	peers := []Peer{{ID: 1}, {ID: 2}, {ID: 3, Context: []byte("three")}}
	nw := newTestNetworkWith(t, nil, nil)
	for _, p := range peers {
		s := NewMemoryStorage()
		nw.addMemberWithStorage(p.ID, s)
		if err := nw.nodes[p.ID].Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
	}
	rn := nw.nodes[1]
	if !rn.HasReady() {
		t.Fatal("no Ready after bootstrap")
	}
	rd := rn.Ready()
	if rd.HardState != (pb.HardState{Term: 1, Commit: 3}) || !rd.MustSync {
		t.Errorf("hard state %+v (sync %t), want term 1 commit 3, synced", rd.HardState, rd.MustSync)
	}
	var got []string
	for _, e := range rd.Entries {
		got = append(got, DescribeEntry(e))
	}
	want := []string{"1/1 ConfChangeAddNode 1", "1/2 ConfChangeAddNode 2", "1/3 ConfChangeAddNode 3"}
	if !slices.Equal(got, want) || fmt.Sprint(rd.CommittedEntries) != fmt.Sprint(rd.Entries) {
		t.Errorf("entries %v, committed %v; want %v, all committed", got, rd.CommittedEntries, want)
	}
	var cc pb.ConfChange
	if err := cc.Unmarshal(rd.Entries[2].Data); err != nil || string(cc.Context) != "three" {
		t.Errorf("third entry %+v (%v), want the peer's context", cc, err)
	}
	// Let the network persist and apply it all.
	_ = nw.storage[1].Append(rd.Entries)
	_ = nw.storage[1].SetHardState(rd.HardState)
	rn.Advance(rd)
	nw.stabilize()
	for id := range nw.nodes {
		if cs := nw.nodes[id].Status().Config; !slices.Equal(cs.Voters, []uint64{1, 2, 3}) {
			t.Errorf("member %d voters %v", id, cs.Voters)
		}
	}
	nw.campaign(2)
	if err := nw.propose(2, "x"); err != nil {
		t.Fatal(err)
	}
	for id := range nw.nodes {
		if got := nw.appliedData(id); !slices.Equal(got, []string{"x"}) {
			t.Errorf("member %d applied %v", id, got)
		}
	}

	for _, bad := range []struct {
		name  string
		setup func() *RawNode
		peers []Peer
	}{
		{"again", func() *RawNode { return nw.nodes[1] }, peers},
		{"no peers", func() *RawNode {
			rn, _ := NewRawNode(testConfig(1, 10, 1, NewMemoryStorage()))
			return rn
		}, nil},
		{"nonempty log", func() *RawNode {
			rn, _ := NewRawNode(testConfig(1, 10, 1, newTestLogStorage([]uint64{1}, 1)))
			return rn
		}, peers},
	} {
		if err := bad.setup().Bootstrap(bad.peers); err == nil {
			t.Errorf("bootstrap %s: no error", bad.name)
		}
	}
}

// Status reports the member's state; Progress only on the leader, which
// alone tracks it.
func TestStatus(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "a")
	st := nw.nodes[1].Status()
	if st.ID != 1 || st.RaftState != StateLeader || st.Lead != 1 || st.Term != 1 || st.Commit != 3 || st.Applied != 3 {
		t.Errorf("leader status %s", st)
	}
	if len(st.Progress) != 3 {
		t.Fatalf("leader progress %v, want 3 members", st.Progress)
	}
	for id, pr := range st.Progress {
		if pr.Match != 3 || pr.Next != 4 {
			t.Errorf("progress of %d: %s, want match 3 next 4", id, &pr)
		}
	}
	// The copy is the caller's: changing it does not touch raft.
	pr := st.Progress[2]
	pr.Inflights.Add(100, 1)
	if nw.raft(1).trk.Progress[2].Inflights.Count() != 0 {
		t.Error("Status shares the inflights window with raft")
	}
	fst := nw.nodes[2].Status()
	if fst.RaftState != StateFollower || fst.Lead != 1 || fst.Progress != nil {
		t.Errorf("follower status %s, progress %v; want follower of 1 without progress", fst, fst.Progress)
	}
	if want := "id=2 term=1 vote=1 commit=3 applied=3 lead=1 state=StateFollower"; fst.String() != want {
		t.Errorf("String() = %q, want %q", fst.String(), want)
	}
}
