package raft

// Membership changes, one member at a time: add and remove voters, add
// and promote learners. A change takes effect on a member when it applies
// the committed entry.

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

func proposeConfChange(t *testing.T, nw *testNetwork, id uint64, typ pb.ConfChangeType, node uint64) {
	t.Helper()
	if err := nw.nodes[id].ProposeConfChange(pb.ConfChange{Type: typ, NodeID: node}); err != nil {
		t.Fatalf("propose %s %d: %v", typ, node, err)
	}
	nw.stabilize()
}

func committedEverywhere(t *testing.T, nw *testNetwork, id uint64) bool {
	t.Helper()
	r := nw.raft(id)
	return r.raftLog.committed == r.raftLog.lastIndex()
}

// A new voter counts for the quorum from the moment the leader applies
// its addition: with four voters, two acks are no longer enough.
func TestAddVoter(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	proposeConfChange(t, nw, 1, pb.ConfChangeAddNode, 4)
	if cs := nw.nodes[1].Status().Config; !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) {
		t.Fatalf("voters %v, want [1 2 3 4]", cs.Voters)
	}
	// The new member starts knowing the initial membership and learns
	// the rest from the leader's log.
	nw.addMember(4, pb.ConfState{Voters: []uint64{1, 2, 3}})
	nw.tick(2)
	if cs := nw.nodes[4].Status().Config; !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) {
		t.Fatalf("new member's voters %v", cs.Voters)
	}
	nw.isolate(3)
	nw.isolate(4)
	_ = nw.propose(1, "x")
	if committedEverywhere(t, nw, 1) {
		t.Fatal("committed with 2 of 4 voters")
	}
	nw.recover()
	nw.isolate(3)
	nw.tick(2)
	if !committedEverywhere(t, nw, 1) {
		t.Fatal("not committed with 3 of 4 voters")
	}
	if got := nw.appliedData(4); !slices.Equal(got, []string{"x"}) {
		t.Errorf("new voter applied %v", got)
	}
}

// After a voter is removed the quorum is a majority of those left; the
// removed member no longer campaigns.
func TestRemoveVoter(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	proposeConfChange(t, nw, 1, pb.ConfChangeRemoveNode, 3)
	if cs := nw.nodes[1].Status().Config; !slices.Equal(cs.Voters, []uint64{1, 2}) {
		t.Fatalf("voters %v, want [1 2]", cs.Voters)
	}
	nw.isolate(2)
	_ = nw.propose(1, "x")
	if committedEverywhere(t, nw, 1) {
		t.Fatal("committed with 1 of 2 voters")
	}
	nw.recover()
	nw.isolate(3)
	nw.tick(2)
	if !committedEverywhere(t, nw, 1) {
		t.Fatal("not committed with both remaining voters")
	}
	nw.recover()
	for i := 0; i < 50; i++ {
		nw.nodes[3].Tick()
		nw.stabilize()
	}
	// The removed member campaigns (see promotable), but the others have
	// applied its removal and ignore it: leader and term stay.
	if lead := nw.leader(); lead != 1 {
		t.Errorf("leader %d after the removed member's campaigns, want 1", lead)
	}
	if r := nw.raft(1); r.Term != 1 || r.state != StateLeader {
		t.Errorf("member 1 is %s at term %d, want the leader at term 1", r.state, r.Term)
	}
	if r := nw.raft(3); r.state == StateLeader {
		t.Error("the removed member became leader")
	}
}

