package raft

// The Raft paper's rules for log replication (§5.3) and safety (§5.4),
// continued from paper_test.go.

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// Figure 2, leaders: "If command received from client: append entry to
// local log"; §5.3: "then issues AppendEntries RPCs in parallel to each of
// the other servers to replicate the entry."
func TestLeaderStartReplication(t *testing.T) {
	s := newTestStorage([]uint64{1, 2, 3})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	li := r.raftLog.lastIndex()
	if err := r.Step(pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("some data")}}}); err != nil {
		t.Fatal(err)
	}
	if got := r.raftLog.lastIndex(); got != li+1 {
		t.Fatalf("last index %d, want %d", got, li+1)
	}
	if r.raftLog.committed != li {
		t.Errorf("committed %d before any follower acknowledged", r.raftLog.committed)
	}
	wantEnt := pb.Entry{Index: li + 1, Term: 1, Data: []byte("some data")}
	if u := r.raftLog.unstableEntries(); len(u) != 1 || DescribeEntry(u[0]) != DescribeEntry(wantEnt) {
		t.Errorf("unstable entries %v, want [%s]", u, DescribeEntry(wantEnt))
	}
	var got []string
	for _, m := range readMessages(r) {
		got = append(got, DescribeMessage(m))
	}
	want := []string{
		fmt.Sprintf(`1->2 MsgApp Term:1 Log:1/%d Commit:%d Entries:[1/%d "some data"]`, li, li, li+1),
		fmt.Sprintf(`1->3 MsgApp Term:1 Log:1/%d Commit:%d Entries:[1/%d "some data"]`, li, li, li+1),
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages\n%v\nwant\n%v", got, want)
	}
}

// §5.3: "When the entry has been safely replicated, the leader applies
// the entry to its state machine"; "the leader ... includes [the highest
// index it knows to be committed] in future AppendEntries RPCs ... so that
// the other servers eventually find out."
func TestLeaderCommitEntry(t *testing.T) {
	s := newTestStorage([]uint64{1, 2, 3})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	li := r.raftLog.lastIndex()
	_ = r.Step(pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("some data")}}})
	// The leader persists its entry (the Ready that carries it) while
	// the followers take theirs: it tells nobody of a commit it could
	// still lose in a crash.
	persistAll(r, s)
	for _, m := range readMessages(r) {
		_ = r.Step(pb.Message{From: m.To, To: 1, Type: pb.MsgAppResp, Term: m.Term, Index: m.Index + uint64(len(m.Entries))})
	}
	if r.raftLog.committed != li+1 {
		t.Fatalf("committed %d, want %d", r.raftLog.committed, li+1)
	}
	ents := r.raftLog.nextCommittedEnts()
	if len(ents) != 1 || ents[0].Index != li+1 || string(ents[0].Data) != "some data" {
		t.Errorf("entries to apply %v, want the proposal", ents)
	}
	told := map[uint64]bool{}
	for _, m := range readMessages(r) {
		if m.Type == pb.MsgApp && m.Commit == li+1 {
			told[m.To] = true
		}
	}
	if !told[2] || !told[3] {
		t.Errorf("followers told of the new commit index: %v, want 2 and 3", told)
	}
}

// §5.3: "A log entry is committed once the leader that created the entry
// has replicated it on a majority of the servers."
func TestLeaderAcknowledgeCommit(t *testing.T) {
	for i, tt := range []struct {
		size      int
		acceptors []uint64
		want      bool
	}{
		{1, nil, true},
		{3, nil, false},
		{3, []uint64{2}, true},
		{3, []uint64{2, 3}, true},
		{5, nil, false},
		{5, []uint64{2}, false},
		{5, []uint64{2, 3}, true},
		{5, []uint64{2, 3, 4}, true},
		{5, []uint64{2, 3, 4, 5}, true},
	} {
		s := newTestStorage(idsUpTo(tt.size))
		r := newTestRaft(t, 1, s)
		becomeEstablishedLeader(t, r, s)
		li := r.raftLog.lastIndex()
		_ = r.Step(pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("some data")}}})
		readMessages(r)
		for _, id := range tt.acceptors {
			_ = r.Step(pb.Message{From: id, To: 1, Type: pb.MsgAppResp, Term: r.Term, Index: li + 1})
		}
		if got := r.raftLog.committed > li; got != tt.want {
			t.Errorf("#%d (size %d, acks %v): committed = %t, want %t", i, tt.size, tt.acceptors, got, tt.want)
		}
	}
}

