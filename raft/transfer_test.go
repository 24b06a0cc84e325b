package raft

// Leadership transfer (Raft thesis §3.10): the leader stops taking
// proposals, brings the transferee's log up to date and sends it
// MsgTimeoutNow, which makes it campaign at once; the transfer is given up
// after an election timeout.

import (
	"errors"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// messageLog records the messages delivered between two members.
type messageLog struct{ msgs []pb.Message }

func recordBetween(nw *testNetwork, a, b uint64) *messageLog {
	l := &messageLog{}
	nw.intercept = func(m pb.Message) bool {
		if (m.From == a && m.To == b) || (m.From == b && m.To == a) {
			l.msgs = append(l.msgs, m)
		}
		return true
	}
	return l
}

func TestLeaderTransferToUpToDateFollower(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []func(*Config)
		// via asks the transfer on this member (the leader or a follower,
		// which forwards it).
		via uint64
	}{
		{"on the leader", nil, 1},
		{"forwarded by a follower", nil, 2},
		{"prevote and checkquorum", []func(*Config){withPreVote, withCheckQuorum}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nw := newTestNetwork(t, 3, tt.opts...)
			nw.campaign(1)
			_ = nw.propose(1, "x")
			log := recordBetween(nw, 1, 2)
			nw.nodes[tt.via].TransferLeader(2)
			nw.stabilize()
			var sent []pb.MessageType
			for _, m := range log.msgs {
				if m.From == 1 {
					sent = append(sent, m.Type)
				}
			}
			if len(sent) == 0 || sent[0] != pb.MsgTimeoutNow {
				t.Errorf("leader sent %v to the transferee, want MsgTimeoutNow first", sent)
			}
			mustState(t, nw, 2, StateLeader, 2)
			if r := nw.raft(1); r.state != StateFollower || r.lead != 2 || r.leadTransferee != None {
				t.Errorf("old leader: %s lead %d transferee %d", r.state, r.lead, r.leadTransferee)
			}
			if err := nw.propose(2, "y"); err != nil {
				t.Fatal(err)
			}
			if got := nw.appliedData(1); len(got) != 2 {
				t.Errorf("old leader applied %v, want [x y]", got)
			}
		})
	}
}

// A transferee whose log is behind is caught up first; MsgTimeoutNow goes
// out only once it holds the leader's whole log, so that it can win.
func TestLeaderTransferToLaggingFollower(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		_ = nw.propose(1, "x")
	}
	nw.recover()
	log := recordBetween(nw, 1, 3)
	nw.nodes[1].TransferLeader(3)
	nw.stabilize()
	last := nw.raft(1).raftLog.lastIndex()
	var caughtUp bool
	var timeoutNow int
	for _, m := range log.msgs {
		switch {
		case m.From == 3 && m.Type == pb.MsgAppResp && !m.Reject && m.Index >= last-1:
			caughtUp = true
		case m.Type == pb.MsgTimeoutNow:
			if !caughtUp {
				t.Fatalf("MsgTimeoutNow sent before the transferee caught up: %v", log.msgs)
			}
			timeoutNow++
		}
	}
	if timeoutNow != 1 {
		t.Errorf("%d MsgTimeoutNow, want 1", timeoutNow)
	}
	if nw.raft(3).state != StateLeader {
		t.Errorf("transferee is %s, want leader", nw.raft(3).state)
	}
}