// The leader of two voters removes itself; the survivor holds the change
// but never hears it committed, and the removed member's log is longer
// (a proposal it took before applying the change). The survivor still
// counts on the removed member's vote, which a longer log refuses; the
// removed member must campaign for the removal to finish.
func TestRemoveLeaderOfTwoSurvivorUnaware(t *testing.T) {
	nw := newTestNetwork(t, 2)
	nw.campaign(1)
	cc := nw.raft(1).raftLog.lastIndex() + 1
	if err := nw.nodes[1].ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := nw.nodes[1].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// 2 receives the change and nothing after it, nor that it committed.
	nw.rewrite = func(m pb.Message) pb.Message {
		if m.From != 1 || m.To != 2 {
			return m
		}
		var kept []pb.Entry
		for _, e := range m.Entries {
			if e.Index <= cc {
				kept = append(kept, e)
			}
		}
		m.Entries = kept
		m.Commit = min(m.Commit, cc-1)
		return m
	}
	nw.stabilize()
	if cs := nw.nodes[1].Status().Config; !slices.Equal(cs.Voters, []uint64{2}) {
		t.Fatalf("member 1 has voters %v, want [2]", cs.Voters)
	}
	if got := nw.raft(2).raftLog.committed; got >= cc {
		t.Fatalf("member 2 knows commit %d, want it unaware of %d", got, cc)
	}
	// 2 hears nothing more from 1, campaigns, and deposes it.
	nw.drop[[2]uint64{1, 2}] = true
	nw.tick(4 * nw.raft(2).electionTimeout)
	if nw.raft(1).state == StateLeader {
		t.Fatal("member 1 still leads")
	}
	nw.rewrite = nil
	nw.recover()
	nw.tick(20 * nw.raft(2).electionTimeout)
	if cs := nw.nodes[2].Status().Config; !slices.Equal(cs.Voters, []uint64{2}) {
		t.Fatalf("member 2 has voters %v, want [2]: the removal never finished", cs.Voters)
	}
	if r := nw.raft(2); r.state != StateLeader {
		t.Fatalf("member 2 is %s, want the leader", r.state)
	}
	if got := nw.appliedData(2); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("member 2 applied %v, want [x]", got)
	}
	if err := nw.propose(2, "y"); err != nil {
		t.Fatalf("member 2 cannot take proposals: %v", err)
	}
	if got := nw.appliedData(2); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("member 2 applied %v, want [x y]", got)
	}
}

// Learners receive and apply the log, but never campaign, and neither
// their votes nor their acks count.
func TestLearner(t *testing.T) {
	nw := newTestNetworkWith(t, []uint64{1, 2, 3}, []uint64{4})
	nw.campaign(1)
	_ = nw.propose(1, "x")
	if got := nw.appliedData(4); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("learner applied %v, want [x]", got)
	}

	// Acks: with 2 and 3 away, the learner's ack does not commit.
	nw.isolate(2)
	nw.isolate(3)
	_ = nw.propose(1, "y")
	if m := nw.raft(1).trk.Progress[4].Match; m != nw.raft(1).raftLog.lastIndex() {
		t.Fatalf("learner's match %d, want it to hold everything", m)
	}
	if committedEverywhere(t, nw, 1) {
		t.Fatal("committed with a voter and a learner of 3 voters")
	}

	// Campaigns: with the leader gone the learner never stands.
	nw.recover()
	nw.isolate(1)
	nw.campaign(4)
	for i := 0; i < 100; i++ {
		nw.nodes[4].Tick()
		nw.stabilize()
		if st := nw.raft(4).state; st != StateFollower {
			t.Fatalf("learner became %s", st)
		}
	}
}

// Candidates ask only voters, and count only voters' answers.
func TestLearnerVoteDoesNotCount(t *testing.T) {
	r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2}, 3))
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	for _, m := range readMessages(r) {
		if m.To == 3 {
			t.Errorf("vote request to a learner: %s", DescribeMessage(m))
		}
	}
	_ = r.Step(pb.Message{From: 3, To: 1, Type: pb.MsgVoteResp, Term: 1})
	if r.state != StateCandidate {
		t.Errorf("a learner's vote made the candidate %s", r.state)
	}
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgVoteResp, Term: 1})
	if r.state != StateLeader {
		t.Errorf("a majority of voters made the candidate %s, want leader", r.state)
	}
}

