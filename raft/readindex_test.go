package raft

// Linearizable reads by ReadIndex (Raft thesis §6.4): the leader takes its
// commit index as the read index, confirms it is still leader with a
// heartbeat round answered by a quorum, and only then answers. It answers
// nothing before it has committed an entry of its own term.

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// readRecorder collects the ReadStates each member's Readys hand out.
func readRecorder(nw *testNetwork) map[uint64][]ReadState {
	got := map[uint64][]ReadState{}
	nw.onReady = func(id uint64, rd Ready) {
		got[id] = append(got[id], rd.ReadStates...)
	}
	return got
}

func readCtxs(rs []ReadState) []string {
	var out []string
	for _, s := range rs {
		out = append(out, string(s.RequestCtx))
	}
	return out
}

// The leader answers only after a quorum has answered the heartbeat round
// that the request started; a heartbeat answer that is not for the round
// confirms nothing.
func TestReadIndexLeaderConfirmsWithHeartbeatQuorum(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	reads := readRecorder(nw)
	commit := nw.raft(1).raftLog.committed
	if err := nw.nodes[1].ReadIndex([]byte("r1")); err != nil {
		t.Fatal(err)
	}
	msgs := nw.handleReady(1)
	if len(reads[1]) != 0 {
		t.Fatalf("answered %v before any confirmation", reads[1])
	}
	hbs := msgsOfType(msgs, pb.MsgHeartbeat)
	if len(hbs) != 2 || len(hbs[0].Context) == 0 || !slices.Equal(hbs[0].Context, hbs[1].Context) {
		t.Fatalf("heartbeats %v, want one round to 2 and 3 with a shared context", hbs)
	}
	// A heartbeat answer from another round confirms nothing.
	_ = nw.nodes[1].Step(pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeatResp, Term: 1})
	if nw.handleReady(1); len(reads[1]) != 0 {
		t.Fatalf("answered %v on a heartbeat answer without the round's context", reads[1])
	}
	// 2's answer makes a quorum with the leader itself.
	nw.deliver(hbs[0])
	for _, m := range nw.handleReady(2) {
		nw.deliver(m)
	}
	nw.handleReady(1)
	if want := []ReadState{{Index: commit, RequestCtx: []byte("r1")}}; len(reads[1]) != 1 || reads[1][0].Index != commit || string(reads[1][0].RequestCtx) != "r1" {
		t.Fatalf("read states %v, want %v", reads[1], want)
	}
	// 3's late answer does not answer it twice.
	nw.deliver(hbs[1])
	nw.stabilize()
	if len(reads[1]) != 1 {
		t.Errorf("read answered %d times", len(reads[1]))
	}
}

// A new leader's commit index may lag what its predecessor committed, so
// it serves no read until an entry of its own term commits (§8).
func TestReadIndexWaitsForCurrentTermCommit(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2, 3}, 1, 1)
	_ = s.SetHardState(pb.HardState{Term: 1, Commit: 1})
	rn, err := NewRawNode(testConfig(1, 10, 1, s))
	if err != nil {
		t.Fatal(err)
	}
	r := rn.raft
	r.becomeCandidate()
	r.becomeLeader()
	r.bcastAppend()
	if err := rn.ReadIndex([]byte("early")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rd := rn.Ready()
		for _, m := range rd.Messages {
			if len(m.Context) > 0 {
				t.Fatalf("read round started before the term's first entry committed: %s", DescribeMessage(m))
			}
		}
		if len(rd.ReadStates) != 0 {
			t.Fatalf("answered %v before the term's first entry committed", rd.ReadStates)
		}
		_ = s.Append(rd.Entries)
		rn.Advance(rd)
		rn.Tick()
	}
	// 2 acknowledges the empty entry of term 2: it commits, the round starts.
	_ = rn.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: 2, Index: 3})
	rd := rn.Ready()
	rn.Advance(rd)
	var ctx []byte
	for _, m := range msgsOfType(rd.Messages, pb.MsgHeartbeat) {
		ctx = m.Context
	}
	if len(ctx) == 0 || len(rd.ReadStates) != 0 {
		t.Fatalf("after the commit: messages %v read states %v, want a round and no answer yet", rd.Messages, rd.ReadStates)
	}
	_ = rn.Step(pb.Message{From: 3, To: 1, Type: pb.MsgHeartbeatResp, Term: 2, Context: ctx})
	rd = rn.Ready()
	if len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != 3 || string(rd.ReadStates[0].RequestCtx) != "early" {
		t.Errorf("read states %v, want index 3 for early", rd.ReadStates)
	}
}