// While a transfer is under way the leader refuses proposals (they would
// only delay the transferee); after an election timeout without success
// it abandons the transfer and takes proposals again.
func TestLeaderTransferTimeout(t *testing.T) {
	const et = 10
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	nw.nodes[1].TransferLeader(3)
	nw.stabilize()
	if nw.raft(1).leadTransferee != 3 {
		t.Fatalf("transferee %d, want 3", nw.raft(1).leadTransferee)
	}
	if err := nw.propose(1, "x"); !errors.Is(err, ErrLeaderTransferInProgress) || !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: %v, want %v", err, ErrLeaderTransferInProgress)
	}
	// Asking again for the same member does not extend the deadline.
	nw.tick(et / 2)
	nw.nodes[1].TransferLeader(3)
	nw.tick(et/2 - 1)
	if nw.raft(1).leadTransferee != 3 {
		t.Fatalf("transfer abandoned after %d ticks, before the election timeout", et-1)
	}
	nw.tick(1)
	if r := nw.raft(1); r.leadTransferee != None || r.state != StateLeader {
		t.Fatalf("after an election timeout: %s, transferee %d; want leader, no transfer", r.state, r.leadTransferee)
	}
	if err := nw.propose(1, "y"); err != nil {
		t.Errorf("proposal after the transfer was abandoned: %v", err)
	}
	if got := nw.appliedData(2); len(got) != 1 || got[0] != "y" {
		t.Errorf("applied %v, want [y]", got)
	}
}

// Requests that cannot be honoured are ignored: to the leader itself, to
// a learner (which cannot campaign) and to a stranger.
func TestLeaderTransferIgnored(t *testing.T) {
	for _, tt := range []struct {
		name       string
		transferee uint64
	}{
		{"self", 1},
		{"learner", 4},
		{"not a member", 9},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nw := newTestNetworkWith(t, []uint64{1, 2, 3}, []uint64{4})
			nw.campaign(1)
			var timeoutNow bool
			nw.intercept = func(m pb.Message) bool {
				timeoutNow = timeoutNow || m.Type == pb.MsgTimeoutNow
				return true
			}
			nw.nodes[1].TransferLeader(tt.transferee)
			nw.stabilize()
			if r := nw.raft(1); r.state != StateLeader || r.leadTransferee != None || timeoutNow {
				t.Errorf("%s, transferee %d, MsgTimeoutNow sent: %t; want nothing to happen", r.state, r.leadTransferee, timeoutNow)
			}
			if err := nw.propose(1, "x"); err != nil {
				t.Errorf("proposal after an ignored transfer: %v", err)
			}
		})
	}
}

// A request to transfer to another member replaces the one under way.
func TestLeaderTransferSecondRequestReplacesFirst(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	nw.nodes[1].TransferLeader(3)
	nw.stabilize()
	nw.tick(5)
	if nw.raft(1).leadTransferee != 3 {
		t.Fatalf("transferee %d, want 3", nw.raft(1).leadTransferee)
	}
	nw.nodes[1].TransferLeader(2)
	nw.stabilize()
	mustState(t, nw, 2, StateLeader, 2)
	if r := nw.raft(1); r.state != StateFollower || r.lead != 2 {
		t.Errorf("old leader %s following %d, want follower of 2", r.state, r.lead)
	}
}

// A member told to take over by a MsgTimeoutNow still needs a majority;
// a learner, or a member with a conf change to apply, does not campaign.
func TestTimeoutNowRespectsCampaignRules(t *testing.T) {
	t.Run("learner", func(t *testing.T) {
		r := newTestRaft(t, 4, newTestStorage([]uint64{1, 2, 3}, 4))
		_ = r.Step(pb.Message{From: 1, To: 4, Type: pb.MsgTimeoutNow, Term: 1})
		if r.state != StateFollower || r.Term != 1 {
			t.Errorf("learner is %s at term %d after MsgTimeoutNow", r.state, r.Term)
		}
	})
	t.Run("unapplied conf change", func(t *testing.T) {
		s := newTestLogStorage([]uint64{1, 2, 3}, 1)
		cc, _ := (&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}).Marshal()
		_ = s.Append([]pb.Entry{{Index: 2, Term: 1, Type: pb.EntryConfChange, Data: cc}})
		_ = s.SetHardState(pb.HardState{Term: 1, Commit: 2})
		r := newTestRaft(t, 2, s, func(c *Config) { c.Applied = 1 })
		_ = r.Step(pb.Message{From: 1, To: 2, Type: pb.MsgTimeoutNow, Term: 1})
		if r.state != StateFollower || r.Term != 1 {
			t.Errorf("member with an unapplied conf change is %s at term %d after MsgTimeoutNow", r.state, r.Term)
		}
	})
}