// CheckQuorum counts only voters too: a leader that hears only from a
// learner steps down.
func TestLearnerDoesNotKeepLeaderInOffice(t *testing.T) {
	nw := newTestNetworkWith(t, []uint64{1, 2, 3}, []uint64{4}, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(2)
	nw.isolate(3)
	nw.tick(25)
	if nw.raft(1).state == StateLeader {
		t.Error("leader in touch only with a learner kept its office")
	}
}

// Promoting a learner makes it a voter: its ack counts and it may
// campaign.
func TestPromoteLearner(t *testing.T) {
	nw := newTestNetworkWith(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	nw.isolate(2)
	_ = nw.propose(1, "before")
	if committedEverywhere(t, nw, 1) {
		t.Fatal("a learner's ack committed an entry")
	}
	nw.recover()
	nw.tick(2)
	proposeConfChange(t, nw, 1, pb.ConfChangeAddNode, 3)
	for _, id := range []uint64{1, 2, 3} {
		if cs := nw.nodes[id].Status().Config; !slices.Equal(cs.Voters, []uint64{1, 2, 3}) || len(cs.Learners) != 0 {
			t.Fatalf("member %d: membership %v, want voters [1 2 3]", id, cs)
		}
	}
	if nw.raft(3).isLearner || nw.raft(1).trk.Progress[3].IsLearner {
		t.Fatal("promoted member still marked learner")
	}
	nw.isolate(2)
	_ = nw.propose(1, "after")
	if !committedEverywhere(t, nw, 1) {
		t.Fatal("the promoted member's ack did not count")
	}
	nw.recover()
	nw.isolate(1)
	nw.campaign(3)
	if nw.raft(3).state != StateLeader {
		t.Errorf("promoted member could not win an election: %s", nw.raft(3).state)
	}
}

// Removing a member shrinks the quorum, which can commit entries that
// were waiting for the removed member's ack.
func TestRemoveCommitsPendingEntries(t *testing.T) {
	nw := newTestNetwork(t, 2)
	nw.campaign(1)
	if err := nw.nodes[1].ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	// 2 acknowledges the conf change: the leader commits it but does not
	// apply it yet.
	for _, m := range nw.handleReady(1) {
		nw.deliver(m)
	}
	for _, m := range nw.handleReady(2) {
		nw.deliver(m)
	}
	r := nw.raft(1)
	ccIndex := r.raftLog.lastIndex()
	if r.raftLog.committed != ccIndex || r.raftLog.applied >= ccIndex {
		t.Fatalf("setup: committed %d applied %d, want the conf change at %d committed, unapplied", r.raftLog.committed, r.raftLog.applied, ccIndex)
	}
	// A proposal that only 2 could help commit.
	if err := nw.nodes[1].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.isolate(2)
	nw.stabilize() // applies the removal on 1
	if r.raftLog.committed != ccIndex+1 {
		t.Fatalf("committed %d after the removal, want %d", r.raftLog.committed, ccIndex+1)
	}
	if got := nw.appliedData(1); !slices.Equal(got, []string{"x"}) {
		t.Errorf("applied %v, want [x]", got)
	}
}

// A leader that applies its own removal steps down; the others elect a
// leader among themselves.
func TestRemovedLeaderStepsDown(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	proposeConfChange(t, nw, 1, pb.ConfChangeRemoveNode, 1)
	if r := nw.raft(1); r.state != StateFollower || r.lead != None {
		t.Fatalf("removed leader is %s (lead %d), want a follower", r.state, r.lead)
	}
	if err := nw.propose(1, "x"); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("proposal to the removed leader: %v, want dropped", err)
	}
	nw.tick(30)
	lead := nw.leader()
	if lead != 2 && lead != 3 {
		t.Fatalf("leader %d after the removal, want 2 or 3", lead)
	}
	if err := nw.propose(lead, "y"); err != nil {
		t.Fatal(err)
	}
	other := 5 - lead
	if got := nw.appliedData(other); !slices.Equal(got, []string{"y"}) {
		t.Errorf("member %d applied %v, want [y]", other, got)
	}
	if slices.Contains(nw.appliedData(1), "y") {
		t.Error("the removed member still receives the log")
	}
}

// A member that has a committed conf change it has not applied yet does
// not campaign: the membership it would count votes in is about to
// change.
func TestNoCampaignWithUnappliedConfChange(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2, 3}, 1)
	cc, _ := (&pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 3}).Marshal()
	_ = s.Append([]pb.Entry{{Index: 2, Term: 1, Type: pb.EntryConfChange, Data: cc}})
	_ = s.SetHardState(pb.HardState{Term: 1, Commit: 2})
	r := newTestRaft(t, 1, s, func(c *Config) { c.Applied = 1 })
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	for i := 0; i < 2*r.electionTimeout; i++ {
		r.tick()
	}
	if r.state != StateFollower || r.Term != 1 || len(readMessages(r)) != 0 {
		t.Fatalf("campaigned with an unapplied conf change: %s at term %d", r.state, r.Term)
	}
	r.raftLog.appliedTo(2)
	if _, err := r.applyConfChange(pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	if r.state != StateCandidate {
		t.Errorf("after applying: %s, want candidate", r.state)
	}
}

