package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// FuzzStep checks that no input from the network can make a member panic
// or break the invariants every member keeps on its own, whatever the rest
// of the cluster does: commit <= last index, applied <= commit, and term,
// commit and applied never move backwards.
//
// The input is a program for a small in-memory cluster (fuzzProgram): its
// first two bytes pick a starting state (followers, candidate, leader with
// replicated entries, compacted leader with a lagging follower, ...) and a
// configuration; the rest is a list of operations. Some operations inject
// messages: decoded with raftpb.Message.Unmarshal from raw bytes, built field
// by field from bytes (so the fuzzer reaches terms and indexes just inside
// and just outside what the member holds, entries and snapshots with odd
// metadata, senders nobody knows), or taken from the cluster's own traffic
// and mutated. The others drive the cluster the way an application does:
// ticks, proposals, Ready handling with MemoryStorage (sometimes with
// messages stepped between Ready and Advance, as Node does), compaction.
// Safety across members is not checked: forged votes and acknowledgements
// can legitimately fool a member; they must never crash it.
func FuzzStep(f *testing.F) {
	for _, seed := range fuzzStepSeeds() {
		f.Add(seed.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzProgram(t, data)
	})
}

// TestStepRandomInputs runs FuzzStep's checks over random programs from a
// fixed seed, so that CI exercises them without -fuzz.
func TestStepRandomInputs(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	rng := rand.New(rand.NewPCG(20240611, 7))
	for i := 0; i < n; i++ {
		data := make([]byte, 2+rng.IntN(600))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		ok := t.Run(fmt.Sprintf("input%d", i), func(t *testing.T) { runFuzzProgram(t, data) })
		if !ok {
			t.Fatalf("failing input (replay with runFuzzProgram): %x", data)
		}
	}
}

// TestWriteFuzzStepSeedCorpus regenerates raft/testdata/fuzz/FuzzStep from
// fuzzStepSeeds when BASALT_WRITE_FUZZ_SEEDS is set; otherwise it checks
// that the committed seeds are still what fuzzStepSeeds builds, so that the
// corpus keeps meaning what its names say when the program format changes.
func TestWriteFuzzStepSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStep")
	write := os.Getenv("BASALT_WRITE_FUZZ_SEEDS") != ""
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, seed := range fuzzStepSeeds() {
		path := filepath.Join(dir, "seed-"+seed.name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed.data)
		if write {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with BASALT_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzStepSeedCorpus ./raft/)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (regenerate with BASALT_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzStepSeedCorpus ./raft/)", path)
		}
	}
}

// Operations of a fuzz program. Each is one byte (modulo fuzzOpCount)
// followed by its operands.
const (
	fuzzOpRawMsg         = iota // target, len, bytes: Unmarshal and Step
	fuzzOpStructuredMsg         // target, fields: see decodeMessage
	fuzzOpDeliver               // deliver the oldest queued message
	fuzzOpDeliverMutated        // mutate one field of the oldest queued message, then deliver
	fuzzOpDeliverCorrupt        // marshal the oldest queued message, flip bytes, Unmarshal, deliver
	fuzzOpDrop                  // drop the oldest queued message
	fuzzOpDuplicate             // queue a copy of the oldest queued message
	fuzzOpTick                  // target, count
	fuzzOpTakeReady             // target: take a Ready and hold it
	fuzzOpHandleReady           // target: persist, apply and advance the held Ready
	fuzzOpDrain                 // target: handle every pending Ready
	fuzzOpPropose               // target, len, data
	fuzzOpConfChange            // target, type, node
	fuzzOpCompact               // target: snapshot and compact storage at applied
	fuzzOpReport                // target, peer, kind: unreachable or snapshot status
	fuzzOpLocal                 // target, kind: campaign, transfer leadership, read index
	fuzzOpDeliverAll            // deliver and drain until quiet (bounded)
	fuzzOpCount
)

// Starting states of a fuzz program.
const (
	fuzzScenarioFollowers    = iota // three fresh followers, no leader
	fuzzScenarioCandidate           // 1 campaigned and heard nothing back
	fuzzScenarioLeader              // 1 leads, three entries replicated
	fuzzScenarioLagging             // 1 leads, 3 missed five entries
	fuzzScenarioCompacted           // as lagging, and 1 compacted its log
	fuzzScenarioSnapshotted         // 3 caught up from 1's snapshot
	fuzzScenarioLearner             // 1 leads voters 1-3 and learner 4
	fuzzScenarioTransfer            // 1 is handing leadership to a lagging 2
	fuzzScenarioPendingRead         // 1 leads with a read round in flight
	fuzzScenarioBootstrapped        // three members bootstrapped from peers, 1 leads
	fuzzScenarioSingleVoter         // a cluster of one, leading
	fuzzScenarioCount
)

