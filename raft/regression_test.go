package raft

import (
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// Regressions found by the cluster simulator (raft/rafttest); each names
// the seed that found it, replayable with
// BASALT_SIM_SEED=<seed> go test -run TestSimulation -v ./raft/rafttest

// TestRegressionFullWindowOverCompactedLog: a follower in StateReplicate
// whose in-flight MsgApps were all lost never answers them. The leader
// then probes with an empty MsgApp at Next-1 on a heartbeat response; if
// it has compacted its log past Next-1 it could send nothing at all, and
// the follower never caught up. It needs the snapshot (seeds 96, 569).
func TestRegressionFullWindowOverCompactedLog(t *testing.T) {
	for _, inflight := range []int{1, 3} {
		nw := newTestNetwork(t, 3, func(c *Config) { c.MaxInflightMsgs = inflight })
		nw.campaign(1)
		if err := nw.propose(1, "warmup"); err != nil {
			t.Fatal(err)
		}
		if st := nw.raft(1).trk.Progress[3].State; st.String() != "StateReplicate" {
			t.Fatalf("inflight=%d: follower 3 is %s, want StateReplicate", inflight, st)
		}
		// Every MsgApp to 3 is lost, unreported, until its window is full
		// and the log has moved on.
		nw.intercept = func(m pb.Message) bool { return !(m.To == 3 && m.Type == pb.MsgApp) }
		for i := 0; i < inflight+3; i++ {
			if err := nw.propose(1, "lost"); err != nil {
				t.Fatal(err)
			}
		}
		pr := nw.raft(1).trk.Progress[3]
		if pr.State.String() != "StateReplicate" || !pr.Inflights.Full() {
			t.Fatalf("inflight=%d: setup: follower 3 is %s, window full %t", inflight, pr.State, pr.Inflights.Full())
		}
		// The leader snapshots and compacts past everything 3 lacks.
		applied := nw.raft(1).raftLog.applied
		cs := nw.raft(1).trk.ConfState()
		if _, err := nw.storage[1].CreateSnapshot(applied, &cs, nil); err != nil {
			t.Fatal(err)
		}
		if err := nw.storage[1].Compact(applied); err != nil {
			t.Fatal(err)
		}
		if pr.Next-1 >= nw.raft(1).raftLog.firstIndex()-1 {
			t.Fatalf("inflight=%d: setup: Next-1 = %d is not compacted (first index %d)", inflight, pr.Next-1, nw.raft(1).raftLog.firstIndex())
		}
		nw.intercept = nil
		nw.tick(3)
		if got, want := nw.raft(3).raftLog.committed, nw.raft(1).raftLog.committed; got != want {
			t.Fatalf("inflight=%d: follower 3 commit %d, leader %d (progress %s)", inflight, got, want, nw.raft(1).trk.Progress[3])
		}
	}
}

// TestRegressionEarlyMsgAppCommitIsPersisted: a leader counts its own
// entries when it appends them, so a lone voter commits an entry in the
// step that appends it, and the MsgApp of that same Ready carried the new
// commit index. Sent before the Ready is persisted, as
// CanSendBeforePersist allows, it let a learner apply an entry that the
// leader then lost in a crash; restarted, the leader put another entry at
// that index (seed 16136). A message that may leave before its Ready is
// persisted must not carry a commit index past what is persisted.
func TestRegressionEarlyMsgAppCommitIsPersisted(t *testing.T) {
	for _, tc := range []struct {
		name             string
		voters, learners []uint64
	}{
		{"lone voter and a learner", []uint64{1}, []uint64{2}},
		{"lone voter and two learners", []uint64{1}, []uint64{2, 3}},
		{"three voters", []uint64{1, 2, 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newTestNetworkWith(t, tc.voters, tc.learners)
			nw.campaign(1)
			if err := nw.propose(1, "settled"); err != nil {
				t.Fatal(err)
			}
			rn := nw.nodes[1]
			for _, data := range []string{"a", "b"} {
				if err := rn.Propose([]byte(data)); err != nil {
					t.Fatal(err)
				}
				rd := rn.Ready()
				persisted, _ := nw.storage[1].LastIndex()
				for _, m := range rd.Messages {
					if CanSendBeforePersist(m) && m.Commit > persisted {
						t.Fatalf("%s may leave before its Ready is persisted, but tells commit %d with only %d persisted",
							DescribeMessage(m), m.Commit, persisted)
					}
				}
				// Finish the Ready as the application would.
				if err := nw.storage[1].Append(rd.Entries); err != nil {
					t.Fatal(err)
				}
				_ = nw.storage[1].SetHardState(rd.HardState)
				rn.Advance(rd)
				for _, m := range rd.Messages {
					nw.deliver(m)
				}
			}
			// Nothing is held back for good: the followers catch up.
			nw.stabilize()
			nw.tick(2)
			for _, id := range append(append([]uint64(nil), tc.voters...), tc.learners...) {
				if got, want := nw.raft(id).raftLog.committed, nw.raft(1).raftLog.committed; got != want {
					t.Fatalf("member %d commit %d, leader %d", id, got, want)
				}
			}
		})
	}
}

// TestRegressionSnapshotWhileApplying: a follower took a Ready whose
// committed entries hold a conf change and, before it applied them,
// received a snapshot from further on; restoring it replaced the
// membership, and then the application applied the stale conf change on
// top of the snapshot's membership. Here it re-added a learner the
// snapshot had already removed (seed 9152). Raft must not restore a
// snapshot while committed entries it handed out are being applied.
func TestRegressionSnapshotWhileApplying(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.cut(1, 3)
	addLearner := pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 4}
	if err := nw.nodes[1].ProposeConfChange(addLearner); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	leader := nw.raft(1)
	addIndex := leader.raftLog.lastIndex()
	ents, err := leader.raftLog.slice(addIndex, addIndex+1, noLimit)
	if err != nil || ents[0].Type != pb.EntryConfChange {
		t.Fatalf("setup: entry %d is %v (%v), want the conf change", addIndex, ents, err)
	}
	prevTerm, _ := leader.raftLog.term(addIndex - 1)
	if err := nw.nodes[1].ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	applied := leader.raftLog.applied
	cs := leader.trk.ConfState()
	if len(cs.Learners) != 0 {
		t.Fatalf("setup: learner not removed: %v", cs)
	}
	snap, err := nw.storage[1].CreateSnapshot(applied, &cs, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Follower 3 is handed the add as committed, and while it applies it
	// the snapshot arrives.
	rn := nw.nodes[3]
	_ = rn.Step(pb.Message{From: 1, To: 3, Type: pb.MsgApp, Term: leader.Term, Index: addIndex - 1, LogTerm: prevTerm, Entries: ents, Commit: addIndex})
	rd := rn.Ready()
	if n := len(rd.CommittedEntries); n == 0 || rd.CommittedEntries[n-1].Index != addIndex {
		t.Fatalf("setup: follower's Ready commits %v, want up to %d", rd.CommittedEntries, addIndex)
	}
	if err := nw.storage[3].Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	_ = nw.storage[3].SetHardState(rd.HardState)
	_ = rn.Step(pb.Message{From: 1, To: 3, Type: pb.MsgSnap, Term: leader.Term, Snapshot: &snap})
	for _, e := range rd.CommittedEntries {
		if e.Type == pb.EntryConfChange {
			var cc pb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				t.Fatal(err)
			}
			_, _ = rn.ApplyConfChange(cc)
		}
	}
	rn.Advance(rd)

	nw.recover()
	nw.stabilize()
	nw.tick(3)
	if got, want := nw.raft(3).trk.ConfState(), leader.trk.ConfState(); got.String() != want.String() {
		t.Fatalf("follower 3 membership %v, leader %v", got, want)
	}
	if got, want := nw.raft(3).raftLog.committed, leader.raftLog.committed; got != want {
		t.Fatalf("follower 3 commit %d, leader %d", got, want)
	}
}