// The state machine refuses changes that would break the cluster, and
// every member refuses the same ones, so a refused change is a no-op
// everywhere.
func TestRefusedConfChanges(t *testing.T) {
	for _, tt := range []struct {
		name     string
		voters   []uint64
		learners []uint64
		cc       pb.ConfChange
		wantErr  error
	}{
		{"remove the last voter", []uint64{1}, nil, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}, ErrRemoveLastVoter},
		{"remove the last voter, learners left", []uint64{1}, []uint64{2}, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}, ErrRemoveLastVoter},
		{"demote a voter", []uint64{1, 2}, nil, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 2}, ErrDemoteVoter},
		{"demote self", []uint64{1, 2}, nil, pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 1}, ErrDemoteVoter},
		{"node 0", []uint64{1, 2}, nil, pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 0}, ErrInvalidConfChange},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rn, err := NewRawNode(testConfig(1, 10, 1, newTestStorage(tt.voters, tt.learners...)))
			if err != nil {
				t.Fatal(err)
			}
			before := rn.Status().Config
			cs, err := rn.ApplyConfChange(tt.cc)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(cs.Voters, before.Voters) || !slices.Equal(cs.Learners, before.Learners) {
				t.Errorf("membership %v after a refused change, want %v", cs, before)
			}
		})
	}

	// Proposed and committed, the refused change leaves the leader leading.
	nw := newTestNetwork(t, 1)
	nw.campaign(1)
	proposeConfChange(t, nw, 1, pb.ConfChangeRemoveNode, 1)
	if nw.raft(1).state != StateLeader {
		t.Errorf("after a refused removal of the last voter: %s", nw.raft(1).state)
	}
	if err := nw.propose(1, "still here"); err != nil {
		t.Error(err)
	}
}

// One change at a time: a leader refuses a conf change while an earlier
// one is unapplied, and a new leader refuses them until everything in
// its log at election time is applied (it may hold a change it has not
// seen).
func TestConfChangePendingUntilApplied(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	rn := nw.nodes[1]
	add := func(id uint64) error {
		return rn.ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: id})
	}
	if err := add(4); err != nil {
		t.Fatal(err)
	}
	if err := add(5); !errors.Is(err, ErrConfChangePending) {
		t.Fatalf("second change before the first applied: %v, want %v", err, ErrConfChangePending)
	}
	// Ordinary proposals are not held up.
	if err := rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if err := add(5); err != nil {
		t.Fatalf("change after the first was applied: %v", err)
	}

	t.Run("new leader", func(t *testing.T) {
		s := newTestLogStorage([]uint64{1, 2, 3}, 1, 1)
		r := newTestRaft(t, 1, s)
		r.becomeCandidate()
		r.becomeLeader()
		cc, _ := (&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}).Marshal()
		prop := pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Type: pb.EntryConfChange, Data: cc}}}
		if err := r.Step(prop); !errors.Is(err, ErrConfChangePending) {
			t.Fatalf("new leader with unapplied entries: %v, want %v", err, ErrConfChangePending)
		}
		_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: r.Term, Index: r.raftLog.lastIndex()})
		persistAll(r, s)
		prop.Entries = []pb.Entry{{Type: pb.EntryConfChange, Data: cc}}
		if err := r.Step(prop); err != nil {
			t.Errorf("after applying the log: %v", err)
		}
	})
}

// A conf change proposal that is refused for another reason must not
// hold up the next one.
func TestRefusedConfChangeProposalDoesNotBlock(t *testing.T) {
	nw := newTestNetwork(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 10 })
	nw.campaign(1)
	nw.isolate(2)
	nw.isolate(3)
	if err := nw.propose(1, "0123456789"); err != nil {
		t.Fatal(err)
	}
	cc := pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}
	if err := nw.nodes[1].ProposeConfChange(cc); !errors.Is(err, ErrUncommittedTooLarge) {
		t.Fatalf("conf change over the size limit: %v, want %v", err, ErrUncommittedTooLarge)
	}
	nw.recover()
	nw.tick(2)
	if err := nw.nodes[1].ProposeConfChange(cc); err != nil {
		t.Fatalf("conf change once everything is applied: %v", err)
	}
	nw.stabilize()
	if pr := nw.raft(1).trk.Progress[4]; pr == nil || !pr.IsLearner {
		t.Errorf("learner 4 not added: %v", nw.raft(1).trk.ConfState())
	}
}

// The leader starts replicating to a member as soon as it adds it.
func TestLeaderReplicatesToNewMember(t *testing.T) {
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	if _, err := r.applyConfChange(pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	pr := r.trk.Progress[3]
	if pr == nil || pr.State != tracker.StateProbe || !pr.IsLearner {
		t.Fatalf("new learner's progress %v", pr)
	}
	if apps := appsTo(readMessages(r), 3); len(apps) != 1 {
		t.Errorf("sent %v to the new member, want one probe", apps)
	}
}