// Configuration bits (second byte of a program).
const (
	fuzzCfgPreVote = 1 << iota
	fuzzCfgCheckQuorum
	fuzzCfgSmallMsgs     // one entry per MsgApp, small inflight window
	fuzzCfgSmallInflight // a window of 2 messages and a byte limit
	fuzzCfgUncommitted   // a small uncommitted-size limit
	fuzzCfgNoForwarding
	fuzzCfgSmallApply // one committed entry per Ready
)

// fuzzReader hands out an input's bytes; past the end it returns zeros, so
// every input decodes to something.
type fuzzReader struct{ data []byte }

func (r *fuzzReader) done() bool { return len(r.data) == 0 }

func (r *fuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *fuzzReader) intn(n int) int { return int(r.byte()) % n }

func (r *fuzzReader) bytes(maxLen int) []byte {
	n := min(r.intn(maxLen+1), len(r.data))
	b := append([]byte(nil), r.data[:n]...)
	r.data = r.data[n:]
	return b
}

func (r *fuzzReader) uint64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.BigEndian.Uint64(b[:])
}

// near returns a value around base, or one of the values that break
// careless bounds checks: 0, the top of the range, any 64-bit value.
func (r *fuzzReader) near(base uint64) uint64 {
	b := r.byte()
	d := uint64(b & 31)
	switch b >> 5 {
	case 0, 1:
		return base
	case 2:
		return base + 1 + d%4
	case 3:
		if base < 1+d%4 {
			return 0
		}
		return base - 1 - d%4
	case 4:
		return d
	case 5:
		return 0
	case 6:
		if d&16 != 0 {
			return maxMessageIndex - d%4
		}
		return ^uint64(0) - d%4
	default:
		return r.uint64()
	}
}

// index returns an index near one of the landmarks of l.
func (r *fuzzReader) index(l *raftLog) uint64 {
	landmarks := [...]uint64{l.lastIndex(), l.committed, l.firstIndex() - 1, l.applied, l.lastIndex() + 1, l.firstIndex()}
	return r.near(landmarks[r.intn(len(landmarks))])
}

// peer returns a member of the cluster, or someone nobody knows.
func (r *fuzzReader) peer() uint64 {
	b := r.byte()
	switch {
	case b < 200:
		return uint64(b%4) + 1
	case b < 220:
		return 5 + uint64(b%3)
	case b < 240:
		return None
	default:
		return ^uint64(0)
	}
}

// fuzzHarness is the cluster a fuzz program drives.
type fuzzHarness struct {
	t    testing.TB
	nw   *testNetwork
	ids  []uint64
	held map[uint64]*Ready
	// queue is the cluster's own traffic, in send order.
	queue []pb.Message
	prev  map[uint64]fuzzMemberState
	steps int
}

type fuzzMemberState struct{ term, commit, applied uint64 }

func fuzzConfigOpts(flags byte) func(*Config) {
	return func(c *Config) {
		c.PreVote = flags&fuzzCfgPreVote != 0
		c.CheckQuorum = flags&fuzzCfgCheckQuorum != 0
		if flags&fuzzCfgSmallMsgs != 0 {
			c.MaxSizePerMsg = 1
			c.MaxInflightMsgs = 4
		}
		if flags&fuzzCfgSmallInflight != 0 {
			c.MaxInflightMsgs = 2
			c.MaxInflightBytes = 64
			if c.MaxSizePerMsg > c.MaxInflightBytes {
				c.MaxSizePerMsg = 16
			}
		}
		if flags&fuzzCfgUncommitted != 0 {
			c.MaxUncommittedEntriesSize = 32
		}
		c.DisableProposalForwarding = flags&fuzzCfgNoForwarding != 0
		if flags&fuzzCfgSmallApply != 0 {
			c.MaxCommittedSizePerReady = 1
		}
	}
}

func runFuzzProgram(t testing.TB, data []byte) {
	in := &fuzzReader{data: data}
	scenario := in.intn(fuzzScenarioCount)
	opts := fuzzConfigOpts(in.byte())
	h := &fuzzHarness{t: t, held: map[uint64]*Ready{}, prev: map[uint64]fuzzMemberState{}}
	h.setup(scenario, opts)
	h.check()
	for !in.done() && h.steps < 400 {
		h.steps++
		h.op(in)
		h.check()
	}
	// Let the cluster settle, then check that what raft believes and what
	// it had the application persist agree.
	for _, id := range h.ids {
		h.handleHeld(id)
	}
	h.deliverAll(50)
	h.checkPersisted()
}

