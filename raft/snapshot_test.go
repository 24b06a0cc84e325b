package raft

// Snapshots: a follower that needs entries the leader has compacted gets
// the leader's snapshot; the transport reports the outcome.

import (
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

var testSnap = pb.Snapshot{
	Data: []byte("state at 11"),
	Metadata: pb.SnapshotMetadata{
		Index:     11,
		Term:      11,
		ConfState: pb.ConfState{Voters: []uint64{1, 2}},
	},
}

// newSnapshotLeader returns a leader whose log starts after testSnap, and
// whose follower 2 is known to hold nothing.
func newSnapshotLeader(t *testing.T) (*raft, *MemoryStorage) {
	t.Helper()
	s := NewMemoryStorage()
	if err := s.ApplySnapshot(testSnap); err != nil {
		t.Fatal(err)
	}
	_ = s.SetHardState(pb.HardState{Term: 11, Commit: 11})
	r := newTestRaft(t, 1, s)
	r.becomeCandidate()
	r.becomeLeader()
	readMessages(r)
	// 2 answers the first probe: it has nothing.
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: r.Term, Index: 11, Reject: true, RejectHint: 0})
	return r, s
}

// When the entries a follower needs are compacted, the leader sends its
// snapshot and waits in StateSnapshot.
func TestLeaderSendsSnapshotWhenNextCompacted(t *testing.T) {
	r, _ := newSnapshotLeader(t)
	msgs := readMessages(r)
	if len(msgs) != 1 || msgs[0].Type != pb.MsgSnap || msgs[0].To != 2 {
		t.Fatalf("messages %v, want one MsgSnap to 2", msgs)
	}
	if sn := msgs[0].Snapshot; sn == nil || sn.Metadata.Index != 11 || string(sn.Data) != "state at 11" {
		t.Errorf("snapshot %v, want the storage's", sn)
	}
	pr := r.trk.Progress[2]
	if pr.State != tracker.StateSnapshot || pr.PendingSnapshot != 11 {
		t.Errorf("progress %s, want snapshot pending at 11", pr)
	}
}

// A follower restores a newer snapshot: its log becomes the snapshot, its
// membership the snapshot's, and it tells the leader how far it now is.
func TestFollowerRestoresSnapshot(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2}, 1, 1, 1)
	rn, err := NewRawNode(testConfig(2, 10, 1, s))
	if err != nil {
		t.Fatal(err)
	}
	snap := testSnap
	snap.Metadata.ConfState = pb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := rn.Step(pb.Message{From: 1, To: 2, Type: pb.MsgSnap, Term: 12, Snapshot: &snap}); err != nil {
		t.Fatal(err)
	}
	r := rn.raft
	if r.raftLog.committed != 11 || r.raftLog.lastIndex() != 11 || r.raftLog.lastTerm() != 11 {
		t.Errorf("log after restore: %s, last %d/%d", r.raftLog, r.raftLog.lastIndex(), r.raftLog.lastTerm())
	}
	if cs := r.trk.ConfState(); !slices.Equal(cs.Voters, []uint64{1, 2, 3}) {
		t.Errorf("membership %v, want the snapshot's", cs)
	}
	if r.promotable() {
		t.Error("campaigning is allowed before the snapshot is persisted")
	}
	rd := rn.Ready()
	if rd.Snapshot.Metadata.Index != 11 || rd.HardState.Commit != 11 || len(rd.CommittedEntries) != 0 {
		t.Errorf("Ready: snapshot %d, commit %d, committed entries %v", rd.Snapshot.Metadata.Index, rd.HardState.Commit, rd.CommittedEntries)
	}
	resp := msgsOfType(rd.Messages, pb.MsgAppResp)
	if len(resp) != 1 || resp[0].Index != 11 || resp[0].Reject {
		t.Errorf("answer %v, want an ack of 11", resp)
	}
	if err := s.ApplySnapshot(rd.Snapshot); err != nil {
		t.Fatal(err)
	}
	rn.Advance(rd)
	if r.raftLog.applied != 11 || !r.promotable() {
		t.Errorf("after persisting: applied %d, promotable %t", r.raftLog.applied, r.promotable())
	}
}

// A snapshot that is not past the follower's commit index brings nothing
// new: it is ignored, and the answer says how far the follower is.
func TestSnapshotOlderThanCommitIgnored(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2}, 1, 1, 1, 1, 1)
	_ = s.SetHardState(pb.HardState{Term: 1, Commit: 5})
	r := newTestRaft(t, 2, s)
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}}
	_ = r.Step(pb.Message{From: 1, To: 2, Type: pb.MsgSnap, Term: 1, Snapshot: &snap})
	if r.raftLog.unstable.snapshot != nil || r.raftLog.lastIndex() != 5 || r.raftLog.committed != 5 {
		t.Errorf("old snapshot changed the log: %s", r.raftLog)
	}
	msgs := readMessages(r)
	if len(msgs) != 1 || msgs[0].Type != pb.MsgAppResp || msgs[0].Index != 5 {
		t.Errorf("answer %v, want an ack of 5", msgs)
	}
}