// §5.3: "This also commits all preceding entries in the leader's log,
// including entries created by previous leaders."
func TestLeaderCommitPrecedingEntries(t *testing.T) {
	for i, terms := range [][]uint64{
		{},
		{2},
		{1, 2},
		{1},
		{1, 1, 2, 2},
	} {
		s := newTestLogStorage([]uint64{1, 2, 3}, terms...)
		_ = s.SetHardState(pb.HardState{Term: 2})
		r := newTestRaft(t, 1, s)
		r.becomeCandidate()
		r.becomeLeader()
		_ = r.Step(pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []pb.Entry{{Data: []byte("some data")}}})
		readMessages(r)
		li := r.raftLog.lastIndex()
		_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: 3, Index: li})
		want := append(entsWithTerms(1, terms...), pb.Entry{Index: uint64(len(terms)) + 1, Term: 3}, pb.Entry{Index: uint64(len(terms)) + 2, Term: 3, Data: []byte("some data")})
		got := r.raftLog.nextCommittedEnts()
		if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
			t.Errorf("#%d: committed entries %s, want %s", i, g, w)
		}
	}
}

// Figure 2, AppendEntries receiver: "If leaderCommit > commitIndex, set
// commitIndex = min(leaderCommit, index of last new entry)."
func TestFollowerCommitEntry(t *testing.T) {
	data := func(s string) []byte { return []byte(s) }
	for i, tt := range []struct {
		log        []uint64 // terms of the follower's entries before
		ents       []pb.Entry
		commit     uint64
		wantCommit uint64
	}{
		{nil, []pb.Entry{{Term: 1, Index: 1, Data: data("a")}}, 1, 1},
		{nil, []pb.Entry{{Term: 1, Index: 1, Data: data("a")}, {Term: 1, Index: 2, Data: data("b")}}, 2, 2},
		{nil, []pb.Entry{{Term: 1, Index: 1, Data: data("a")}, {Term: 1, Index: 2, Data: data("b")}}, 1, 1},
		{nil, []pb.Entry{{Term: 1, Index: 1, Data: data("a")}, {Term: 1, Index: 2, Data: data("b")}}, 0, 0},
		// The leader knows more is committed than it sends: not past what
		// this message brings, which is all the leader vouches for.
		{nil, []pb.Entry{{Term: 1, Index: 1, Data: data("a")}, {Term: 1, Index: 2, Data: data("b")}}, 5, 2},
		// Our entries past the new ones may not be the leader's: the
		// leader's commit index does not vouch for them.
		{[]uint64{1, 1, 1}, []pb.Entry{{Term: 1, Index: 1}}, 3, 1},
	} {
		r := newTestRaft(t, 1, newTestLogStorage([]uint64{1, 2, 3}, tt.log...))
		r.becomeFollower(2, 2)
		if err := r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgApp, Term: 2, Entries: tt.ents, Commit: tt.commit}); err != nil {
			t.Fatal(err)
		}
		if r.raftLog.committed != tt.wantCommit {
			t.Errorf("#%d: committed %d, want %d", i, r.raftLog.committed, tt.wantCommit)
		}
		if got := r.raftLog.nextCommittedEnts(); fmt.Sprint(got) != fmt.Sprint(tt.ents[:tt.wantCommit]) {
			t.Errorf("#%d: entries to apply %v, want %v", i, got, tt.ents[:tt.wantCommit])
		}
	}
}