func (h *fuzzHarness) setup(scenario int, opts func(*Config)) {
	t := h.t
	switch scenario {
	case fuzzScenarioLearner:
		h.nw = newTestNetworkWith(t, []uint64{1, 2, 3}, []uint64{4}, opts)
	case fuzzScenarioBootstrapped:
		h.nw = newBootstrappedNetwork(t, 3, opts)
	case fuzzScenarioSingleVoter:
		h.nw = newTestNetwork(t, 1, opts)
	default:
		h.nw = newTestNetwork(t, 3, opts)
	}
	nw := h.nw
	h.ids = sortedIDs(nw.nodes)
	switch scenario {
	case fuzzScenarioFollowers:
	case fuzzScenarioCandidate:
		_ = nw.nodes[1].Campaign()
		nw.handleReady(1) // its vote requests are lost
	case fuzzScenarioLeader, fuzzScenarioLearner, fuzzScenarioBootstrapped, fuzzScenarioSingleVoter:
		nw.campaign(1)
		for _, d := range []string{"a", "b", "c"} {
			_ = nw.propose(1, d)
		}
	case fuzzScenarioLagging, fuzzScenarioCompacted, fuzzScenarioSnapshotted:
		nw.campaign(1)
		nw.isolate(3)
		for _, d := range []string{"a", "b", "c", "d", "e"} {
			_ = nw.propose(1, d)
		}
		if scenario == fuzzScenarioLagging {
			break
		}
		h.compact(1)
		if scenario == fuzzScenarioSnapshotted {
			nw.recover()
			nw.tick(3)
			_ = nw.propose(1, "f")
		}
	case fuzzScenarioTransfer:
		nw.campaign(1)
		nw.isolate(2)
		_ = nw.propose(1, "a")
		nw.nodes[1].TransferLeader(2)
		nw.stabilize()
	case fuzzScenarioPendingRead:
		nw.campaign(1)
		_ = nw.propose(1, "a")
		_ = nw.nodes[1].ReadIndex([]byte("rctx"))
		// Start the round, but lose the heartbeats that would confirm it.
		nw.handleReady(1)
	}
	nw.recover()
	nw.intercept = nil
}

// newBootstrappedNetwork starts members that bootstrap their membership
// from peers (RawNode.Bootstrap) rather than from a snapshot, so that the
// log starts at index 1 and holds conf change entries.
func newBootstrappedNetwork(t testing.TB, n int, opts ...func(*Config)) *testNetwork {
	nw := &testNetwork{
		t:       t,
		nodes:   map[uint64]*RawNode{},
		storage: map[uint64]*MemoryStorage{},
		applied: map[uint64][]pb.Entry{},
		drop:    map[[2]uint64]bool{},
		ignore:  map[pb.MessageType]bool{},
	}
	var peers []Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, Peer{ID: id})
	}
	for _, p := range peers {
		s := NewMemoryStorage()
		c := testConfig(p.ID, 10, 1, s)
		for _, o := range opts {
			o(c)
		}
		rn, err := NewRawNode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := rn.Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
		nw.nodes[p.ID] = rn
		nw.storage[p.ID] = s
	}
	nw.stabilize()
	return nw
}

func (h *fuzzHarness) target(in *fuzzReader) uint64 { return h.ids[in.intn(len(h.ids))] }

func (h *fuzzHarness) op(in *fuzzReader) {
	switch in.intn(fuzzOpCount) {
	case fuzzOpRawMsg:
		to := h.target(in)
		var m pb.Message
		if err := m.Unmarshal(in.bytes(255)); err != nil {
			return
		}
		h.step(to, m)
	case fuzzOpStructuredMsg:
		to := h.target(in)
		h.step(to, h.decodeMessage(in, to))
	case fuzzOpDeliver:
		if m, ok := h.pop(); ok {
			h.deliver(m)
		}
	case fuzzOpDeliverMutated:
		if m, ok := h.pop(); ok {
			h.deliver(h.mutate(in, m))
		}
	case fuzzOpDeliverCorrupt:
		m, ok := h.pop()
		if !ok {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			h.t.Fatalf("marshal %s: %v", DescribeMessage(m), err)
		}
		for n := 1 + in.intn(4); n > 0 && len(b) > 0; n-- {
			b[in.intn(256)%len(b)] ^= in.byte() | 1
		}
		var c pb.Message
		if c.Unmarshal(b) == nil {
			h.deliver(c)
		}
	case fuzzOpDrop:
		h.pop()
	case fuzzOpDuplicate:
		if len(h.queue) > 0 {
			h.queue = append(h.queue, h.queue[0])
		}
	case fuzzOpTick:
		id := h.target(in)
		for n := 1 + in.intn(24); n > 0; n-- {
			h.nw.nodes[id].Tick()
		}
	case fuzzOpTakeReady:
		id := h.target(in)
		if rn := h.nw.nodes[id]; h.held[id] == nil && rn.HasReady() {
			rd := rn.Ready()
			h.held[id] = &rd
		}
	case fuzzOpHandleReady:
		h.handleHeld(h.target(in))
	case fuzzOpDrain:
		h.drain(h.target(in))
	case fuzzOpPropose:
		id := h.target(in)
		_ = h.nw.nodes[id].Propose(in.bytes(40))
	case fuzzOpConfChange:
		id := h.target(in)
		cc := pb.ConfChange{Type: pb.ConfChangeType(in.intn(5)), NodeID: in.peer()}
		_ = h.nw.nodes[id].ProposeConfChange(cc)
	case fuzzOpCompact:
		h.compact(h.target(in))
	case fuzzOpReport:
		rn := h.nw.nodes[h.target(in)]
		peer := in.peer()
		switch in.intn(3) {
		case 0:
			rn.ReportUnreachable(peer)
		case 1:
			rn.ReportSnapshot(peer, SnapshotFinish)
		default:
			rn.ReportSnapshot(peer, SnapshotFailure)
		}
	case fuzzOpLocal:
		rn := h.nw.nodes[h.target(in)]
		switch in.intn(3) {
		case 0:
			_ = rn.Campaign()
		case 1:
			rn.TransferLeader(in.peer())
		default:
			_ = rn.ReadIndex(in.bytes(8))
		}
	case fuzzOpDeliverAll:
		h.deliverAll(1 + in.intn(8))
	}
}