// A snapshot whose last entry the follower already has only tells it
// that everything up to there is committed; its log stays.
func TestSnapshotMatchingLogFastForwardsCommit(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2}, 1, 1, 1, 1)
	_ = s.SetHardState(pb.HardState{Term: 1, Commit: 1})
	r := newTestRaft(t, 2, s)
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}}
	_ = r.Step(pb.Message{From: 1, To: 2, Type: pb.MsgSnap, Term: 1, Snapshot: &snap})
	if r.raftLog.unstable.snapshot != nil || r.raftLog.lastIndex() != 4 || r.raftLog.committed != 3 {
		t.Errorf("log %s last %d, want the log kept, commit 3", r.raftLog, r.raftLog.lastIndex())
	}
	msgs := readMessages(r)
	if len(msgs) != 1 || msgs[0].Type != pb.MsgAppResp || msgs[0].Index != 3 {
		t.Errorf("answer %v, want an ack of 3", msgs)
	}
}

// A member restores only a snapshot whose membership includes it.
func TestSnapshotWithoutSelfIgnored(t *testing.T) {
	r := newTestRaft(t, 2, newTestStorage([]uint64{1, 2}))
	snap := testSnap
	snap.Metadata.ConfState = pb.ConfState{Voters: []uint64{1, 3}}
	_ = r.Step(pb.Message{From: 1, To: 2, Type: pb.MsgSnap, Term: 12, Snapshot: &snap})
	if r.raftLog.unstable.snapshot != nil || r.raftLog.committed != 0 {
		t.Errorf("restored a snapshot that does not include us: %s", r.raftLog)
	}
}

// The transport reports how the snapshot went. A failure sends the
// follower back to probing (from what it is known to hold); success to
// probing after the snapshot. Either way the leader waits for the next
// heartbeat answer before it sends again.
func TestReportSnapshot(t *testing.T) {
	for _, tt := range []struct {
		name     string
		reject   bool
		wantNext uint64
	}{
		{"failure", true, 1},
		{"success", false, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newSnapshotLeader(t)
			readMessages(r)
			_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgSnapStatus, Reject: tt.reject})
			pr := r.trk.Progress[2]
			if pr.State != tracker.StateProbe || pr.Next != tt.wantNext || pr.PendingSnapshot != 0 || !pr.IsPaused() {
				t.Fatalf("progress %s, want paused probe from %d", pr, tt.wantNext)
			}
			if msgs := readMessages(r); len(msgs) != 0 {
				t.Fatalf("sent %v before the follower was heard from", msgs)
			}
			_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeatResp, Term: r.Term})
			msgs := readMessages(r)
			want := pb.MsgApp
			if tt.reject {
				want = pb.MsgSnap // the entries are still compacted
			}
			if len(msgs) != 1 || msgs[0].Type != want {
				t.Errorf("after the heartbeat answer: %v, want one %s", msgs, want)
			}
		})
	}
}

// A report about a follower that is not waiting for a snapshot changes
// nothing.
func TestReportSnapshotIgnoredOutsideSnapshotState(t *testing.T) {
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	before := r.trk.Progress[2].String()
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgSnapStatus, Reject: true})
	if after := r.trk.Progress[2].String(); after != before {
		t.Errorf("progress %s, was %s", after, before)
	}
}

// Through a network: a follower that missed compacted entries catches up
// by snapshot and then by log, and the leader replicates to it normally
// afterwards.
func TestSnapshotCatchUp(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 10; i++ {
		_ = nw.propose(1, "v")
	}
	r := nw.raft(1)
	cs := r.trk.ConfState()
	if _, err := nw.storage[1].CreateSnapshot(r.raftLog.applied, &cs, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	if err := nw.storage[1].Compact(r.raftLog.applied); err != nil {
		t.Fatal(err)
	}
	nw.recover()
	var snaps int
	nw.intercept = func(m pb.Message) bool {
		if m.Type == pb.MsgSnap {
			snaps++
		}
		return true
	}
	nw.tick(5)
	if snaps != 1 {
		t.Errorf("%d snapshots sent, want 1", snaps)
	}
	if pr := r.trk.Progress[3]; pr.State != tracker.StateReplicate || pr.Match != r.raftLog.lastIndex() {
		t.Errorf("progress of 3: %s, want replicating and caught up", pr)
	}
	_ = nw.propose(1, "after")
	if got := nw.appliedData(3); !slices.Equal(got, []string{"after"}) {
		t.Errorf("3 applied %v after the snapshot, want [after]", got)
	}
	if got, want := entryIDs(nw.raft(3).raftLog.allEntries()), entryIDs(r.raftLog.allEntries()); !slices.Equal(got, want) {
		t.Errorf("3's log %v, leader's %v", got, want)
	}
}
