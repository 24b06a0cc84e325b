package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// testNetwork is a tiny in-memory cluster for the package's tests: each
// member is a RawNode over a MemoryStorage, and every Ready is handled
// completely (persist, apply, advance) before its messages are delivered.
type testNetwork struct {
	t       testing.TB
	nodes   map[uint64]*RawNode
	storage map[uint64]*MemoryStorage
	applied map[uint64][]pb.Entry // normal entries applied, per member
	// drop[from][to] cuts the link; ignore drops a message type everywhere.
	drop   map[[2]uint64]bool
	ignore map[pb.MessageType]bool
	// intercept, if set, sees every message before delivery; returning
	// false drops it.
	intercept func(m pb.Message) bool
	// rewrite, if set, replaces a message that is about to be delivered.
	rewrite func(m pb.Message) pb.Message
	// opts are the config options each member was started with.
	opts map[uint64][]func(*Config)
	// onReady, if set, sees every Ready after it is persisted and applied
	// and before it is advanced.
	onReady func(id uint64, rd Ready)
}

func testConfig(id uint64, election, heartbeat int, s Storage) *Config {
	return &Config{
		ID:              id,
		ElectionTick:    election,
		HeartbeatTick:   heartbeat,
		Storage:         s,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
		Rand:            rand.New(rand.NewPCG(id, 1)),
	}
}

// newTestNetwork starts members 1..n of a new cluster, all voters.
func newTestNetwork(t testing.TB, n int, opts ...func(*Config)) *testNetwork {
	peers := make([]uint64, n)
	for i := range peers {
		peers[i] = uint64(i + 1)
	}
	return newTestNetworkWith(t, peers, nil, opts...)
}

// newTestNetworkWith starts the given voters and learners, each from a
// storage holding the membership as its initial snapshot at index 1.
func newTestNetworkWith(t testing.TB, voters, learners []uint64, opts ...func(*Config)) *testNetwork {
	nw := &testNetwork{
		t:       t,
		nodes:   map[uint64]*RawNode{},
		storage: map[uint64]*MemoryStorage{},
		applied: map[uint64][]pb.Entry{},
		drop:    map[[2]uint64]bool{},
		ignore:  map[pb.MessageType]bool{},
		opts:    map[uint64][]func(*Config){},
	}
	cs := pb.ConfState{Voters: voters, Learners: learners}
	for _, id := range append(append([]uint64(nil), voters...), learners...) {
		nw.addMember(id, cs, opts...)
	}
	return nw
}

// newTestNetworkFromStorages starts one member per storage, each from
// what its storage holds (see newTestStorage).
func newTestNetworkFromStorages(t testing.TB, storages map[uint64]*MemoryStorage, opts ...func(*Config)) *testNetwork {
	nw := newTestNetworkWith(t, nil, nil)
	for _, id := range sortedIDs(storages) {
		nw.addMemberWithStorage(id, storages[id], opts...)
	}
	return nw
}

func (nw *testNetwork) addMember(id uint64, cs pb.ConfState, opts ...func(*Config)) {
	s := NewMemoryStorage()
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}); err != nil {
		nw.t.Fatal(err)
	}
	nw.addMemberWithStorage(id, s, opts...)
}

func (nw *testNetwork) addMemberWithStorage(id uint64, s *MemoryStorage, opts ...func(*Config)) {
	c := testConfig(id, 10, 1, s)
	for _, o := range opts {
		o(c)
	}
	rn, err := NewRawNode(c)
	if err != nil {
		nw.t.Fatalf("start member %d: %v", id, err)
	}
	nw.nodes[id] = rn
	nw.storage[id] = s
	nw.opts[id] = opts
}

// restart replaces member id by a new one started from its storage, as
// after a crash: everything not persisted is lost. The application had
// applied everything committed (handleReady applies as it goes).
func (nw *testNetwork) restart(id uint64) {
	s := nw.storage[id]
	applied := s.hardState.Commit
	if si := s.snapshot.Metadata.Index; si > applied {
		applied = si
	}
	opts := nw.opts[id]
	nw.addMemberWithStorage(id, s, append(opts[:len(opts):len(opts)], func(c *Config) { c.Applied = applied })...)
	nw.opts[id] = opts
}