// step hands m to a member as the transport would.
func (h *fuzzHarness) step(to uint64, m pb.Message) {
	rn, ok := h.nw.nodes[to]
	if !ok {
		return
	}
	_ = rn.Step(m)
}

func (h *fuzzHarness) pop() (pb.Message, bool) {
	if len(h.queue) == 0 {
		return pb.Message{}, false
	}
	m := h.queue[0]
	h.queue = h.queue[1:]
	return m, true
}

func (h *fuzzHarness) deliver(m pb.Message) {
	h.step(m.To, m)
	if m.Type == pb.MsgSnap {
		if from, ok := h.nw.nodes[m.From]; ok {
			from.ReportSnapshot(m.To, SnapshotFinish)
		}
	}
}

// deliverAll runs the cluster until no message is in flight, for at most
// rounds rounds: forged state may keep members talking for ever.
func (h *fuzzHarness) deliverAll(rounds int) {
	for i := 0; i < rounds; i++ {
		for _, id := range h.ids {
			h.drain(id)
		}
		if len(h.queue) == 0 {
			return
		}
		msgs := h.queue
		h.queue = nil
		for _, m := range msgs {
			h.deliver(m)
			h.check()
		}
	}
	for _, id := range h.ids {
		h.drain(id)
	}
}

// decodeMessage builds a message for member to, field by field, from
// values that mostly sit at or next to what to holds, so that many of them
// pass validation and reach deep states.
func (h *fuzzHarness) decodeMessage(in *fuzzReader, to uint64) pb.Message {
	r := h.nw.raft(to)
	l := r.raftLog
	m := pb.Message{To: to}
	if tb := in.byte(); tb < 248 {
		m.Type = pb.MessageType(int(tb) % 19)
	} else {
		m.Type = pb.MessageType(int32(in.uint64()))
	}
	m.From = in.peer()
	m.Term = in.near(r.Term)
	m.Index = in.index(l)
	// The term of the entry at Index, as a leader whose log matches would
	// send it, unless the fuzzer wants otherwise.
	m.LogTerm = in.near(l.zeroTermOnOutOfBounds(l.term(m.Index)))
	m.Commit = in.index(l)
	flags := in.byte()
	m.Reject = flags&1 != 0
	if m.Reject {
		m.RejectHint = in.index(l)
	}
	if flags&2 != 0 {
		prev, prevTerm := m.Index, m.LogTerm
		for n := 1 + in.intn(4); n > 0; n-- {
			e := pb.Entry{Index: prev + 1, Term: max(prevTerm, m.Term)}
			switch mode := in.byte(); {
			case mode < 180:
			case mode < 200:
				e.Term = prevTerm
			case mode < 215:
				e.Index = in.near(e.Index)
			case mode < 230:
				e.Term = in.near(e.Term)
			case mode < 240:
				e.Type = pb.EntryConfChange
			default:
				e.Type = pb.EntryType(in.byte())
			}
			e.Data = in.bytes(8)
			m.Entries = append(m.Entries, e)
			prev, prevTerm = e.Index, e.Term
		}
	}
	if flags&4 != 0 {
		m.Snapshot = &pb.Snapshot{
			Data: in.bytes(4),
			Metadata: pb.SnapshotMetadata{
				Index:     in.index(l),
				Term:      in.near(m.Term),
				ConfState: h.decodeConfState(in, to),
			},
		}
	}
	switch (flags >> 3) & 3 {
	case 1:
		var ctx [8]byte
		binary.BigEndian.PutUint64(ctx[:], in.near(r.reads.seq))
		m.Context = ctx[:]
	case 2:
		m.Context = []byte(campaignTransfer)
	case 3:
		m.Context = in.bytes(10)
	}
	return m
}

