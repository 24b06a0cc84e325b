package raft

// Flow control of replication: the leader probes a follower whose log it
// is unsure of with one MsgApp at a time, streams to one it is sure of
// within a window of MaxInflightMsgs messages and MaxInflightBytes bytes,
// and caps every MsgApp at MaxSizePerMsg.

import (
	"bytes"
	"slices"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

func propose(t *testing.T, r *raft, data ...string) {
	t.Helper()
	ents := make([]pb.Entry, len(data))
	for i, d := range data {
		ents[i] = pb.Entry{Data: []byte(d)}
	}
	if err := r.Step(pb.Message{From: r.id, To: r.id, Type: pb.MsgProp, Entries: ents}); err != nil {
		t.Fatal(err)
	}
}

func appsTo(msgs []pb.Message, to uint64) []pb.Message {
	var out []pb.Message
	for _, m := range msgsOfType(msgs, pb.MsgApp) {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// ack answers a MsgApp as a follower whose log matches would.
func ack(t *testing.T, r *raft, m pb.Message) {
	t.Helper()
	if err := r.Step(pb.Message{From: m.To, To: m.From, Type: pb.MsgAppResp, Term: m.Term, Index: m.Index + uint64(len(m.Entries))}); err != nil {
		t.Fatal(err)
	}
}

// In StateProbe the leader does not know where the follower's log
// matches, so it sends one MsgApp and waits: for the answer, or for the
// next heartbeat's answer, before it sends another.
func TestProbeSendsOneMsgAppPerHeartbeat(t *testing.T) {
	r := newTestRaft(t, 1, newTestStorage([]uint64{1, 2, 3}))
	_ = r.Step(pb.Message{Type: pb.MsgHup})
	_ = r.Step(pb.Message{From: 3, To: 1, Type: pb.MsgVoteResp, Term: 1})
	if r.state != StateLeader || r.trk.Progress[2].State != tracker.StateProbe {
		t.Fatalf("setup: %s, progress of 2 %s", r.state, r.trk.Progress[2])
	}
	if got := appsTo(readMessages(r), 2); len(got) != 1 {
		t.Fatalf("on election: %d MsgApps to 2, want 1", len(got))
	}
	for _, d := range []string{"a", "b", "c"} {
		propose(t, r, d)
	}
	for i := 0; i < 3; i++ {
		r.tick() // heartbeat interval is one tick
	}
	msgs := readMessages(r)
	if got := appsTo(msgs, 2); len(got) != 0 {
		t.Fatalf("sent %d more MsgApps to a probed follower before it answered", len(got))
	}
	if got := len(msgsOfType(msgs, pb.MsgHeartbeat)); got != 6 {
		t.Errorf("%d heartbeats in 3 intervals, want 6", got)
	}
	// Each heartbeat answer lets one probe out, carrying everything.
	for i := 0; i < 2; i++ {
		_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeatResp, Term: 1})
		apps := appsTo(readMessages(r), 2)
		if len(apps) != 1 || len(apps[0].Entries) != 4 || apps[0].Index != 0 {
			t.Fatalf("heartbeat answer %d: MsgApps %v, want one probe with entries 1-4", i, apps)
		}
	}
	// The answer to the probe settles where the logs match: replicate.
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgAppResp, Term: 1, Index: 4})
	if pr := r.trk.Progress[2]; pr.State != tracker.StateReplicate || pr.Match != 4 || pr.Next != 5 {
		t.Errorf("after the ack: %s, want replicate match 4 next 5", pr)
	}
}

// In StateReplicate the leader streams MsgApps without waiting, up to
// MaxInflightMsgs unacknowledged ones; then it pauses until an ack frees
// room.
func TestReplicateFillsWindowThenPauses(t *testing.T) {
	const window = 3
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s, func(c *Config) {
		c.MaxInflightMsgs = window
		c.MaxSizePerMsg = 1 // one entry per MsgApp
	})
	becomeEstablishedLeader(t, r, s)
	for i := 0; i < 5; i++ {
		propose(t, r, "x")
	}
	apps := appsTo(readMessages(r), 2)
	if len(apps) != window {
		t.Fatalf("%d MsgApps in flight, want a full window of %d", len(apps), window)
	}
	pr := r.trk.Progress[2]
	if !pr.IsPaused() || pr.Inflights.Count() != window {
		t.Fatalf("progress %s, want paused with %d in flight", pr, window)
	}
	propose(t, r, "y")
	if got := appsTo(readMessages(r), 2); len(got) != 0 {
		t.Fatalf("sent %d MsgApps into a full window", len(got))
	}
	// Acknowledging the oldest frees one slot, which is used at once.
	ack(t, r, apps[0])
	more := appsTo(readMessages(r), 2)
	if len(more) != 1 || more[0].Entries[0].Index != apps[window-1].Entries[0].Index+1 {
		t.Fatalf("after one ack: %v, want the next entry", more)
	}
	// Acknowledging everything sent lets the rest out.
	ack(t, r, more[0])
	rest := appsTo(readMessages(r), 2)
	if len(rest) != 2 {
		t.Fatalf("after acking all: %d MsgApps, want the 2 remaining entries", len(rest))
	}
	if last := rest[1].Entries[0].Index; last != r.raftLog.lastIndex() {
		t.Errorf("last entry sent %d, want %d", last, r.raftLog.lastIndex())
	}
}

