package tracker

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/basaltkv/basalt/raft/quorum"
	"github.com/basaltkv/basalt/raft/raftpb"
)

func newTestProgress(state StateType, match, next uint64) *Progress {
	pr := &Progress{Match: match, Next: next, Inflights: NewInflights(2, 0), RecentActive: true}
	pr.State = state
	return pr
}

func TestProgressMaybeUpdate(t *testing.T) {
	tests := []struct {
		name        string
		n           uint64
		wantUpdated bool
		wantMatch   uint64
		wantNext    uint64
	}{
		{"stale", 2, false, 3, 6},
		{"same as match", 3, false, 3, 6},
		{"above match, below next", 4, true, 4, 6},
		{"just below next", 5, true, 5, 6},
		{"at next", 6, true, 6, 7},
		{"past next", 9, true, 9, 10},
	}
	for _, tt := range tests {
		pr := newTestProgress(StateProbe, 3, 6)
		pr.MsgAppProbesPaused = true
		if got := pr.MaybeUpdate(tt.n); got != tt.wantUpdated {
			t.Errorf("%s: MaybeUpdate(%d) = %v, want %v", tt.name, tt.n, got, tt.wantUpdated)
		}
		if pr.Match != tt.wantMatch || pr.Next != tt.wantNext {
			t.Errorf("%s: match %d next %d, want %d %d", tt.name, pr.Match, pr.Next, tt.wantMatch, tt.wantNext)
		}
		// Hearing that the follower has more is what unpauses a probe.
		if pr.MsgAppProbesPaused == tt.wantUpdated {
			t.Errorf("%s: probes paused = %v after update %v", tt.name, pr.MsgAppProbesPaused, tt.wantUpdated)
		}
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		name           string
		state          StateType
		match, next    uint64
		rejected, hint uint64
		wantDecr       bool
		wantNext       uint64
	}{
		// Replicate: only a rejection above Match is news, and it sends
		// the leader back to just after Match.
		{"replicate, stale rejection", StateReplicate, 5, 10, 5, 5, false, 10},
		{"replicate, older rejection", StateReplicate, 5, 10, 3, 3, false, 10},
		{"replicate, fresh rejection", StateReplicate, 5, 10, 9, 9, true, 6},
		{"replicate, hint ignored", StateReplicate, 5, 10, 9, 2, true, 6},
		// Probe: only a rejection of the last probe (Next-1) counts.
		{"probe, not the last probe", StateProbe, 0, 10, 5, 5, false, 10},
		{"probe, hint past the probe", StateProbe, 0, 10, 9, 20, true, 9},
		{"probe, hint below", StateProbe, 0, 10, 9, 4, true, 5},
		{"probe, hint 0", StateProbe, 0, 10, 9, 0, true, 1},
		{"probe, never below match", StateProbe, 3, 10, 9, 1, true, 4},
		{"probe, hint just below the probe", StateProbe, 0, 10, 9, 8, true, 9},
		{"snapshot, last probe", StateSnapshot, 0, 10, 9, 4, true, 5},
	}
	for _, tt := range tests {
		pr := newTestProgress(tt.state, tt.match, tt.next)
		pr.MsgAppProbesPaused = true
		if got := pr.MaybeDecrTo(tt.rejected, tt.hint); got != tt.wantDecr {
			t.Errorf("%s: MaybeDecrTo(%d, %d) = %v, want %v", tt.name, tt.rejected, tt.hint, got, tt.wantDecr)
		}
		if pr.Next != tt.wantNext {
			t.Errorf("%s: next %d, want %d", tt.name, pr.Next, tt.wantNext)
		}
		if tt.state == StateProbe && tt.wantDecr && pr.MsgAppProbesPaused {
			t.Errorf("%s: still paused after a rejection of the probe", tt.name)
		}
	}
}