// decodeConfState returns a membership that includes self, or odd ones:
// without self, self both voter and learner, no voters, the None member.
func (h *fuzzHarness) decodeConfState(in *fuzzReader, self uint64) pb.ConfState {
	switch in.intn(8) {
	case 0, 1, 2:
		return h.nw.raft(self).trk.ConfState()
	case 3:
		return pb.ConfState{Voters: []uint64{in.peer(), in.peer()}, Learners: []uint64{in.peer()}}
	case 4:
		return pb.ConfState{Voters: []uint64{self}, Learners: []uint64{self}}
	case 5:
		return pb.ConfState{Learners: []uint64{self}}
	case 6:
		return pb.ConfState{Voters: []uint64{self, None}}
	default:
		return pb.ConfState{Voters: []uint64{self, self, in.peer()}, Learners: []uint64{in.peer()}}
	}
}

// mutate changes one field of a real message.
func (h *fuzzHarness) mutate(in *fuzzReader, m pb.Message) pb.Message {
	switch in.intn(10) {
	case 0:
		m.Term = in.near(m.Term)
	case 1:
		m.Index = in.near(m.Index)
	case 2:
		m.LogTerm = in.near(m.LogTerm)
	case 3:
		m.Commit = in.near(m.Commit)
	case 4:
		m.From = in.peer()
	case 5:
		m.Reject = !m.Reject
		m.RejectHint = in.near(m.RejectHint)
	case 6:
		if len(m.Entries) > 0 {
			ents := append([]pb.Entry(nil), m.Entries...)
			i := in.intn(len(ents))
			ents[i].Index = in.near(ents[i].Index)
			ents[i].Term = in.near(ents[i].Term)
			m.Entries = ents
		}
	case 7:
		if n := len(m.Entries); n > 0 {
			m.Entries = m.Entries[:in.intn(n)]
		}
	case 8:
		if m.Snapshot != nil {
			s := *m.Snapshot
			s.Metadata.Index = in.near(s.Metadata.Index)
			s.Metadata.Term = in.near(s.Metadata.Term)
			if in.byte()&1 == 0 {
				s.Metadata.ConfState = h.decodeConfState(in, m.To)
			}
			m.Snapshot = &s
		}
	default:
		m.Type = pb.MessageType(in.intn(19))
	}
	return m
}

// handle does what an application does with a Ready: persist, apply,
// advance, and queue the messages.
func (h *fuzzHarness) handle(id uint64, rd Ready) {
	rn, s := h.nw.nodes[id], h.nw.storage[id]
	if !IsEmptySnap(rd.Snapshot) {
		if err := s.ApplySnapshot(rd.Snapshot); err != nil {
			h.t.Fatalf("member %d: apply snapshot %d/%d: %v", id, rd.Snapshot.Metadata.Term, rd.Snapshot.Metadata.Index, err)
		}
	}
	if err := s.Append(rd.Entries); err != nil {
		h.t.Fatalf("member %d: append entries from %d: %v", id, rd.Entries[0].Index, err)
	}
	if !IsEmptyHardState(rd.HardState) {
		_ = s.SetHardState(rd.HardState)
	}
	for _, e := range rd.CommittedEntries {
		if e.Type != pb.EntryConfChange {
			continue
		}
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			// A forged proposal: an application rejects what it cannot
			// decode, and raft has nothing to do with it.
			continue
		}
		_, _ = rn.ApplyConfChange(cc)
	}
	h.queue = append(h.queue, rd.Messages...)
	rn.Advance(rd)
}

func (h *fuzzHarness) handleHeld(id uint64) {
	if rd := h.held[id]; rd != nil {
		delete(h.held, id)
		h.handle(id, *rd)
	}
}

func (h *fuzzHarness) drain(id uint64) {
	h.handleHeld(id)
	rn := h.nw.nodes[id]
	for i := 0; rn.HasReady(); i++ {
		if i > 1000 {
			h.t.Fatalf("member %d: HasReady stays true after 1000 Readys", id)
		}
		h.handle(id, rn.Ready())
	}
}

