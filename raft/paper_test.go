package raft

// The rules of the Raft paper ("In Search of an Understandable Consensus
// Algorithm", Ongaro and Ousterhout): Figure 2 and §5.2-5.4, one test per
// rule, each named after the rule it states. This file has the rules for
// all servers and for elections (§5.2); paper_replication_test.go those
// for log replication (§5.3) and safety (§5.4). Most tests drive a single
// member directly and look at the messages it queues; the ones about a
// whole cluster (Figures 7 and 8) use testNetwork.

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// §5.2: "When servers start up, they begin as followers", in the term
// they persisted.
func TestStartAsFollower(t *testing.T) {
	s := newTestStorage([]uint64{1, 2, 3})
	_ = s.SetHardState(pb.HardState{Term: 4, Vote: 2})
	r := newTestRaft(t, 1, s)
	if r.state != StateFollower {
		t.Errorf("state = %s, want %s", r.state, StateFollower)
	}
	if r.Term != 4 || r.Vote != 2 || r.lead != None {
		t.Errorf("term %d vote %d lead %d, want 4 2 0", r.Term, r.Vote, r.lead)
	}
}

// Figure 2, all servers: "If RPC request or response contains term T >
// currentTerm: set currentTerm = T, convert to follower."
func TestFollowerUpdateTermFromMessage(t *testing.T) {
	testUpdateTermFromMessage(t, StateFollower)
}

func TestCandidateUpdateTermFromMessage(t *testing.T) {
	testUpdateTermFromMessage(t, StateCandidate)
}

func TestPreCandidateUpdateTermFromMessage(t *testing.T) {
	testUpdateTermFromMessage(t, StatePreCandidate)
}

func TestLeaderUpdateTermFromMessage(t *testing.T) {
	testUpdateTermFromMessage(t, StateLeader)
}

func testUpdateTermFromMessage(t *testing.T, state StateType) {
	for _, tt := range []struct {
		m        pb.Message
		wantLead uint64
	}{
		// A leader's messages also tell us who leads the new term.
		{pb.Message{Type: pb.MsgApp}, 2},
		{pb.Message{Type: pb.MsgHeartbeat}, 2},
		{pb.Message{Type: pb.MsgVote}, None},
		{pb.Message{Type: pb.MsgAppResp}, None},
		{pb.Message{Type: pb.MsgHeartbeatResp}, None},
		{pb.Message{Type: pb.MsgVoteResp, Reject: true}, None},
		{pb.Message{Type: pb.MsgPreVoteResp, Reject: true}, None},
	} {
		t.Run(tt.m.Type.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2, 3}))
			switch state {
			case StateFollower:
				r.becomeFollower(1, 2)
			case StateCandidate:
				r.becomeCandidate()
			case StatePreCandidate:
				r.becomeFollower(1, None)
				r.becomePreCandidate()
			case StateLeader:
				r.becomeCandidate()
				r.becomeLeader()
			}
			if r.Term != 1 {
				t.Fatalf("setup: term %d, want 1", r.Term)
			}
			m := tt.m
			m.From, m.To, m.Term = 2, 1, 2
			if err := r.Step(m); err != nil {
				t.Fatal(err)
			}
			if r.Term != 2 || r.state != StateFollower || r.lead != tt.wantLead {
				t.Errorf("after %s at term 2: term %d state %s lead %d, want term 2 %s lead %d",
					m.Type, r.Term, r.state, r.lead, StateFollower, tt.wantLead)
			}
		})
	}
}