func (nw *testNetwork) raft(id uint64) *raft { return nw.nodes[id].raft }

// handleReady persists, applies and advances every pending Ready of id and
// returns the messages to send.
func (nw *testNetwork) handleReady(id uint64) []pb.Message {
	rn := nw.nodes[id]
	s := nw.storage[id]
	var msgs []pb.Message
	for rn.HasReady() {
		rd := rn.Ready()
		if !IsEmptySnap(rd.Snapshot) {
			if err := s.ApplySnapshot(rd.Snapshot); err != nil {
				nw.t.Fatalf("member %d: apply snapshot: %v", id, err)
			}
		}
		if err := s.Append(rd.Entries); err != nil {
			nw.t.Fatalf("member %d: append: %v", id, err)
		}
		if !IsEmptyHardState(rd.HardState) {
			_ = s.SetHardState(rd.HardState)
		}
		for _, e := range rd.CommittedEntries {
			switch e.Type {
			case pb.EntryConfChange:
				var cc pb.ConfChange
				if err := cc.Unmarshal(e.Data); err != nil {
					nw.t.Fatalf("member %d: bad conf change at %d: %v", id, e.Index, err)
				}
				_, _ = rn.ApplyConfChange(cc)
			case pb.EntryNormal:
				if len(e.Data) > 0 {
					nw.applied[id] = append(nw.applied[id], e)
				}
			}
		}
		if nw.onReady != nil {
			nw.onReady(id, rd)
		}
		msgs = append(msgs, rd.Messages...)
		rn.Advance(rd)
	}
	return msgs
}

// deliver runs the cluster until no message is left in flight.
func (nw *testNetwork) stabilize() {
	for i := 0; i < 10000; i++ {
		var msgs []pb.Message
		for _, id := range sortedIDs(nw.nodes) {
			msgs = append(msgs, nw.handleReady(id)...)
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			nw.deliver(m)
		}
	}
	nw.t.Fatal("network did not stabilize")
}

// deliver steps m into its recipient; it reports false if m was dropped.
func (nw *testNetwork) deliver(m pb.Message) bool {
	if nw.drop[[2]uint64{m.From, m.To}] || nw.ignore[m.Type] {
		return false
	}
	if nw.intercept != nil && !nw.intercept(m) {
		return false
	}
	if nw.rewrite != nil {
		m = nw.rewrite(m)
	}
	rn, ok := nw.nodes[m.To]
	if !ok {
		return false
	}
	_ = rn.Step(m)
	if m.Type == pb.MsgSnap {
		// The snapshot arrived: tell the sender, as a transport would.
		if from, ok := nw.nodes[m.From]; ok {
			from.ReportSnapshot(m.To, SnapshotFinish)
		}
	}
	return true
}

// send steps a local message into a member and stabilizes.
func (nw *testNetwork) send(m pb.Message) {
	_ = nw.nodes[m.To].raft.Step(m)
	nw.stabilize()
}

func (nw *testNetwork) campaign(id uint64) {
	nw.send(pb.Message{From: id, To: id, Type: pb.MsgHup})
}

func (nw *testNetwork) propose(id uint64, data string) error {
	err := nw.nodes[id].Propose([]byte(data))
	nw.stabilize()
	return err
}

// isolate cuts every link to and from id.
func (nw *testNetwork) isolate(id uint64) {
	for other := range nw.nodes {
		if other != id {
			nw.drop[[2]uint64{id, other}] = true
			nw.drop[[2]uint64{other, id}] = true
		}
	}
}

func (nw *testNetwork) cut(a, b uint64) {
	nw.drop[[2]uint64{a, b}] = true
	nw.drop[[2]uint64{b, a}] = true
}

func (nw *testNetwork) recover() {
	nw.drop = map[[2]uint64]bool{}
	nw.ignore = map[pb.MessageType]bool{}
}

// tick ticks every member n times, stabilizing after each round.
func (nw *testNetwork) tick(n int) {
	for i := 0; i < n; i++ {
		for _, id := range sortedIDs(nw.nodes) {
			nw.nodes[id].Tick()
		}
		nw.stabilize()
	}
}

func (nw *testNetwork) leader() uint64 {
	var lead uint64
	for id, rn := range nw.nodes {
		if rn.raft.state == StateLeader {
			if lead != None {
				nw.t.Fatalf("two leaders: %d and %d", lead, id)
			}
			lead = id
		}
	}
	return lead
}