// compact snapshots member id's state at its applied index and compacts
// its storage there, as the server does periodically.
func (h *fuzzHarness) compact(id uint64) {
	if h.held[id] != nil {
		return // the application applies and compacts from one loop
	}
	h.drain(id)
	r, s := h.nw.raft(id), h.nw.storage[id]
	applied := r.raftLog.applied
	cs := r.trk.ConfState()
	if _, err := s.CreateSnapshot(applied, &cs, []byte("state")); err != nil {
		if errors.Is(err, ErrSnapOutOfDate) {
			return
		}
		h.t.Fatalf("member %d: create snapshot at applied %d: %v", id, applied, err)
	}
	if err := s.Compact(applied); err != nil && !errors.Is(err, ErrCompacted) {
		h.t.Fatalf("member %d: compact at applied %d: %v", id, applied, err)
	}
}

// check asserts what every member keeps true on its own, whatever it is
// told.
func (h *fuzzHarness) check() {
	h.t.Helper()
	for _, id := range h.ids {
		r := h.nw.raft(id)
		l := r.raftLog
		cur := fuzzMemberState{term: r.Term, commit: l.committed, applied: l.applied}
		if last := l.lastIndex(); cur.commit > last {
			h.t.Fatalf("member %d: commit %d past last index %d", id, cur.commit, last)
		}
		if cur.applied > cur.commit {
			h.t.Fatalf("member %d: applied %d past commit %d", id, cur.applied, cur.commit)
		}
		if p, ok := h.prev[id]; ok {
			if cur.term < p.term {
				h.t.Fatalf("member %d: term went back from %d to %d", id, p.term, cur.term)
			}
			if cur.commit < p.commit {
				h.t.Fatalf("member %d: commit went back from %d to %d", id, p.commit, cur.commit)
			}
			if cur.applied < p.applied {
				h.t.Fatalf("member %d: applied went back from %d to %d", id, p.applied, cur.applied)
			}
		}
		if r.state == StateLeader && r.lead != r.id {
			h.t.Fatalf("member %d: leader believes %d leads", id, r.lead)
		}
		h.prev[id] = cur
	}
}

// checkPersisted asserts that, with every Ready handled, storage holds
// exactly the log and hard state raft works from.
func (h *fuzzHarness) checkPersisted() {
	for _, id := range h.ids {
		rn, s := h.nw.nodes[id], h.nw.storage[id]
		if rn.HasReady() {
			continue // bounded settling ran out; nothing to compare yet
		}
		l := rn.raft.raftLog
		if n := len(l.unstable.entries); n != 0 || l.unstable.snapshot != nil {
			h.t.Fatalf("member %d: no Ready, but %d unstable entries (snapshot %v)", id, n, l.unstable.snapshot != nil)
		}
		last, _ := s.LastIndex()
		first, _ := s.FirstIndex()
		if last != l.lastIndex() || first != l.firstIndex() {
			h.t.Fatalf("member %d: storage holds [%d,%d], raft believes [%d,%d]", id, first, last, l.firstIndex(), l.lastIndex())
		}
		// What is persisted must be enough to restart as the same member:
		// same term and vote, same log, and a commit index that has not
		// run ahead (commit alone need not be synced, so it may lag).
		restarted, err := NewRawNode(testConfig(id, 10, 1, s))
		if err != nil {
			h.t.Fatalf("member %d: restart from storage: %v", id, err)
		}
		r, rr := rn.raft, restarted.raft
		if rr.Term != r.Term || rr.Vote != r.Vote {
			h.t.Fatalf("member %d: restarted at term %d vote %d, was at term %d vote %d", id, rr.Term, rr.Vote, r.Term, r.Vote)
		}
		if rr.raftLog.lastIndex() != l.lastIndex() || rr.raftLog.lastTerm() != l.lastTerm() {
			h.t.Fatalf("member %d: restarted with last entry %d/%d, had %d/%d", id,
				rr.raftLog.lastTerm(), rr.raftLog.lastIndex(), l.lastTerm(), l.lastIndex())
		}
		if rr.raftLog.committed > l.committed {
			h.t.Fatalf("member %d: restarted with commit %d, had %d", id, rr.raftLog.committed, l.committed)
		}
	}
}

// fuzzSeed is a named program for the seed corpus.
type fuzzSeed struct {
	name string
	data []byte
}

// fuzzProgram assembles a program: a scenario, configuration bits and ops.
type fuzzProgram []byte

func newFuzzProgram(scenario int, cfg byte) *fuzzProgram {
	p := fuzzProgram{byte(scenario), cfg}
	return &p
}

func (p *fuzzProgram) op(op int, operands ...byte) *fuzzProgram {
	*p = append(append(*p, byte(op)), operands...)
	return p
}

// propose adds a proposal of data on member to (1-based index in ids).
func (p *fuzzProgram) propose(to byte, data string) *fuzzProgram {
	if len(data) > 40 {
		panic("seed proposal too long")
	}
	return p.op(fuzzOpPropose, append([]byte{to, byte(len(data))}, data...)...)
}