// Figure 2, RequestVote and AppendEntries receivers: "Reply false if term
// < currentTerm." A stale message never reaches the role's step function
// and never changes our state; the only answer it may get is one that
// carries our newer term (with CheckQuorum or PreVote a stale leader must
// learn it, see TestStaleLeaderStepsDown).
func TestRejectStaleTermMessage(t *testing.T) {
	types := []pb.MessageType{
		pb.MsgApp, pb.MsgHeartbeat, pb.MsgVote, pb.MsgPreVote, pb.MsgAppResp,
		pb.MsgHeartbeatResp, pb.MsgVoteResp, pb.MsgPreVoteResp, pb.MsgTimeoutNow,
	}
	for _, opts := range []struct {
		name string
		o    func(*Config)
	}{
		{"plain", func(*Config) {}},
		{"checkquorum", withCheckQuorum},
		{"prevote", withPreVote},
	} {
		for _, typ := range types {
			t.Run(opts.name+"/"+typ.String(), func(t *testing.T) {
				s := newTestLogStorage([]uint64{1, 2, 3}, 1, 2)
				_ = s.SetHardState(pb.HardState{Term: 3, Vote: 3})
				r := newTestRaft(t, 1, s, opts.o)
				called := false
				r.step = func(*raft, pb.Message) error { called = true; return nil }
				if err := r.Step(pb.Message{Type: typ, From: 2, To: 1, Term: 2, Index: 5, LogTerm: 2}); err != nil {
					t.Fatal(err)
				}
				if called {
					t.Errorf("stale %s reached the step function", typ)
				}
				if r.Term != 3 || r.Vote != 3 || r.state != StateFollower {
					t.Errorf("state changed: term %d vote %d %s", r.Term, r.Vote, r.state)
				}
				for _, m := range readMessages(r) {
					if m.Term != 3 || !(m.Reject || m.Type == pb.MsgAppResp) || m.To != 2 {
						t.Errorf("answer to a stale %s: %s", typ, DescribeMessage(m))
					}
					if m.Type == pb.MsgAppResp && m.Index != 0 {
						t.Errorf("answer to a stale %s acknowledges something: %s", typ, DescribeMessage(m))
					}
				}
			})
		}
	}
}