// Figure 2, AppendEntries receiver: "Reply false if log doesn't contain an
// entry at prevLogIndex whose term matches prevLogTerm." The rejection
// carries a hint for the leader (see TestFastBacktracking).
func TestFollowerCheckMsgApp(t *testing.T) {
	for i, tt := range []struct {
		logTerm, index uint64
		wantIndex      uint64
		wantReject     bool
		wantHint       uint64
		wantHintTerm   uint64
	}{
		// Below the commit index everything matches: the answer says how
		// far this follower is known to agree.
		{0, 0, 1, false, 0, 0},
		{1, 1, 1, false, 0, 0},
		// Matches an uncommitted entry.
		{2, 2, 2, false, 0, 0},
		// Entry 2 is of term 2, not 1: the last entry of term <= 1 is 1.
		{1, 2, 2, true, 1, 1},
		// No entry 3 at all: our last entry is the best guess.
		{3, 3, 3, true, 2, 2},
	} {
		s := newTestLogStorage([]uint64{1, 2, 3}, 1, 2)
		_ = s.SetHardState(pb.HardState{Term: 3, Commit: 1})
		r := newTestRaft(t, 1, s)
		if err := r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgApp, Term: 3, LogTerm: tt.logTerm, Index: tt.index}); err != nil {
			t.Fatal(err)
		}
		msgs := readMessages(r)
		want := pb.Message{From: 1, To: 2, Type: pb.MsgAppResp, Term: 3, Index: tt.wantIndex, Reject: tt.wantReject, RejectHint: tt.wantHint, LogTerm: tt.wantHintTerm}
		if len(msgs) != 1 || DescribeMessage(msgs[0]) != DescribeMessage(want) || msgs[0].LogTerm != want.LogTerm {
			t.Errorf("#%d: answer %v, want %s", i, msgs, DescribeMessage(want))
		}
	}
}

// Figure 2, AppendEntries receiver: "If an existing entry conflicts with a
// new one (same index but different terms), delete the existing entry and
// all that follow it. Append any new entries not already in the log."
func TestFollowerAppendEntries(t *testing.T) {
	for i, tt := range []struct {
		index, logTerm uint64
		ents           []pb.Entry
		wantLog        []pb.Entry
		wantUnstable   []pb.Entry
	}{
		{2, 2, entsWithTerms(3, 3), entsWithTerms(1, 1, 2, 3), entsWithTerms(3, 3)},
		{1, 1, entsWithTerms(2, 3, 4), entsWithTerms(1, 1, 3, 4), entsWithTerms(2, 3, 4)},
		{0, 0, entsWithTerms(1, 1), entsWithTerms(1, 1, 2), nil},
		{0, 0, entsWithTerms(1, 3), entsWithTerms(1, 3), entsWithTerms(1, 3)},
		// Entries already present are kept, the conflicting tail replaced.
		{0, 0, entsWithTerms(1, 1, 2, 4), entsWithTerms(1, 1, 2, 4), entsWithTerms(3, 4)},
	} {
		s := newTestLogStorage([]uint64{1, 2, 3}, 1, 2)
		r := newTestRaft(t, 1, s)
		r.becomeFollower(2, 2)
		if err := r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgApp, Term: 4, LogTerm: tt.logTerm, Index: tt.index, Entries: tt.ents}); err != nil {
			t.Fatal(err)
		}
		if got := entryIDs(r.raftLog.allEntries()); !slices.Equal(got, entryIDs(tt.wantLog)) {
			t.Errorf("#%d: log %v, want %v", i, got, entryIDs(tt.wantLog))
		}
		if got := entryIDs(r.raftLog.unstableEntries()); !slices.Equal(got, entryIDs(tt.wantUnstable)) {
			t.Errorf("#%d: unstable %v, want %v", i, got, entryIDs(tt.wantUnstable))
		}
	}
}