// raw adds a raw-bytes message for member to.
func (p *fuzzProgram) raw(to byte, m pb.Message) *fuzzProgram {
	b, err := m.Marshal()
	if err != nil || len(b) > 255 {
		panic(fmt.Sprintf("seed message %s does not fit: %v", DescribeMessage(m), err))
	}
	return p.op(fuzzOpRawMsg, append([]byte{to - 1, byte(len(b))}, b...)...)
}

// Operand helpers for structured messages: see fuzzReader.near.
const (
	nearBase   = 0x00 // the landmark itself
	nearAbove1 = 0x40 // landmark+1
	nearBelow1 = 0x60 // landmark-1
	nearZero   = 0xa0
	nearMax    = 0xc0
)

// Landmarks for fuzzReader.index.
const (
	idxLast = iota
	idxCommitted
	idxBeforeFirst
	idxApplied
	idxPastLast
	idxFirst
)

func fuzzStepSeeds() []fuzzSeed {
	var seeds []fuzzSeed
	add := func(name string, p *fuzzProgram) { seeds = append(seeds, fuzzSeed{name, []byte(*p)}) }

	// Every member ticks until one wins an election, then serves traffic.
	add("election-by-ticks", newFuzzProgram(fuzzScenarioFollowers, fuzzCfgPreVote|fuzzCfgCheckQuorum).
		op(fuzzOpTick, 0, 23).op(fuzzOpTick, 1, 23).op(fuzzOpTick, 2, 23).
		op(fuzzOpDeliverAll, 7).op(fuzzOpTick, 0, 23).op(fuzzOpDeliverAll, 7).
		propose(0, "xyz").op(fuzzOpDeliverAll, 7))

	// A raw MsgApp from a stranger at a far future term, with entries.
	add("raw-app-far-future-term", newFuzzProgram(fuzzScenarioLeader, 0).
		raw(2, pb.Message{Type: pb.MsgApp, From: 9, To: 2, Term: 1 << 40, Index: 4, LogTerm: 2, Commit: 1 << 50,
			Entries: []pb.Entry{{Term: 3, Index: 5, Data: []byte("evil")}}}).
		op(fuzzOpDeliverAll, 7))

	// A snapshot far past the log, with the member both voter and learner.
	add("raw-snap-voter-and-learner", newFuzzProgram(fuzzScenarioFollowers, 0).
		raw(1, pb.Message{Type: pb.MsgSnap, From: 2, To: 1, Term: 5, Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{
			Index: 1000, Term: 4, ConfState: pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{1}}}}}).
		op(fuzzOpDrain, 0))

	// Snapshots at the top of the index range: the largest a message may
	// carry, and one whose successor would wrap around to 0.
	for _, idx := range []uint64{maxMessageIndex, ^uint64(0)} {
		add(fmt.Sprintf("raw-snap-index-%x", idx), newFuzzProgram(fuzzScenarioLeader, 0).
			raw(2, pb.Message{Type: pb.MsgSnap, From: 1, To: 2, Term: 1, Snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{
				Index: idx, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2, 3}}}}}).
			op(fuzzOpDrain, 1).propose(1, "x").op(fuzzOpDeliverAll, 7).
			op(fuzzOpTick, 1, 23).op(fuzzOpDeliverAll, 7).op(fuzzOpTick, 1, 23).op(fuzzOpDeliverAll, 7).
			propose(1, "y").op(fuzzOpDeliverAll, 7))
	}

	// A heartbeat at term 0, which a candidate must not take as a leader's.
	add("raw-heartbeat-term-zero", newFuzzProgram(fuzzScenarioCandidate, 0).
		raw(1, pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 1, Commit: 1}).
		op(fuzzOpDrain, 0))

	// A rejection whose hint is past the leader's log.
	add("structured-appresp-reject-huge-hint", newFuzzProgram(fuzzScenarioLagging, fuzzCfgSmallMsgs).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgAppResp), 2, nearBase,
			idxLast, nearBase, nearBase, idxCommitted, nearBase, 1, idxPastLast, nearMax).
		op(fuzzOpDeliverAll, 7))

	// The lagging follower's real traffic, corrupted on the wire.
	add("corrupt-traffic-to-lagging", newFuzzProgram(fuzzScenarioLagging, fuzzCfgSmallInflight).
		op(fuzzOpTick, 0, 3).op(fuzzOpDrain, 0).
		op(fuzzOpDeliverCorrupt, 1, 7, 9, 0x80, 30).op(fuzzOpDeliverMutated, 1, nearAbove1).
		op(fuzzOpDeliverAll, 7))

	// A compacted leader sends a snapshot; a mutated copy arrives too.
	add("compacted-snapshot-mutated", newFuzzProgram(fuzzScenarioCompacted, fuzzCfgCheckQuorum).
		op(fuzzOpTick, 0, 1).op(fuzzOpDrain, 0).op(fuzzOpDuplicate).op(fuzzOpDeliverAll, 1).
		op(fuzzOpDeliverMutated, 8, nearBelow1, nearBase, 0).op(fuzzOpDeliverAll, 7))

	// Messages stepped between Ready and Advance, as Node does.
	add("step-between-ready-and-advance", newFuzzProgram(fuzzScenarioSnapshotted, 0).
		propose(0, "hi").op(fuzzOpTakeReady, 0).op(fuzzOpTakeReady, 2).
		op(fuzzOpDeliver).op(fuzzOpDeliver).op(fuzzOpCompact, 1).
		op(fuzzOpStructuredMsg, 2, byte(pb.MsgSnap), 0, nearAbove1, idxLast, nearAbove1, nearBase, idxCommitted, nearBase, 4, 0, idxLast, nearAbove1, nearBase, 0).
		op(fuzzOpHandleReady, 2).op(fuzzOpHandleReady, 0).op(fuzzOpDeliverAll, 7))

	// Votes and pre-votes from strangers, stale and fresh.
	add("votes-from-everyone", newFuzzProgram(fuzzScenarioFollowers, fuzzCfgPreVote).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgPreVote), 1, nearAbove1, idxLast, nearZero, nearBase, idxCommitted, nearBase, 0).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgVote), 210, nearAbove1, idxLast, nearBase, nearBase, idxCommitted, nearBase, 0).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgPreVoteResp), 1, nearAbove1, idxLast, nearBase, nearBase, idxCommitted, nearBase, 0).
		op(fuzzOpDeliverAll, 7))

	// Read requests and acknowledgements of read rounds nobody started.
	add("read-index-forged-acks", newFuzzProgram(fuzzScenarioPendingRead, 0).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgHeartbeatResp), 1, nearBase, idxLast, nearBase, nearBase, idxCommitted, nearBase, 8, nearAbove1).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgHeartbeatResp), 2, nearBase, idxLast, nearBase, nearBase, idxCommitted, nearBase, 8, nearBase).
		op(fuzzOpLocal, 1, 2, 3, 'r', 'e', 'q').op(fuzzOpDeliverAll, 7))

	// Leadership transfer interrupted by a conf change and ticks.
	add("transfer-and-conf-change", newFuzzProgram(fuzzScenarioTransfer, fuzzCfgCheckQuorum|fuzzCfgPreVote).
		op(fuzzOpConfChange, 0, 1, 1).op(fuzzOpLocal, 0, 1, 3).op(fuzzOpTick, 0, 12).
		op(fuzzOpDeliverAll, 7).op(fuzzOpConfChange, 0, 0, 3).op(fuzzOpDeliverAll, 7))

	// A learner is promoted while proposals exceed the uncommitted limit.
	add("learner-uncommitted-limit", newFuzzProgram(fuzzScenarioLearner, fuzzCfgUncommitted|fuzzCfgSmallApply).
		propose(0, strings.Repeat("p", 30)).propose(0, strings.Repeat("q", 30)).op(fuzzOpConfChange, 0, 0, 3).
		op(fuzzOpDeliverAll, 7).propose(3, "learner").op(fuzzOpDeliverAll, 7))

	// Bootstrapped members: a forged MsgApp conflicting with the conf
	// change entries in the log.
	add("bootstrapped-conflicting-app", newFuzzProgram(fuzzScenarioBootstrapped, fuzzCfgNoForwarding).
		op(fuzzOpStructuredMsg, 1, byte(pb.MsgApp), 0, nearBase, idxCommitted, nearBase, nearBase, idxLast, nearBase, 2, 1, 0, 1, 'z', 240, byte(pb.EntryConfChange), 1, 'c').
		op(fuzzOpDeliverAll, 7))
	// A cluster of one: reads answered at once, forged peers, and a
	// proposal to add a second voter, which stops commits until it
	// answers.
	add("single-voter", newFuzzProgram(fuzzScenarioSingleVoter, fuzzCfgCheckQuorum).
		op(fuzzOpLocal, 0, 2, 2, 'r', '1').op(fuzzOpDrain, 0).
		op(fuzzOpStructuredMsg, 0, byte(pb.MsgAppResp), 1, nearBase, idxLast, nearBase, nearBase, idxCommitted, nearBase, 0).
		op(fuzzOpConfChange, 0, 0, 1).op(fuzzOpDrain, 0).propose(0, "stuck").op(fuzzOpTick, 0, 23).
		op(fuzzOpLocal, 0, 2, 2, 'r', '2').op(fuzzOpDeliverAll, 7))
	return seeds
}