// A follower forwards the request to the leader and gets the answer in a
// MsgReadIndexResp; the read index is the leader's commit index.
func TestReadIndexFromFollower(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	reads := readRecorder(nw)
	var resp []pb.Message
	nw.intercept = func(m pb.Message) bool {
		if m.Type == pb.MsgReadIndexResp {
			resp = append(resp, m)
		}
		return true
	}
	if err := nw.nodes[2].ReadIndex([]byte("from 2")); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	commit := nw.raft(1).raftLog.committed
	if len(resp) != 1 || resp[0].From != 1 || resp[0].To != 2 || resp[0].Index != commit {
		t.Errorf("responses %v, want one from 1 to 2 with index %d", resp, commit)
	}
	if len(reads[2]) != 1 || reads[2][0].Index != commit || string(reads[2][0].RequestCtx) != "from 2" {
		t.Errorf("follower read states %v, want index %d", reads[2], commit)
	}
	if len(reads[1]) != 0 {
		t.Errorf("leader handed out the follower's read itself: %v", reads[1])
	}

	// Without a leader there is no one to ask.
	nw = newTestNetwork(t, 3)
	if err := nw.nodes[2].ReadIndex([]byte("r")); !errors.Is(err, ErrNoLeader) {
		t.Errorf("follower without leader: %v, want %v", err, ErrNoLeader)
	}
	nw.isolate(3)
	nw.campaign(3)
	if err := nw.nodes[3].ReadIndex([]byte("r")); !errors.Is(err, ErrNoLeader) {
		t.Errorf("candidate: %v, want %v", err, ErrNoLeader)
	}
}