func TestProgressIsPaused(t *testing.T) {
	tests := []struct {
		name        string
		state       StateType
		probePaused bool
		inflight    int // messages added to a window of 2
		want        bool
	}{
		{"probe", StateProbe, false, 0, false},
		{"probe, probe sent", StateProbe, true, 0, true},
		{"replicate, room", StateReplicate, false, 1, false},
		{"replicate, window full", StateReplicate, false, 2, true},
		// The probe flag means nothing while replicating.
		{"replicate, probe flag", StateReplicate, true, 0, false},
		{"snapshot", StateSnapshot, false, 0, true},
	}
	for _, tt := range tests {
		pr := newTestProgress(tt.state, 0, 1)
		pr.MsgAppProbesPaused = tt.probePaused
		for i := 0; i < tt.inflight; i++ {
			pr.Inflights.Add(uint64(i+1), 1)
		}
		if got := pr.IsPaused(); got != tt.want {
			t.Errorf("%s: IsPaused = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProgressSentEntries(t *testing.T) {
	tests := []struct {
		name         string
		state        StateType
		last         uint64
		entries      int
		wantNext     uint64
		wantInflight int
		wantPaused   bool
	}{
		{"replicate, entries", StateReplicate, 7, 2, 8, 1, false},
		// An empty MsgApp (a commit update) takes no room in the window.
		{"replicate, empty", StateReplicate, 5, 0, 6, 0, false},
		// One probe per heartbeat interval, whatever it carried.
		{"probe, entries", StateProbe, 7, 2, 6, 0, true},
		{"probe, empty", StateProbe, 5, 0, 6, 0, true},
	}
	for _, tt := range tests {
		pr := newTestProgress(tt.state, 5, 6)
		pr.SentEntries(tt.last, 10, tt.entries)
		if pr.Next != tt.wantNext || pr.Inflights.Count() != tt.wantInflight || pr.IsPaused() != tt.wantPaused {
			t.Errorf("%s: next %d inflight %d paused %v; want %d %d %v", tt.name, pr.Next, pr.Inflights.Count(), pr.IsPaused(),
				tt.wantNext, tt.wantInflight, tt.wantPaused)
		}
	}
}

func TestProgressStateTransitions(t *testing.T) {
	tests := []struct {
		name        string
		from        StateType
		pending     uint64
		become      func(pr *Progress)
		wantState   StateType
		wantNext    uint64
		wantPending uint64
	}{
		{"replicate to probe", StateReplicate, 0, (*Progress).BecomeProbe, StateProbe, 6, 0},
		// Back from a snapshot, probe after whichever is further: what the
		// follower acknowledged or the snapshot it was sent.
		{"snapshot to probe", StateSnapshot, 10, (*Progress).BecomeProbe, StateProbe, 11, 0},
		{"snapshot to probe, match past snapshot", StateSnapshot, 3, (*Progress).BecomeProbe, StateProbe, 6, 0},
		{"probe to replicate", StateProbe, 0, (*Progress).BecomeReplicate, StateReplicate, 6, 0},
		{"probe to snapshot", StateProbe, 0, func(pr *Progress) { pr.BecomeSnapshot(12) }, StateSnapshot, 9, 12},
	}
	for _, tt := range tests {
		pr := newTestProgress(tt.from, 5, 9)
		pr.PendingSnapshot = tt.pending
		pr.MsgAppProbesPaused = true
		pr.Inflights.Add(8, 1)
		tt.become(pr)
		if pr.State != tt.wantState || pr.Next != tt.wantNext || pr.PendingSnapshot != tt.wantPending {
			t.Errorf("%s: %s next %d pending %d; want %s %d %d", tt.name, pr.State, pr.Next, pr.PendingSnapshot, tt.wantState, tt.wantNext, tt.wantPending)
		}
		// A new state starts without the old one's flow-control history.
		if pr.MsgAppProbesPaused || pr.Inflights.Count() != 0 || pr.Match != 5 {
			t.Errorf("%s: paused %v inflight %d match %d after transition", tt.name, pr.MsgAppProbesPaused, pr.Inflights.Count(), pr.Match)
		}
	}
}

func TestTrackerCommittedAndQuorumActive(t *testing.T) {
	tr := MakeTracker(4, 0)
	for id, match := range map[uint64]uint64{1: 10, 2: 7, 3: 3} {
		tr.Voters[id] = struct{}{}
		tr.Progress[id] = tr.NewProgress(match+1, false)
		tr.Progress[id].Match = match
	}
	// A learner far ahead counts for nothing.
	tr.Learners[4] = struct{}{}
	tr.Progress[4] = tr.NewProgress(101, true)
	tr.Progress[4].Match = 100
	if got := tr.Committed(); got != 7 {
		t.Fatalf("Committed = %d, want 7", got)
	}
	for id, pr := range tr.Progress {
		pr.RecentActive = id == 1 || id == 4
	}
	if tr.QuorumActive() {
		t.Fatal("one voter and a learner active count as a quorum")
	}
	tr.Progress[3].RecentActive = true
	if !tr.QuorumActive() {
		t.Fatal("two of three voters active is not a quorum")
	}
	if got, want := tr.ConfState(), (raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("ConfState = %+v, want %+v", got, want)
	}
	var order []uint64
	tr.Visit(func(id uint64, _ *Progress) { order = append(order, id) })
	if !reflect.DeepEqual(order, []uint64{1, 2, 3, 4}) {
		t.Fatalf("Visit order %v, want ascending", order)
	}
}

func TestTrackerVotes(t *testing.T) {
	tr := MakeTracker(4, 0)
	for _, id := range []uint64{1, 2, 3, 4, 5} {
		tr.Voters[id] = struct{}{}
	}
	steps := []struct {
		id           uint64
		granted      bool
		wantGranted  int
		wantRejected int
		want         quorum.VoteResult
	}{
		{1, true, 1, 0, quorum.VotePending},
		{2, false, 1, 1, quorum.VotePending},
		// Only the first vote of a member counts.
		{2, true, 1, 1, quorum.VotePending},
		// A vote from a non-voter is not counted.
		{9, true, 1, 1, quorum.VotePending},
		{3, true, 2, 1, quorum.VotePending},
		{4, true, 3, 1, quorum.VoteWon},
	}
	for i, s := range steps {
		tr.RecordVote(s.id, s.granted)
		g, r, res := tr.TallyVotes()
		if g != s.wantGranted || r != s.wantRejected || res != s.want {
			t.Fatalf("step %d: TallyVotes = %d, %d, %s; want %d, %d, %s", i, g, r, res, s.wantGranted, s.wantRejected, s.want)
		}
	}
	tr.ResetVotes()
	for _, id := range []uint64{1, 2, 3} {
		tr.RecordVote(id, false)
	}
	if _, _, res := tr.TallyVotes(); res != quorum.VoteLost {
		t.Fatalf("three of five rejecting after reset: %s, want VoteLost", res)
	}
}

// BenchmarkTrackerCommitted is the leader's commit computation, run on
// every acknowledgement.
func BenchmarkTrackerCommitted(b *testing.B) {
	for _, voters := range []int{3, 5, 9} {
		b.Run(fmt.Sprintf("voters=%d", voters), func(b *testing.B) {
			tr := MakeTracker(256, 0)
			for id := uint64(1); id <= uint64(voters); id++ {
				tr.Voters[id] = struct{}{}
				tr.Progress[id] = tr.NewProgress(id+1, false)
				tr.Progress[id].Match = id * 10
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.Progress[1].Match++
				_ = tr.Committed()
			}
		})
	}
}