// MaxInflightBytes bounds the entry bytes in flight, whatever the count.
func TestMaxInflightBytes(t *testing.T) {
	const entrySize = 100
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s, func(c *Config) {
		c.MaxInflightMsgs = 100
		c.MaxSizePerMsg = entrySize
		c.MaxInflightBytes = 3 * entrySize
	})
	becomeEstablishedLeader(t, r, s)
	payload := string(bytes.Repeat([]byte("b"), entrySize))
	for i := 0; i < 6; i++ {
		propose(t, r, payload)
	}
	apps := appsTo(readMessages(r), 2)
	if len(apps) != 3 {
		t.Fatalf("%d MsgApps of %d bytes in flight, want 3 (%d bytes)", len(apps), entrySize, 3*entrySize)
	}
	if pr := r.trk.Progress[2]; !pr.IsPaused() || pr.Inflights.Bytes() != 3*entrySize {
		t.Fatalf("progress %s with %d bytes in flight, want paused at %d", pr, pr.Inflights.Bytes(), 3*entrySize)
	}
	ack(t, r, apps[0])
	if got := appsTo(readMessages(r), 2); len(got) != 1 {
		t.Fatalf("after freeing %d bytes: %d MsgApps, want 1", entrySize, len(got))
	}
}

// MaxSizePerMsg splits a long run of entries over several MsgApps, each
// within the cap (or a single entry, however large).
func TestMaxSizePerMsgSplits(t *testing.T) {
	entry := pb.Entry{Index: 9, Term: 1, Data: []byte("0123456789")}
	size := uint64(entry.Size())
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s, func(c *Config) { c.MaxSizePerMsg = 3 * size })
	becomeEstablishedLeader(t, r, s)
	first := r.raftLog.lastIndex() + 1
	data := make([]string, 10)
	for i := range data {
		data[i] = "0123456789"
	}
	propose(t, r, data...)
	apps := appsTo(readMessages(r), 2)
	if len(apps) != 1 || len(apps[0].Entries) != 3 {
		t.Fatalf("first MsgApps %v, want one with 3 entries", apps)
	}
	// Once the first part is acknowledged the rest streams in parts.
	ack(t, r, apps[0])
	rest := appsTo(readMessages(r), 2)
	var counts []int
	next := first + 3
	for _, m := range append(apps, rest...) {
		counts = append(counts, len(m.Entries))
		if entsSize(m.Entries) > 3*size {
			t.Errorf("MsgApp of %d bytes, cap %d", entsSize(m.Entries), 3*size)
		}
	}
	for _, m := range rest {
		if m.Index+1 != next {
			t.Errorf("MsgApp after %d, want after %d", m.Index, next-1)
		}
		next += uint64(len(m.Entries))
	}
	if !slices.Equal(counts, []int{3, 3, 3, 1}) {
		t.Errorf("entries per MsgApp %v, want [3 3 3 1]", counts)
	}

	// An entry over the cap still goes, alone.
	propose(t, r, string(bytes.Repeat([]byte("z"), int(4*size))), "small")
	apps = appsTo(readMessages(r), 2)
	if len(apps) != 1 || len(apps[0].Entries) != 1 {
		t.Errorf("oversized entry sent as %v, want alone in one MsgApp", apps)
	}
}

// Proposals that arrive together share one MsgApp: the entries of one
// MsgProp, and everything proposed while a probed follower was paused.
func TestProposalsBatchedIntoOneMsgApp(t *testing.T) {
	t.Run("one proposal of many entries", func(t *testing.T) {
		s := newTestStorage([]uint64{1, 2, 3})
		r := newTestRaft(t, 1, s)
		becomeEstablishedLeader(t, r, s)
		data := make([]string, 20)
		for i := range data {
			data[i] = "e"
		}
		propose(t, r, data...)
		msgs := readMessages(r)
		if len(msgs) != 2 {
			t.Fatalf("%d messages, want one per follower", len(msgs))
		}
		for _, m := range msgs {
			if m.Type != pb.MsgApp || len(m.Entries) != 20 {
				t.Errorf("%s, want one MsgApp of 20 entries", DescribeMessage(m))
			}
		}
	})
	t.Run("proposals while probing", func(t *testing.T) {
		s := newTestStorage([]uint64{1, 2})
		r := newTestRaft(t, 1, s)
		becomeEstablishedLeader(t, r, s)
		_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgUnreachable})
		if pr := r.trk.Progress[2]; pr.State != tracker.StateProbe {
			t.Fatalf("unreachable follower is %s, want probe", pr)
		}
		propose(t, r, "first")
		for i := 0; i < 30; i++ {
			propose(t, r, "later")
		}
		apps := appsTo(readMessages(r), 2)
		if len(apps) != 1 || len(apps[0].Entries) != 1 {
			t.Fatalf("while probing: %v, want the single probe", apps)
		}
		ack(t, r, apps[0])
		apps = appsTo(readMessages(r), 2)
		if len(apps) != 1 || len(apps[0].Entries) != 30 {
			t.Errorf("after the probe's ack: %d MsgApps, want one with the 30 waiting entries", len(apps))
		}
	})
}