// §5.3 and Figure 7: "the leader handles inconsistencies by forcing the
// followers' logs to duplicate its own": whatever a follower's log looks
// like (missing entries, extra uncommitted entries, both), it ends equal
// to the leader's.
func TestLeaderSyncFollowerLog(t *testing.T) {
	// The leader of term 8 in Figure 7.
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	for _, tt := range []struct {
		name string
		log  []uint64
	}{
		{"a: missing one entry", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}},
		{"b: missing many entries", []uint64{1, 1, 1, 4}},
		{"c: one extra entry", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},
		{"d: extra entries of a later term", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},
		{"e: missing and extra entries", []uint64{1, 1, 1, 4, 4, 4, 4}},
		{"f: many extra entries of old terms", []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},
		{"empty", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			voters := []uint64{1, 2, 3}
			storages := map[uint64]*MemoryStorage{
				1: newTestLogStorage(voters, leaderLog...),
				2: newTestLogStorage(voters, tt.log...),
				// 3 votes for the leader; 2 may not.
				3: newTestStorage(voters),
			}
			for _, s := range storages {
				_ = s.SetHardState(pb.HardState{Term: 7})
			}
			nw := newTestNetworkFromStorages(t, storages)
			nw.campaign(1)
			if nw.raft(1).state != StateLeader || nw.raft(1).Term != 8 {
				t.Fatalf("1 is %s at term %d, want leader at 8", nw.raft(1).state, nw.raft(1).Term)
			}
			want := append(append([]uint64(nil), leaderLog...), 8)
			if got := entryIDs(nw.raft(2).raftLog.allEntries()); !slices.Equal(got, entryIDs(entsWithTerms(1, want...))) {
				t.Errorf("follower log %v, want %v", got, entryIDs(entsWithTerms(1, want...)))
			}
			if c := nw.raft(2).raftLog.committed; c != uint64(len(want)) {
				t.Errorf("follower commit %d, want %d", c, len(want))
			}
		})
	}
}

// §5.4.1: "it includes information about the candidate's log, and the
// voter denies its vote if its own log is more up-to-date": the
// RequestVote carries the index and term of the candidate's last entry.
func TestVoteRequest(t *testing.T) {
	for i, tt := range []struct {
		terms    []uint64
		wantTerm uint64
	}{
		{nil, 1},
		{[]uint64{1}, 2},
		{[]uint64{1, 2}, 3},
		{[]uint64{1, 1, 1, 3}, 4},
	} {
		r := newTestRaft(t, 1, newTestLogStorage([]uint64{1, 2, 3}, tt.terms...))
		for j := 1; j < 2*r.electionTimeout; j++ {
			r.tick()
		}
		if r.state != StateCandidate || r.Term != tt.wantTerm {
			t.Fatalf("#%d: %s at term %d, want candidate at %d", i, r.state, r.Term, tt.wantTerm)
		}
		var lastTerm uint64
		if n := len(tt.terms); n > 0 {
			lastTerm = tt.terms[n-1]
		}
		msgs := readMessages(r)
		if len(msgs) != 2 {
			t.Fatalf("#%d: %d messages, want 2", i, len(msgs))
		}
		for j, m := range msgs {
			want := pb.Message{From: 1, To: uint64(j + 2), Type: pb.MsgVote, Term: tt.wantTerm, Index: uint64(len(tt.terms)), LogTerm: lastTerm}
			if DescribeMessage(m) != DescribeMessage(want) {
				t.Errorf("#%d: %s, want %s", i, DescribeMessage(m), DescribeMessage(want))
			}
		}
	}
}