// Figure 2, leaders: "Upon election: send initial empty AppendEntries RPCs
// (heartbeat) to each server." Here the announcement carries the leader's
// empty entry of its term (see becomeLeader).
func TestLeaderAnnouncesElection(t *testing.T) {
	s := newTestLogStorage([]uint64{1, 2, 3}, 1, 1)
	r := newTestRaft(t, 1, s)
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	readMessages(r)
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgVoteResp, Term: 2})
	if r.state != StateLeader {
		t.Fatalf("state %s, want leader", r.state)
	}
	msgs := readMessages(r)
	var got []string
	for _, m := range msgs {
		got = append(got, DescribeMessage(m))
	}
	want := []string{
		`1->2 MsgApp Term:2 Log:1/2 Entries:[2/3 ""]`,
		`1->3 MsgApp Term:2 Log:1/2 Entries:[2/3 ""]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages on election:\n%v\nwant\n%v", got, want)
	}
}

// Figure 2, leaders: "... repeat during idle periods to prevent election
// timeouts (§5.2)." Heartbeats go to every follower every HeartbeatTick
// and carry no entries.
func TestLeaderBcastBeat(t *testing.T) {
	const hb = 3
	s := newTestStorage([]uint64{1, 2, 3})
	r := newTestRaft(t, 1, s, withTicks(10, hb))
	becomeEstablishedLeader(t, r, s)
	for i := 0; i < 5; i++ {
		if err := r.Step(pb.Message{From: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	readMessages(r)
	for round := 0; round < 3; round++ {
		for i := 0; i < hb-1; i++ {
			r.tick()
			if msgs := readMessages(r); len(msgs) != 0 {
				t.Fatalf("round %d tick %d: sent %d messages before the heartbeat interval", round, i+1, len(msgs))
			}
		}
		r.tick()
		msgs := readMessages(r)
		want := []pb.Message{
			// The commit told is what each follower is known to hold.
			{From: 1, To: 2, Term: 1, Type: pb.MsgHeartbeat, Commit: 1},
			{From: 1, To: 3, Term: 1, Type: pb.MsgHeartbeat, Commit: 1},
		}
		if len(msgs) != len(want) {
			t.Fatalf("round %d: %d messages, want %d: %v", round, len(msgs), len(want), msgs)
		}
		for i := range want {
			if DescribeMessage(msgs[i]) != DescribeMessage(want[i]) || len(msgs[i].Entries) != 0 {
				t.Errorf("round %d: heartbeat %s, want %s", round, DescribeMessage(msgs[i]), DescribeMessage(want[i]))
			}
		}
	}
}

// Figure 2, followers: "If election timeout elapses without receiving
// AppendEntries RPC from current leader or granting vote to candidate:
// convert to candidate." Candidates: "On conversion to candidate, start
// election: increment currentTerm, vote for self, reset election timer,
// send RequestVote RPCs to all other servers."
func TestFollowerStartElection(t *testing.T) {
	testNonleaderStartElection(t, StateFollower)
}

// Figure 2, candidates: "If election timeout elapses: start new election."
func TestCandidateStartNewElection(t *testing.T) {
	testNonleaderStartElection(t, StateCandidate)
}

func testNonleaderStartElection(t *testing.T, state StateType) {
	const et = 10
	s := newTestLogStorage([]uint64{1, 2, 3}, 1, 2)
	r := newTestRaft(t, 1, s, withTicks(et, 1))
	switch state {
	case StateFollower:
		r.becomeFollower(2, 2)
	case StateCandidate:
		r.becomeCandidate()
	}
	term := r.Term
	readMessages(r)
	// Any timeout is below 2*et, and the next one at least et further on.
	for i := 1; i < 2*et; i++ {
		r.tick()
	}
	if r.Term != term+1 || r.state != StateCandidate || r.Vote != 1 {
		t.Fatalf("term %d state %s vote %d, want term %d candidate vote 1", r.Term, r.state, r.Vote, term+1)
	}
	if !r.trk.Votes[1] || len(r.trk.Votes) != 1 {
		t.Errorf("votes %v, want only our own", r.trk.Votes)
	}
	if r.electionElapsed >= et {
		t.Errorf("election timer not reset: %d ticks elapsed", r.electionElapsed)
	}
	var got []string
	for _, m := range readMessages(r) {
		got = append(got, DescribeMessage(m))
	}
	want := []string{
		fmt.Sprintf("1->2 MsgVote Term:%d Log:2/2", term+1),
		fmt.Sprintf("1->3 MsgVote Term:%d Log:2/2", term+1),
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}
}

// Figure 2, followers: the election timer restarts whenever the follower
// hears from the current leader or grants a vote.
func TestFollowerElectionTimerResets(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    pb.Message
	}{
		{"AppendEntries", pb.Message{From: 2, To: 1, Type: pb.MsgApp, Term: 1}},
		{"heartbeat", pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeat, Term: 1}},
		{"granted vote", pb.Message{From: 3, To: 1, Type: pb.MsgVote, Term: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2, 3}))
			r.becomeFollower(1, 2)
			for i := 1; i < r.randomizedElectionTimeout; i++ {
				r.tick()
			}
			if err := r.Step(tt.m); err != nil {
				t.Fatal(err)
			}
			readMessages(r)
			term := r.Term
			for i := 1; i < r.randomizedElectionTimeout; i++ {
				r.tick()
			}
			if r.state != StateFollower || r.Term != term {
				t.Fatalf("campaigned %d ticks after the timer was reset", r.randomizedElectionTimeout-1)
			}
			r.tick()
			if r.state != StateCandidate {
				t.Fatalf("state %s after a full election timeout, want candidate", r.state)
			}
		})
	}
}

// Figure 2, candidates: "If votes received from majority of servers:
// become leader." A clear majority of rejections sends the candidate back
// to follower; anything else leaves the election open.
func TestLeaderElectionInOneRoundRPC(t *testing.T) {
	for i, tt := range []struct {
		size  int
		votes map[uint64]bool
		want  StateType
	}{
		// won
		{1, map[uint64]bool{}, StateLeader},
		{3, map[uint64]bool{2: true, 3: true}, StateLeader},
		{3, map[uint64]bool{2: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true, 4: true, 5: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true, 4: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true}, StateLeader},
		{5, map[uint64]bool{2: false, 3: true, 4: true}, StateLeader},
		// lost
		{3, map[uint64]bool{2: false, 3: false}, StateFollower},
		{5, map[uint64]bool{2: false, 3: false, 4: false, 5: false}, StateFollower},
		{5, map[uint64]bool{2: true, 3: false, 4: false, 5: false}, StateFollower},
		{5, map[uint64]bool{2: false, 3: false, 4: false}, StateFollower},
		// pending
		{3, map[uint64]bool{}, StateCandidate},
		{3, map[uint64]bool{2: false}, StateCandidate},
		{5, map[uint64]bool{2: true}, StateCandidate},
		{5, map[uint64]bool{2: false, 3: false}, StateCandidate},
		{5, map[uint64]bool{}, StateCandidate},
		{5, map[uint64]bool{2: true, 3: false, 4: false}, StateCandidate},
	} {
		r := newTestRaft(t, 1, newTestStorage(idsUpTo(tt.size)))
		if err := r.Step(pb.Message{From: 1, To: 1, Type: pb.MsgHup}); err != nil {
			t.Fatal(err)
		}
		for _, id := range sortedIDs(tt.votes) {
			_ = r.Step(pb.Message{From: id, To: 1, Term: r.Term, Type: pb.MsgVoteResp, Reject: !tt.votes[id]})
		}
		if r.state != tt.want || r.Term != 1 {
			t.Errorf("#%d (size %d, votes %v): state %s term %d, want %s term 1", i, tt.size, tt.votes, r.state, r.Term, tt.want)
		}
	}
}

// Figure 2, RequestVote receiver: "If votedFor is null or candidateId ...
// grant vote" (§5.2: "Each server will vote for at most one candidate in a
// given term, on a first-come-first-served basis").
func TestFollowerVote(t *testing.T) {
	for i, tt := range []struct {
		vote, candidate uint64
		wantReject      bool
	}{
		{None, 2, false},
		{None, 3, false},
		{2, 2, false}, // a retransmitted request gets the same answer
		{3, 3, false},
		{2, 3, true},
		{3, 2, true},
	} {
		s := newTestStorage([]uint64{1, 2, 3})
		_ = s.SetHardState(pb.HardState{Term: 1, Vote: tt.vote})
		r := newTestRaft(t, 1, s)
		if err := r.Step(pb.Message{From: tt.candidate, To: 1, Term: 1, Type: pb.MsgVote}); err != nil {
			t.Fatal(err)
		}
		msgs := readMessages(r)
		if len(msgs) != 1 || msgs[0].Type != pb.MsgVoteResp || msgs[0].To != tt.candidate || msgs[0].Term != 1 || msgs[0].Reject != tt.wantReject {
			t.Errorf("#%d: answer %v, want MsgVoteResp to %d reject=%t", i, msgs, tt.candidate, tt.wantReject)
		}
		wantVote := tt.vote
		if wantVote == None {
			wantVote = tt.candidate
		}
		if r.Vote != wantVote {
			t.Errorf("#%d: vote %d, want %d", i, r.Vote, wantVote)
		}
	}
}

// §5.2: one vote per term, and the vote survives a restart (it is part of
// the hard state the application persists).
func TestFollowerVoteOncePerTerm(t *testing.T) {
	s := newTestStorage([]uint64{1, 2, 3})
	rn, err := NewRawNode(testConfig(1, 10, 1, s))
	if err != nil {
		t.Fatal(err)
	}
	vote := func(rn *RawNode, from, term uint64) bool {
		if err := rn.Step(pb.Message{From: from, To: 1, Term: term, Type: pb.MsgVote}); err != nil {
			t.Fatal(err)
		}
		rd := rn.Ready()
		if !IsEmptyHardState(rd.HardState) {
			_ = s.SetHardState(rd.HardState)
		}
		rn.Advance(rd)
		resp := msgsOfType(rd.Messages, pb.MsgVoteResp)
		if len(resp) != 1 {
			t.Fatalf("answers %v", rd.Messages)
		}
		return !resp[0].Reject
	}
	if !vote(rn, 2, 5) {
		t.Fatal("first vote in term 5 rejected")
	}
	if vote(rn, 3, 5) {
		t.Fatal("second vote in term 5 granted to another candidate")
	}
	// Restart from what was persisted.
	rn, err = NewRawNode(testConfig(1, 10, 1, s))
	if err != nil {
		t.Fatal(err)
	}
	if vote(rn, 3, 5) {
		t.Fatal("after a restart, a second vote in term 5 was granted")
	}
	if !vote(rn, 3, 6) {
		t.Fatal("vote in a new term rejected")
	}
}

// Figure 2, candidates: "If AppendEntries RPC received from new leader:
// convert to follower." §5.2: "If the leader's term ... is at least as
// large as the candidate's current term, then the candidate recognizes the
// leader as legitimate and returns to follower state."
func TestCandidateFallback(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    pb.Message
	}{
		{"same term MsgApp", pb.Message{From: 2, To: 1, Term: 1, Type: pb.MsgApp}},
		{"same term heartbeat", pb.Message{From: 2, To: 1, Term: 1, Type: pb.MsgHeartbeat}},
		{"higher term MsgApp", pb.Message{From: 2, To: 1, Term: 2, Type: pb.MsgApp}},
	} {
		for _, pre := range []bool{false, true} {
			name := tt.name
			if pre {
				name = "prevote/" + name
			}
			t.Run(name, func(t *testing.T) {
				r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2, 3}))
				if pre {
					r.becomeFollower(1, None)
					r.becomePreCandidate()
				} else {
					r.becomeCandidate()
				}
				if err := r.Step(tt.m); err != nil {
					t.Fatal(err)
				}
				if r.state != StateFollower || r.Term != tt.m.Term || r.lead != 2 {
					t.Errorf("state %s term %d lead %d, want follower of 2 at term %d", r.state, r.Term, r.lead, tt.m.Term)
				}
				// The message is also handled, not just noticed.
				msgs := readMessages(r)
				if len(msgs) != 1 || msgs[0].To != 2 || msgs[0].Reject {
					t.Errorf("answers %v, want one acceptance to 2", msgs)
				}
			})
		}
	}
}

// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a
// fixed interval." Here the interval is [ElectionTick, 2*ElectionTick),
// and every value in it occurs.
func TestFollowerElectionTimeoutRandomized(t *testing.T) {
	testNonleaderElectionTimeoutRandomized(t, StateFollower)
}

func TestCandidateElectionTimeoutRandomized(t *testing.T) {
	testNonleaderElectionTimeoutRandomized(t, StateCandidate)
}

func testNonleaderElectionTimeoutRandomized(t *testing.T, state StateType) {
	const et = 10
	r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2, 3}), withTicks(et, 1))
	seen := map[int]int{}
	for round := 0; round < 50*et; round++ {
		switch state {
		case StateFollower:
			r.becomeFollower(r.Term+1, 2)
		case StateCandidate:
			r.becomeCandidate()
		}
		term := r.Term
		ticks := 0
		for r.Term == term && ticks < 3*et {
			r.tick()
			ticks++
		}
		readMessages(r)
		if ticks < et || ticks >= 2*et {
			t.Fatalf("round %d: timed out after %d ticks, want [%d, %d)", round, ticks, et, 2*et)
		}
		seen[ticks]++
	}
	for d := et; d < 2*et; d++ {
		if seen[d] == 0 {
			t.Errorf("a timeout of %d ticks never occurred: %v", d, seen)
		}
	}
}

// §5.2: randomized timeouts make it rare that more than one member times
// out at once, so split votes are rare.
func TestFollowersElectionTimeoutNonconflict(t *testing.T) {
	testNonleadersElectionTimeoutNonconflict(t, StateFollower)
}

func TestCandidatesElectionTimeoutNonconflict(t *testing.T) {
	testNonleadersElectionTimeoutNonconflict(t, StateCandidate)
}

func testNonleadersElectionTimeoutNonconflict(t *testing.T, state StateType) {
	const et, size, rounds = 10, 5, 1000
	ids := idsUpTo(size)
	rs := make([]*raft, size)
	for i, id := range ids {
		rs[i] = newTestRaft(t, id, newTestStorage(ids), withTicks(et, 1))
	}
	conflicts := 0
	for round := 0; round < rounds; round++ {
		terms := make([]uint64, size)
		for i, r := range rs {
			switch state {
			case StateFollower:
				r.becomeFollower(r.Term+1, None)
			case StateCandidate:
				r.becomeCandidate()
			}
			terms[i] = r.Term
		}
		timedOut := 0
		for timedOut == 0 {
			for i, r := range rs {
				r.tick()
				if r.Term != terms[i] {
					timedOut++
				}
			}
		}
		for _, r := range rs {
			readMessages(r)
		}
		if timedOut > 1 {
			conflicts++
		}
	}
	// With 5 members drawing from 10 values, about a quarter of the rounds
	// have a tie for the earliest timeout.
	if p := float64(conflicts) / rounds; p > 0.3 {
		t.Errorf("%d of %d rounds had more than one member time out at once (%.2f), want <= 0.3", conflicts, rounds, p)
	}
}