// All requests that reach the leader between two Readys share one
// heartbeat round: N reads cost one heartbeat per follower, not N.
func TestReadIndexBatching(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	reads := readRecorder(nw)
	commit := nw.raft(1).raftLog.committed
	for _, ctx := range []string{"a", "b", "c"} {
		if err := nw.nodes[1].ReadIndex([]byte(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	// Two forwarded from followers arrive in the same interval.
	for _, from := range []uint64{2, 3} {
		m := pb.Message{From: from, To: 1, Type: pb.MsgReadIndex, Entries: []pb.Entry{{Data: []byte{'f', byte('0' + from)}}}}
		if err := nw.nodes[1].Step(m); err != nil {
			t.Fatal(err)
		}
	}
	msgs := nw.handleReady(1)
	if hbs := msgsOfType(msgs, pb.MsgHeartbeat); len(hbs) != 2 {
		t.Fatalf("%d heartbeats for 5 reads, want 2 (one round)", len(hbs))
	}
	for _, m := range msgs {
		nw.deliver(m)
	}
	nw.stabilize()
	if got := readCtxs(reads[1]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("leader answered %v, want [a b c]", got)
	}
	for _, id := range []uint64{2, 3} {
		if got := readCtxs(reads[id]); len(got) != 1 {
			t.Errorf("member %d got answers %v, want its one", id, got)
		}
	}
	for id, rs := range reads {
		for _, s := range rs {
			if s.Index != commit {
				t.Errorf("member %d read %q at %d, want %d", id, s.RequestCtx, s.Index, commit)
			}
		}
	}
}

// Requests that arrive while a round is out wait for the next round, and
// are answered with the commit index at its start; an answer to a later
// round confirms the earlier ones too.
func TestReadIndexRounds(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	reads := readRecorder(nw)
	commit1 := nw.raft(1).raftLog.committed
	_ = nw.nodes[1].ReadIndex([]byte("first"))
	round1 := msgsOfType(nw.handleReady(1), pb.MsgHeartbeat) // held back
	_ = nw.propose(1, "between")
	commit2 := nw.raft(1).raftLog.committed
	_ = nw.nodes[1].ReadIndex([]byte("second"))
	_ = nw.nodes[1].ReadIndex([]byte("third"))
	round2 := msgsOfType(nw.handleReady(1), pb.MsgHeartbeat)
	if len(round1) != 2 || len(round2) != 2 || slices.Equal(round1[0].Context, round2[0].Context) {
		t.Fatalf("rounds %v and %v, want two rounds of 2 heartbeats with different contexts", round1, round2)
	}
	if len(reads[1]) != 0 {
		t.Fatalf("answered %v before any round was confirmed", readCtxs(reads[1]))
	}
	nw.deliver(round2[1])
	nw.stabilize()
	want := []ReadState{{Index: commit1, RequestCtx: []byte("first")}, {Index: commit2, RequestCtx: []byte("second")}, {Index: commit2, RequestCtx: []byte("third")}}
	if len(reads[1]) != len(want) {
		t.Fatalf("answers %v, want %v", reads[1], want)
	}
	for i := range want {
		if reads[1][i].Index != want[i].Index || string(reads[1][i].RequestCtx) != string(want[i].RequestCtx) {
			t.Errorf("answer %d: %q at %d, want %q at %d", i, reads[1][i].RequestCtx, reads[1][i].Index, want[i].RequestCtx, want[i].Index)
		}
	}
	// Round 1's own answers, arriving late, change nothing.
	for _, m := range round1 {
		nw.deliver(m)
	}
	nw.stabilize()
	if len(reads[1]) != len(want) {
		t.Errorf("late answers to round 1 produced more read states: %v", reads[1])
	}
}

// A round whose heartbeats were lost is not lost with them: every later
// heartbeat carries the newest pending round, so the reads are answered
// once the followers are reachable again, without a new request.
func TestReadIndexRoundRetriedByHeartbeats(t *testing.T) {
	nw := newTestNetwork(t, 3)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	reads := readRecorder(nw)
	nw.isolate(1)
	_ = nw.nodes[1].ReadIndex([]byte("r"))
	nw.stabilize()
	if len(reads[1]) != 0 {
		t.Fatalf("answered %v without confirmation", reads[1])
	}
	nw.recover()
	nw.tick(1)
	if got := readCtxs(reads[1]); !slices.Equal(got, []string{"r"}) {
		t.Errorf("answers after the followers are back: %v, want [r]", got)
	}
}

// A leader cut off with a minority cannot get a quorum to confirm a round,
// so it never answers: meanwhile the majority may have elected a new
// leader and committed more, and an answer would be stale.
func TestReadIndexMinorityPartitionedLeader(t *testing.T) {
	nw := newTestNetwork(t, 5)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	reads := readRecorder(nw)
	for _, a := range []uint64{1, 2} {
		for _, b := range []uint64{3, 4, 5} {
			nw.cut(a, b)
		}
	}
	_ = nw.nodes[1].ReadIndex([]byte("stale?"))
	_ = nw.nodes[2].ReadIndex([]byte("stale from 2?"))
	nw.tick(50)
	// 1 still believes it leads, at an older term.
	lead := None
	for _, id := range []uint64{3, 4, 5} {
		if nw.raft(id).state == StateLeader {
			lead = id
		}
	}
	if lead == None {
		t.Fatal("the majority did not elect a leader")
	}
	if err := nw.propose(lead, "y"); err != nil {
		t.Fatal(err)
	}
	if len(reads[1]) != 0 || len(reads[2]) != 0 {
		t.Fatalf("minority answered reads: %v %v", reads[1], reads[2])
	}
	nw.recover()
	nw.tick(5)
	if len(reads[1]) != 0 || len(reads[2]) != 0 {
		t.Errorf("reads of the old term answered after the partition healed: %v %v", reads[1], reads[2])
	}
}

// A single-member cluster needs nobody's confirmation: the answer is
// there at once, without any message.
func TestReadIndexSingleMember(t *testing.T) {
	nw := newTestNetwork(t, 1)
	nw.campaign(1)
	_ = nw.propose(1, "x")
	if err := nw.nodes[1].ReadIndex([]byte("solo")); err != nil {
		t.Fatal(err)
	}
	rd := nw.nodes[1].Ready()
	if len(rd.Messages) != 0 {
		t.Errorf("messages %v, want none", rd.Messages)
	}
	if len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != nw.raft(1).raftLog.committed || string(rd.ReadStates[0].RequestCtx) != "solo" {
		t.Errorf("read states %v, want solo at %d", rd.ReadStates, nw.raft(1).raftLog.committed)
	}
	nw.nodes[1].Advance(rd)
}

// Learners answer heartbeats but are not part of the quorum that
// confirms a read.
func TestReadIndexLearnerAckDoesNotCount(t *testing.T) {
	nw := newTestNetworkWith(t, []uint64{1, 2}, []uint64{3})
	nw.campaign(1)
	reads := readRecorder(nw)
	nw.isolate(2)
	_ = nw.nodes[1].ReadIndex([]byte("r"))
	nw.stabilize()
	if len(reads[1]) != 0 {
		t.Fatalf("read confirmed by a learner's answer: %v", reads[1])
	}
	// A learner may read too, through the leader.
	nw.recover()
	_ = nw.nodes[3].ReadIndex([]byte("learner"))
	nw.tick(1)
	if got := readCtxs(reads[3]); !slices.Equal(got, []string{"learner"}) {
		t.Errorf("learner's answers %v", got)
	}
}