// A follower reported unreachable may have lost what was streamed to it:
// the leader falls back to probing from what it knows the follower has.
func TestUnreachableFollowerIsProbed(t *testing.T) {
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	match := r.trk.Progress[2].Match
	for i := 0; i < 3; i++ {
		propose(t, r, "x")
	}
	readMessages(r)
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgUnreachable})
	if pr := r.trk.Progress[2]; pr.State != tracker.StateProbe || pr.Next != match+1 {
		t.Fatalf("progress %s, want probe from %d", pr, match+1)
	}
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeatResp, Term: r.Term})
	apps := appsTo(readMessages(r), 2)
	if len(apps) != 1 || apps[0].Index != match || len(apps[0].Entries) != 3 {
		t.Errorf("resent %v, want the 3 entries after %d", apps, match)
	}
}

// §5.3: "If followers crash or run slowly, or if network packets are
// lost, the leader retries AppendEntries RPCs indefinitely." Lost MsgApps
// (never reported unreachable) are resent once heartbeats get through,
// in probe state and in replicate state, even when they had filled the
// window.
func TestLeaderRetriesLostMsgApp(t *testing.T) {
	for _, tt := range []struct {
		name      string
		proposals int
	}{
		{"probe", 1},
		{"replicate, window not full", 1},
		{"replicate, window full", 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nw := newTestNetwork(t, 3, func(c *Config) {
				c.MaxInflightMsgs = 3
				c.MaxSizePerMsg = 1
			})
			nw.campaign(1)
			if tt.name == "probe" {
				_ = nw.nodes[1].Step(pb.Message{From: 2, To: 1, Type: pb.MsgUnreachable})
			}
			nw.intercept = func(m pb.Message) bool { return !(m.Type == pb.MsgApp && m.To == 2) }
			for i := 0; i < tt.proposals; i++ {
				if err := nw.propose(1, "x"); err != nil {
					t.Fatal(err)
				}
			}
			if nw.raft(2).raftLog.lastIndex() == nw.raft(1).raftLog.lastIndex() {
				t.Fatal("setup: nothing was lost")
			}
			nw.intercept = nil
			nw.tick(5)
			if got, want := nw.raft(2).raftLog.committed, nw.raft(1).raftLog.committed; got != want {
				t.Errorf("follower commit %d, leader %d: lost MsgApps never resent (progress %s)", got, want, nw.raft(1).trk.Progress[2])
			}
		})
	}
}

// A follower in StateSnapshot gets no MsgApp at all until the snapshot
// is reported: its log is being replaced.
func TestSnapshotStateBlocksMsgApp(t *testing.T) {
	s := newTestStorage([]uint64{1, 2})
	r := newTestRaft(t, 1, s)
	becomeEstablishedLeader(t, r, s)
	r.trk.Progress[2].BecomeSnapshot(r.raftLog.lastIndex())
	propose(t, r, "x")
	_ = r.Step(pb.Message{From: 2, To: 1, Type: pb.MsgHeartbeatResp, Term: r.Term})
	r.tick()
	if apps := appsTo(readMessages(r), 2); len(apps) != 0 {
		t.Errorf("sent %v to a follower awaiting a snapshot", apps)
	}
}

// MaxCommittedSizePerReady spreads a long run of committed entries over
// several Readys, each within the cap, none lost or repeated.
func TestCommittedEntriesPaginated(t *testing.T) {
	entry := pb.Entry{Index: 10, Term: 1, Data: []byte("0123456789")}
	size := uint64(entry.Size())
	nw := newTestNetwork(t, 3, func(c *Config) { c.MaxCommittedSizePerReady = 3 * size })
	nw.campaign(1)
	var batches [][]pb.Entry
	nw.onReady = func(id uint64, rd Ready) {
		if id == 2 && len(rd.CommittedEntries) > 0 {
			batches = append(batches, rd.CommittedEntries)
		}
	}
	ents := make([]pb.Entry, 10)
	for i := range ents {
		ents[i] = pb.Entry{Data: []byte("0123456789")}
	}
	if err := nw.nodes[1].Step(pb.Message{From: 1, Type: pb.MsgProp, Entries: ents}); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	var got []uint64
	for _, b := range batches {
		if len(b) > 1 && entsSize(b) > 3*size {
			t.Errorf("a Ready with %d bytes of committed entries, cap %d", entsSize(b), 3*size)
		}
		for _, e := range b {
			got = append(got, e.Index)
		}
	}
	if len(batches) < 4 {
		t.Errorf("%d Readys for 10 entries, want at least 4", len(batches))
	}
	want := []uint64{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if !slices.Equal(got, want) {
		t.Errorf("applied indexes %v, want %v", got, want)
	}
}
