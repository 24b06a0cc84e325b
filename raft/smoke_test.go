package raft

import (
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

func TestSmokeElectionAndReplication(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		nw := newTestNetwork(t, n)
		nw.campaign(1)
		if got := nw.leader(); got != 1 {
			t.Fatalf("n=%d: leader = %d, want 1", n, got)
		}
		for _, d := range []string{"a", "b", "c"} {
			if err := nw.propose(1, d); err != nil {
				t.Fatalf("propose: %v", err)
			}
		}
		if n > 1 {
			if err := nw.propose(2, "d"); err != nil {
				t.Fatalf("propose via follower: %v", err)
			}
		}
		nw.tick(1)
		want := nw.appliedData(1)
		for id := range nw.nodes {
			if got := nw.appliedData(id); !slices.Equal(got, want) {
				t.Fatalf("n=%d member %d applied %v, leader applied %v", n, id, got, want)
			}
		}
	}
}

func TestSmokeElectionByTimeout(t *testing.T) {
	nw := newTestNetwork(t, 3, func(c *Config) { c.PreVote = true; c.CheckQuorum = true })
	nw.tick(40)
	lead := nw.leader()
	if lead == None {
		t.Fatal("no leader after 40 ticks")
	}
	nw.isolate(lead)
	nw.tick(60)
	newLead := None
	for id, rn := range nw.nodes {
		if id != lead && rn.raft.state == StateLeader {
			newLead = id
		}
	}
	if newLead == None {
		t.Fatal("no new leader after isolating the old one")
	}
	if nw.raft(lead).state == StateLeader {
		t.Fatal("old leader did not step down with CheckQuorum")
	}
	nw.recover()
	nw.tick(20)
	if got := nw.leader(); got != newLead {
		t.Fatalf("leader after heal = %d, want %d", got, newLead)
	}
}

func TestSmokeReadIndex(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	for _, id := range []uint64{1, 2} {
		if err := nw.nodes[id].ReadIndex([]byte{byte(id)}); err != nil {
			t.Fatal(err)
		}
		var got []ReadState
		nw.intercept = nil
		for i := 0; i < 5 && len(got) == 0; i++ {
			for _, mid := range sortedIDs(nw.nodes) {
				rn := nw.nodes[mid]
				if rn.HasReady() {
					rd := rn.Ready()
					if mid == id {
						got = append(got, rd.ReadStates...)
					}
					_ = nw.storage[mid].Append(rd.Entries)
					msgs := rd.Messages
					rn.Advance(rd)
					for _, m := range msgs {
						nw.deliver(m)
					}
				}
			}
		}
		if len(got) != 1 || got[0].Index != nw.raft(1).raftLog.committed || got[0].RequestCtx[0] != byte(id) {
			t.Fatalf("member %d read states %+v, want index %d", id, got, nw.raft(1).raftLog.committed)
		}
	}
}

func TestSmokeSnapshotToLaggingFollower(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 10; i++ {
		_ = nw.propose(1, "v")
	}
	s := nw.storage[1]
	applied := nw.raft(1).raftLog.applied
	cs := nw.raft(1).trk.ConfState()
	if _, err := s.CreateSnapshot(applied, &cs, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(applied); err != nil {
		t.Fatal(err)
	}
	nw.recover()
	nw.tick(3)
	if got, want := nw.raft(3).raftLog.committed, nw.raft(1).raftLog.committed; got != want {
		t.Fatalf("follower commit %d, leader %d", got, want)
	}
	snap, _ := nw.storage[3].Snapshot()
	if string(snap.Data) != "state" {
		t.Fatalf("follower snapshot data %q", snap.Data)
	}
}

func TestSmokeConfChange(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	cc := pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}
	if err := nw.nodes[1].ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if _, ok := nw.raft(1).trk.Learners[4]; !ok {
		t.Fatalf("learner 4 not added: %v", nw.raft(1).trk.ConfState())
	}
	cc = pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}
	if err := nw.nodes[1].ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if nw.raft(1).state == StateLeader {
		t.Fatal("removed leader did not step down")
	}
}