// §5.4.1: "If the logs have last entries with different terms, then the
// log with the later term is more up-to-date. If the logs end with the
// same term, then whichever log is longer is more up-to-date." A voter
// grants only to a candidate at least as up to date as itself.
func TestVoter(t *testing.T) {
	for i, tt := range []struct {
		voterLog         []uint64
		logTerm, index   uint64
		wantReject       bool
		wantRejectReason string
	}{
		// Same last term: the longer log wins, a tie is up to date.
		{[]uint64{1}, 1, 1, false, ""},
		{[]uint64{1}, 1, 2, false, ""},
		{[]uint64{1, 1}, 1, 1, true, "shorter log of the same term"},
		// The candidate's last term is later.
		{[]uint64{1}, 2, 1, false, ""},
		{[]uint64{1}, 2, 2, false, ""},
		{[]uint64{1, 1}, 2, 1, false, ""},
		// The voter's last term is later, however long the candidate's log.
		{[]uint64{2}, 1, 1, true, "older last term"},
		{[]uint64{2}, 1, 2, true, "older last term"},
		{[]uint64{1, 2}, 1, 5, true, "older last term"},
	} {
		r := newTestRaft(t, 1, newTestLogStorage([]uint64{1, 2, 3}, tt.voterLog...))
		if err := r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgVote, Term: 3, LogTerm: tt.logTerm, Index: tt.index}); err != nil {
			t.Fatal(err)
		}
		msgs := readMessages(r)
		if len(msgs) != 1 || msgs[0].Type != pb.MsgVoteResp || msgs[0].Reject != tt.wantReject {
			t.Errorf("#%d (voter %v, candidate %d/%d): answer %v, want reject=%t %s", i, tt.voterLog, tt.index, tt.logTerm, msgs, tt.wantReject, tt.wantRejectReason)
		}
	}
}

// §5.4.2: "Raft never commits log entries from previous terms by counting
// replicas. Only log entries from the leader's current term are committed
// by counting replicas."
func TestLeaderOnlyCommitsLogFromCurrentTerm(t *testing.T) {
	for i, tt := range []struct {
		ackIndex   uint64
		wantCommit uint64
	}{
		// Entries 1 and 2 are from terms 1 and 2: a majority holding them
		// does not commit them.
		{1, 0},
		{2, 0},
		// Entry 3 is the new leader's (term 3): now all three commit.
		{3, 3},
	} {
		s := newTestLogStorage([]uint64{1, 2, 3}, 1, 2)
		r := newTestRaft(t, 1, s)
		r.becomeCandidate()
		r.becomeLeader()
		if r.Term != 3 {
			t.Fatalf("term %d, want 3", r.Term)
		}
		readMessages(r)
		_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: r.Term, Index: tt.ackIndex})
		if r.raftLog.committed != tt.wantCommit {
			t.Errorf("#%d: ack of %d: committed %d, want %d", i, tt.ackIndex, r.raftLog.committed, tt.wantCommit)
		}
	}
}