func (nw *testNetwork) appliedData(id uint64) []string {
	var out []string
	for _, e := range nw.applied[id] {
		out = append(out, string(e.Data))
	}
	return out
}

func sortedIDs[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j-1] > ids[j]; j-- {
			ids[j-1], ids[j] = ids[j], ids[j-1]
		}
	}
	return ids
}

// Helpers for tests that drive one raft directly, without a network.

// newTestStorage returns an empty log whose membership is voters and
// learners, as if a snapshot at index 0 had set it, so that the first
// entry is at index 1.
func newTestStorage(voters []uint64, learners ...uint64) *MemoryStorage {
	s := NewMemoryStorage()
	s.snapshot.Metadata.ConfState = pb.ConfState{Voters: voters, Learners: learners}
	return s
}

// newTestLogStorage is newTestStorage holding entries of the given terms
// at indexes 1, 2, ..., and a hard state at the last entry's term.
func newTestLogStorage(voters []uint64, terms ...uint64) *MemoryStorage {
	s := newTestStorage(voters)
	ents := entsWithTerms(1, terms...)
	if err := s.Append(ents); err != nil {
		panic(err)
	}
	if n := len(terms); n > 0 {
		_ = s.SetHardState(pb.HardState{Term: terms[n-1]})
	}
	return s
}

// entsWithTerms returns entries of the given terms from index first on.
func entsWithTerms(first uint64, terms ...uint64) []pb.Entry {
	ents := make([]pb.Entry, len(terms))
	for i, term := range terms {
		ents[i] = pb.Entry{Index: first + uint64(i), Term: term}
	}
	return ents
}

func idsUpTo(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// newTestRaft starts member id over s with testConfig's defaults
// (election 10 ticks, heartbeat 1), changed by opts.
func newTestRaft(t testing.TB, id uint64, s Storage, opts ...func(*Config)) *raft {
	t.Helper()
	c := testConfig(id, 10, 1, s)
	for _, o := range opts {
		o(c)
	}
	r, err := newRaft(c)
	if err != nil {
		t.Fatalf("start member %d: %v", id, err)
	}
	return r
}

func withTicks(election, heartbeat int) func(*Config) {
	return func(c *Config) { c.ElectionTick, c.HeartbeatTick = election, heartbeat }
}

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }

// readMessages returns and clears what r has queued to send. Unlike
// takeMessages it starts no read-index round.
func readMessages(r *raft) []pb.Message {
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// msgsOfType keeps the messages of type typ.
func msgsOfType(msgs []pb.Message, typ pb.MessageType) []pb.Message {
	var out []pb.Message
	for _, m := range msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// persistAll does what an application does with a Ready's entries and
// committed entries: store the unstable entries in s and apply everything
// committed.
func persistAll(r *raft, s *MemoryStorage) {
	if ents := r.raftLog.unstableEntries(); len(ents) > 0 {
		if err := s.Append(ents); err != nil {
			panic(err)
		}
		last := ents[len(ents)-1]
		r.raftLog.stableTo(last.Index, last.Term)
	}
	r.raftLog.appliedTo(r.raftLog.committed)
}

// becomeEstablishedLeader makes r leader of its configuration and has
// every other voter and learner acknowledge its first entry, so that the
// entry commits and every follower is in StateReplicate. It persists the
// log and drops the messages sent.
func becomeEstablishedLeader(t testing.TB, r *raft, s *MemoryStorage) {
	t.Helper()
	r.becomeCandidate()
	r.becomeLeader()
	last := r.raftLog.lastIndex()
	for _, id := range sortedIDs(r.trk.Progress) {
		if id != r.id {
			if err := r.Step(pb.Message{From: id, To: r.id, Type: pb.MsgAppResp, Term: r.Term, Index: last}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r.raftLog.committed != last {
		t.Fatalf("leader's first entry %d not committed (commit %d)", last, r.raftLog.committed)
	}
	persistAll(r, s)
	readMessages(r)
}

// entryIDs renders a log as "index/term" pairs for comparison.
func entryIDs(ents []pb.Entry) []string {
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = fmt.Sprintf("%d/%d", e.Index, e.Term)
	}
	return out
}