// TestRegressionRemovedLeaderLeavesSurvivorElectable: of two voters, the
// leader removes itself. It stepped down as soon as it applied the
// removal; if the survivor had not heard that the removal committed, it
// still needed the old leader's vote, which the old leader refused since
// it held entries the survivor lacked, and, removed, never campaigned:
// no leader, for good (seeds 4014, 22835, 29783). The removed leader now
// leads on, refusing proposals, until every remaining voter holds its
// whole log.
func TestRegressionRemovedLeaderLeavesSurvivorElectable(t *testing.T) {
	nw := newTestNetwork(t, 2)
	nw.campaign(1)
	if err := nw.propose(1, "before"); err != nil {
		t.Fatal(err)
	}
	if err := nw.nodes[1].ProposeConfChange(pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	removal := nw.raft(1).raftLog.lastIndex()
	// A proposal after the removal makes the leader's log longer than the
	// survivor's; then every message that would tell the survivor of the
	// commit is lost.
	if err := nw.nodes[1].Propose([]byte("after")); err != nil {
		t.Fatal(err)
	}
	lost := true
	nw.intercept = func(m pb.Message) bool {
		if m.From != 1 || m.To != 2 || !lost {
			return true
		}
		for _, e := range m.Entries {
			if string(e.Data) == "after" {
				return false
			}
		}
		return m.Commit < removal
	}
	nw.stabilize()
	if r2 := nw.raft(2).raftLog; r2.committed >= removal || r2.lastIndex() < removal || r2.lastIndex() >= nw.raft(1).raftLog.lastIndex() {
		t.Fatalf("setup: survivor commit %d, last %d; removal at %d; leader's last %d",
			r2.committed, r2.lastIndex(), removal, nw.raft(1).raftLog.lastIndex())
	}
	lost = false
	nw.tick(10 * 10)
	if got := nw.raft(2).state; got != StateLeader {
		t.Fatalf("survivor is %s with membership %v, commit %d; old leader is %s", got,
			nw.raft(2).trk.ConfState(), nw.raft(2).raftLog.committed, nw.raft(1).state)
	}
	if err := nw.propose(2, "survivor"); err != nil {
		t.Fatal(err)
	}
	if got := nw.appliedData(2); len(got) == 0 || got[len(got)-1] != "survivor" {
		t.Fatalf("survivor applied %q", got)
	}
}