// §5.4.2, Figure 8: an entry of an old term that is stored on a majority
// can still be overwritten by a future leader, so it is not committed
// by counting; it commits only with an entry of the current term. The
// members are S1-S5 of the figure; indexes are one higher than there,
// since a new leader starts its term with an empty entry.
func TestFigure8(t *testing.T) {
	// setup plays (a) to (c): it returns a network where 1 leads term 4
	// and its entries of term 2 ("a" at index 3) are on 1, 2 and 3, a
	// majority, while 5 holds entries of term 3 ("b" at index 3) instead.
	setup := func(t *testing.T) *testNetwork {
		ids := idsUpTo(5)
		storages := map[uint64]*MemoryStorage{}
		for _, id := range ids {
			storages[id] = newTestLogStorage(ids, 1)
			_ = storages[id].SetHardState(pb.HardState{Term: 1, Commit: 1})
		}
		nw := newTestNetworkFromStorages(t, storages)
		appendsOnlyTo := func(from uint64, to ...uint64) func(pb.Message) bool {
			return func(m pb.Message) bool {
				return m.Type != pb.MsgApp || m.From != from || slices.Contains(to, m.To)
			}
		}

		// (a) 1 leads term 2 and replicates its entries only to 2.
		nw.intercept = appendsOnlyTo(1, 2)
		nw.campaign(1)
		mustState(t, nw, 1, StateLeader, 2)
		_ = nw.propose(1, "a")
		if got := entryIDs(nw.raft(2).raftLog.allEntries()); !slices.Equal(got, []string{"1/1", "2/2", "3/2"}) {
			t.Fatalf("(a) log of 2: %v", got)
		}

		// (b) 1 crashes; 5 wins term 3 with the votes of 3 and 4 and
		// appends entries that reach nobody.
		nw.isolate(1)
		nw.intercept = appendsOnlyTo(5)
		nw.campaign(5)
		mustState(t, nw, 5, StateLeader, 3)
		_ = nw.propose(5, "b")

		// (c) 5 crashes, 1 restarts and wins term 4 with the votes of 2,
		// 3 and 4 (its first try, at term 3, meets votes already cast).
		// It replicates its term-2 entries to 3 but nothing of term 4
		// reaches anyone yet.
		nw.recover()
		nw.isolate(5)
		nw.restart(1)
		nw.intercept = appendsOnlyTo(1, 2, 3)
		nw.rewrite = func(m pb.Message) pb.Message {
			if m.Type == pb.MsgApp {
				m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e pb.Entry) bool { return e.Term == 4 })
			}
			return m
		}
		nw.campaign(1)
		if nw.raft(1).state != StateLeader {
			nw.campaign(1)
		}
		mustState(t, nw, 1, StateLeader, 4)
		nw.intercept, nw.rewrite = nil, nil
		for _, id := range []uint64{1, 2, 3} {
			if got := entryIDs(nw.raft(id).raftLog.allEntries()[:3]); !slices.Equal(got, []string{"1/1", "2/2", "3/2"}) {
				t.Fatalf("(c) log of %d starts %v, want [1/1 2/2 3/2]", id, got)
			}
		}
		return nw
	}

	t.Run("old-term entry on a majority is not committed", func(t *testing.T) {
		nw := setup(t)
		for _, id := range sortedIDs(nw.nodes) {
			if c := nw.raft(id).raftLog.committed; c != 1 {
				t.Errorf("(c) member %d committed %d, want 1: entries of term 2 committed by counting", id, c)
			}
		}
		// (d) 1 crashes; 5 can win with the votes of 2, 3 and 4 and
		// overwrite the entries of term 2 everywhere, which is why (c)
		// must not have committed them.
		nw.recover()
		nw.isolate(1)
		nw.restart(5)
		for i := 0; i < 3 && nw.raft(5).state != StateLeader; i++ {
			nw.campaign(5)
		}
		if nw.raft(5).state != StateLeader {
			t.Fatalf("(d) 5 did not win: %s at term %d", nw.raft(5).state, nw.raft(5).Term)
		}
		for _, id := range []uint64{2, 3, 4, 5} {
			if got := entryIDs(nw.raft(id).raftLog.allEntries()[:3]); !slices.Equal(got, []string{"1/1", "2/3", "3/3"}) {
				t.Errorf("(d) log of %d starts %v, want [1/1 2/3 3/3]", id, got)
			}
			if got := nw.appliedData(id); !slices.Equal(got, []string{"b"}) {
				t.Errorf("(d) member %d applied %v, want [b]", id, got)
			}
		}
	})

	t.Run("committed with an entry of the current term", func(t *testing.T) {
		nw := setup(t)
		// (e) 1 replicates an entry of term 4 to a majority before it
		// crashes: the entries of term 2 commit with it, and 5 can no
		// longer win an election.
		nw.isolate(4)
		nw.isolate(5)
		if err := nw.propose(1, "c"); err != nil {
			t.Fatal(err)
		}
		if c := nw.raft(1).raftLog.committed; c != 5 {
			t.Fatalf("(e) committed %d, want 5", c)
		}
		for _, id := range []uint64{1, 2, 3} {
			if got := nw.appliedData(id); !slices.Equal(got, []string{"a", "c"}) {
				t.Errorf("(e) member %d applied %v, want [a c]", id, got)
			}
		}
		nw.recover()
		nw.isolate(1)
		nw.restart(5)
		for i := 0; i < 5; i++ {
			nw.campaign(5)
			if nw.raft(5).state == StateLeader {
				t.Fatalf("(e) 5 won term %d with a log missing committed entries", nw.raft(5).Term)
			}
		}
	})
}

func mustState(t *testing.T, nw *testNetwork, id uint64, state StateType, term uint64) {
	t.Helper()
	if r := nw.raft(id); r.state != state || r.Term != term {
		t.Fatalf("member %d is %s at term %d, want %s at %d", id, r.state, r.Term, state, term)
	}
}
