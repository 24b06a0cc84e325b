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
	}
	cs := pb.ConfState{Voters: voters, Learners: learners}
	for _, id := range append(append([]uint64(nil), voters...), learners...) {
		nw.addMember(id, cs, opts...)
	}
	return nw
}

func (nw *testNetwork) addMember(id uint64, cs pb.ConfState, opts ...func(*Config)) {
	s := NewMemoryStorage()
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}); err != nil {
		nw.t.Fatal(err)
	}
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

func (nw *testNetwork) deliver(m pb.Message) {
	if nw.drop[[2]uint64{m.From, m.To}] || nw.ignore[m.Type] {
		return
	}
	if nw.intercept != nil && !nw.intercept(m) {
		return
	}
	rn, ok := nw.nodes[m.To]
	if !ok {
		return
	}
	_ = rn.Step(m)
	if m.Type == pb.MsgSnap {
		// The snapshot arrived: tell the sender, as a transport would.
		if from, ok := nw.nodes[m.From]; ok {
			from.ReportSnapshot(m.To, SnapshotFinish)
		}
	}
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

func ltoa(l *raftLog) string {
	s := fmt.Sprintf("committed: %d\napplied: %d\n", l.committed, l.applied)
	for i, e := range l.allEntries() {
		s += fmt.Sprintf("#%d: %+v\n", i, e)
	}
	return s
}
