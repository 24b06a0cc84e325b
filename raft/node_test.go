package raft

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// nodeTestTimeout bounds every wait in these tests: the Node goroutines
// are real, so progress is awaited by polling, never by sleeping a guess.
const nodeTestTimeout = 10 * time.Second

// recvReady waits for the next Ready of n.
func recvReady(t *testing.T, n Node) Ready {
	t.Helper()
	select {
	case rd := <-n.Ready():
		return rd
	case <-time.After(nodeTestTimeout):
		t.Fatal("timed out waiting for a Ready")
		return Ready{}
	}
}

// nodeTestMember is one Node of a nodeTestCluster and what its application
// loop recorded.
type nodeTestMember struct {
	id      uint64
	node    Node
	storage *MemoryStorage
	inbox   chan pb.Message

	mu         sync.Mutex
	applied    []string // data of applied normal entries
	readStates []ReadState
}

func (m *nodeTestMember) appliedData() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.applied)
}

func (m *nodeTestMember) takeReadStates() []ReadState {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.readStates
	m.readStates = nil
	return rs
}

// nodeTestCluster runs Nodes, each with an application loop that persists
// to MemoryStorage, sends over an in-process channel transport, applies and
// advances, the way the server drives Node.
type nodeTestCluster struct {
	t       *testing.T
	members map[uint64]*nodeTestMember
	stop    chan struct{}
	wg      sync.WaitGroup
}

// newNodeTestCluster starts members 1..n of a new cluster.
func newNodeTestCluster(t *testing.T, n int) *nodeTestCluster {
	c := &nodeTestCluster{t: t, members: map[uint64]*nodeTestMember{}, stop: make(chan struct{})}
	var peers []Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, Peer{ID: id})
	}
	for _, p := range peers {
		s := NewMemoryStorage()
		node, err := StartNode(testConfig(p.ID, 10, 1, s), peers)
		if err != nil {
			t.Fatal(err)
		}
		c.members[p.ID] = &nodeTestMember{id: p.ID, node: node, storage: s, inbox: make(chan pb.Message, 4096)}
	}
	for _, m := range c.members {
		c.wg.Add(1)
		go c.run(m)
	}
	t.Cleanup(c.close)
	// A member refuses to campaign until it has applied the bootstrap
	// membership.
	for _, m := range c.members {
		testutil.WaitUntil(t, nodeTestTimeout, "the bootstrap entries to be applied", func() bool { return m.node.Status().Applied >= uint64(n) })
	}
	return c
}

func (c *nodeTestCluster) run(m *nodeTestMember) {
	defer c.wg.Done()
	ctx := context.Background()
	for {
		select {
		case rd := <-m.node.Ready():
			if !IsEmptySnap(rd.Snapshot) {
				if err := m.storage.ApplySnapshot(rd.Snapshot); err != nil {
					c.t.Errorf("member %d: apply snapshot: %v", m.id, err)
				}
			}
			if err := m.storage.Append(rd.Entries); err != nil {
				c.t.Errorf("member %d: append: %v", m.id, err)
			}
			if !IsEmptyHardState(rd.HardState) {
				_ = m.storage.SetHardState(rd.HardState)
			}
			for _, msg := range rd.Messages {
				c.send(msg)
			}
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryConfChange:
					var cc pb.ConfChange
					if err := cc.Unmarshal(e.Data); err != nil {
						c.t.Errorf("member %d: conf change at %d: %v", m.id, e.Index, err)
						continue
					}
					_, _ = m.node.ApplyConfChange(cc)
				case pb.EntryNormal:
					if len(e.Data) > 0 {
						m.mu.Lock()
						m.applied = append(m.applied, string(e.Data))
						m.mu.Unlock()
					}
				}
			}
			if len(rd.ReadStates) > 0 {
				m.mu.Lock()
				m.readStates = append(m.readStates, rd.ReadStates...)
				m.mu.Unlock()
			}
			m.node.Advance()
		case msg := <-m.inbox:
			_ = m.node.Step(ctx, msg)
		case <-c.stop:
			return
		}
	}
}

// send delivers msg to its recipient's inbox, or drops it if the inbox is
// full, as a lossy network would; blocking here could deadlock two loops.
func (c *nodeTestCluster) send(msg pb.Message) {
	to, ok := c.members[msg.To]
	if !ok {
		return
	}
	select {
	case to.inbox <- msg:
	default:
	}
}

func (c *nodeTestCluster) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.wg.Wait()
	for _, m := range c.members {
		m.node.Stop()
	}
}

// elect makes id campaign and waits until every member follows it.
func (c *nodeTestCluster) elect(id uint64) {
	c.t.Helper()
	if err := c.members[id].node.Campaign(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.waitLeader(id)
}

func (c *nodeTestCluster) waitLeader(id uint64) {
	c.t.Helper()
	for _, m := range c.members {
		testutil.WaitUntil(c.t, nodeTestTimeout, "every member to follow the leader", func() bool {
			st := m.node.Status()
			if m.id == id {
				return st.RaftState == StateLeader
			}
			return st.Lead == id
		})
	}
	// The leader serves reads and refuses nothing once its term's first
	// entry is committed.
	lead := c.members[id].node
	testutil.WaitUntil(c.t, nodeTestTimeout, "the leader to commit an entry of its term", func() bool {
		st := lead.Status()
		return st.Applied >= st.Commit && st.Commit > 0 && storageTerm(c.members[id].storage, st.Commit) == st.Term
	})
}

func storageTerm(s *MemoryStorage, i uint64) uint64 {
	t, _ := s.Term(i)
	return t
}

func TestNodeStartBootstraps(t *testing.T) {
	s := NewMemoryStorage()
	n, err := StartNode(testConfig(1, 10, 1, s), []Peer{{ID: 1, Context: []byte("ctx")}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cc := pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 1, Context: []byte("ctx")}
	ccData, err := cc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []pb.Entry{{Type: pb.EntryConfChange, Term: 1, Index: 1, Data: ccData}}

	// The first Ready carries the bootstrap membership as a committed
	// entry, to persist and apply like any other.
	rd := recvReady(t, n)
	if rd.HardState != (pb.HardState{Term: 1, Commit: 1}) || !rd.MustSync {
		t.Fatalf("first Ready hard state %+v, must sync %v; want term 1 commit 1, sync", rd.HardState, rd.MustSync)
	}
	if !reflect.DeepEqual(rd.Entries, want) || !reflect.DeepEqual(rd.CommittedEntries, want) {
		t.Fatalf("first Ready entries %v, committed %v; want %v for both", rd.Entries, rd.CommittedEntries, want)
	}
	if len(rd.Messages) != 0 {
		t.Fatalf("first Ready messages %v, want none", rd.Messages)
	}
	if err := s.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	_ = s.SetHardState(rd.HardState)
	cs, err := n.ApplyConfChange(cc)
	if err != nil || !reflect.DeepEqual(cs, pb.ConfState{Voters: []uint64{1}}) {
		t.Fatalf("ApplyConfChange = %+v, %v; want voters [1]", cs, err)
	}
	n.Advance()

	// A single voter wins its election at once and appends an empty entry.
	if err := n.Campaign(context.Background()); err != nil {
		t.Fatal(err)
	}
	rd = recvReady(t, n)
	if rd.SoftState == nil || rd.SoftState.RaftState != StateLeader || rd.SoftState.Lead != 1 {
		t.Fatalf("Ready after campaign soft state %+v, want leader 1", rd.SoftState)
	}
	if len(rd.Entries) != 1 || rd.Entries[0].Index != 2 || rd.Entries[0].Term != 2 || len(rd.Entries[0].Data) != 0 {
		t.Fatalf("Ready after campaign entries %v, want the empty entry 2/2", rd.Entries)
	}
	if rd.HardState.Term != 2 || rd.HardState.Vote != 1 {
		t.Fatalf("Ready after campaign hard state %+v, want term 2 vote 1", rd.HardState)
	}
}

func TestNodeStartRejectsBadInput(t *testing.T) {
	nonEmpty := NewMemoryStorage()
	if err := nonEmpty.Append(entsFrom(1, 1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   *Config
		peers []Peer
	}{
		{"bootstrap over a nonempty log", testConfig(1, 10, 1, nonEmpty), []Peer{{ID: 1}}},
		{"id 0", testConfig(0, 10, 1, NewMemoryStorage()), []Peer{{ID: 1}}},
		{"election tick not above heartbeat", testConfig(1, 1, 1, NewMemoryStorage()), []Peer{{ID: 1}}},
	}
	for _, tt := range tests {
		if n, err := StartNode(tt.cfg, tt.peers); err == nil {
			n.Stop()
			t.Errorf("%s: StartNode succeeded", tt.name)
		}
	}
}

func TestNodeRestart(t *testing.T) {
	tests := []struct {
		name          string
		snapshot      *pb.Snapshot
		ents          []pb.Entry
		hs            pb.HardState
		applied       uint64
		wantCommitted []pb.Entry
	}{
		{
			name: "from entries",
			ents: []pb.Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2, Data: []byte("a")}, {Term: 1, Index: 3, Data: []byte("b")}},
			hs:   pb.HardState{Term: 1, Commit: 2},
			// Committed but not applied before the restart: handed out again.
			wantCommitted: []pb.Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2, Data: []byte("a")}},
		},
		{
			name:          "from entries, partly applied",
			ents:          []pb.Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2, Data: []byte("a")}, {Term: 1, Index: 3, Data: []byte("b")}},
			hs:            pb.HardState{Term: 1, Commit: 3},
			applied:       2,
			wantCommitted: []pb.Entry{{Term: 1, Index: 3, Data: []byte("b")}},
		},
		{
			name:          "from a snapshot",
			snapshot:      &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 2, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}},
			ents:          []pb.Entry{{Term: 1, Index: 3, Data: []byte("c")}, {Term: 2, Index: 4, Data: []byte("d")}},
			hs:            pb.HardState{Term: 2, Vote: 2, Commit: 3},
			wantCommitted: []pb.Entry{{Term: 1, Index: 3, Data: []byte("c")}},
		},
		{
			name:     "from a snapshot, nothing to apply",
			snapshot: &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 2, Term: 1, ConfState: pb.ConfState{Voters: []uint64{1, 2}}}},
			ents:     []pb.Entry{{Term: 1, Index: 3, Data: []byte("c")}},
			hs:       pb.HardState{Term: 1, Commit: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemoryStorage()
			if tt.snapshot != nil {
				if err := s.ApplySnapshot(*tt.snapshot); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Append(tt.ents); err != nil {
				t.Fatal(err)
			}
			_ = s.SetHardState(tt.hs)
			c := testConfig(1, 10, 1, s)
			c.Applied = tt.applied
			n, err := RestartNode(c)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Stop()
			st := n.Status()
			if st.HardState != tt.hs || st.RaftState != StateFollower || st.Lead != None {
				t.Fatalf("status after restart %s, want hard state %+v as a follower without leader", st, tt.hs)
			}
			if len(tt.wantCommitted) == 0 {
				select {
				case rd := <-n.Ready():
					t.Fatalf("unexpected Ready after restart: %+v", rd)
				default:
				}
				return
			}
			rd := recvReady(t, n)
			// Nothing changed that needs persisting: restarting is not news.
			if !IsEmptyHardState(rd.HardState) || len(rd.Entries) != 0 || !IsEmptySnap(rd.Snapshot) || rd.MustSync {
				t.Fatalf("Ready after restart asks to persist: %+v", rd)
			}
			if !reflect.DeepEqual(rd.CommittedEntries, tt.wantCommitted) {
				t.Fatalf("committed entries %v, want %v", rd.CommittedEntries, tt.wantCommitted)
			}
			n.Advance()
			if got := n.Status().Applied; got != tt.hs.Commit {
				t.Fatalf("applied %d after Advance, want %d", got, tt.hs.Commit)
			}
		})
	}
}

func TestNodeProposeOnLeader(t *testing.T) {
	c := newNodeTestCluster(t, 1)
	c.elect(1)
	m := c.members[1]
	for _, d := range []string{"a", "b", "c"} {
		if err := m.node.Propose(context.Background(), []byte(d)); err != nil {
			t.Fatalf("Propose(%q) on the leader: %v", d, err)
		}
	}
	testutil.WaitUntil(t, nodeTestTimeout, "the proposals to be applied", func() bool { return len(m.appliedData()) == 3 })
	if got := m.appliedData(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("applied %v, want a b c", got)
	}
}

func TestNodeProposeThroughFollower(t *testing.T) {
	c := newNodeTestCluster(t, 3)
	c.elect(1)
	if err := c.members[2].node.Propose(context.Background(), []byte("via follower")); err != nil {
		t.Fatalf("Propose on a follower with a leader: %v", err)
	}
	for _, m := range c.members {
		testutil.WaitUntil(t, nodeTestTimeout, "every member to apply the forwarded proposal", func() bool {
			return slices.Equal(m.appliedData(), []string{"via follower"})
		})
	}
}

func TestNodeProposeWithoutLeader(t *testing.T) {
	c := newNodeTestCluster(t, 3)
	err := c.members[1].node.Propose(context.Background(), []byte("x"))
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("Propose without a leader: %v, want ErrNoLeader (an ErrProposalDropped)", err)
	}
	cc := pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 4}
	if err := c.members[2].node.ProposeConfChange(context.Background(), cc); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("ProposeConfChange without a leader: %v, want ErrNoLeader", err)
	}
}

// ProposeAsync: an accepted proposal is applied and its channel stays
// silent; a refused one gets raft's error on it; a done context stops it
// before raft.
func TestNodeProposeAsync(t *testing.T) {
	c := newNodeTestCluster(t, 3)
	refused, err := c.members[1].node.ProposeAsync(context.Background(), []byte("no leader"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !errors.Is(err, ErrNoLeader) {
			t.Fatalf("ProposeAsync without a leader: %v, want ErrNoLeader", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refusal without a leader")
	}

	c.elect(1)
	m := c.members[1]
	accepted, err := m.node.ProposeAsync(context.Background(), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, nodeTestTimeout, "the proposal to be applied", func() bool { return slices.Equal(m.appliedData(), []string{"a"}) })
	select {
	case err := <-accepted:
		t.Fatalf("accepted proposal's channel got %v", err)
	default:
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.node.ProposeAsync(ctx, []byte("cancelled")); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProposeAsync with a cancelled context: %v", err)
	}
}

// TestNodeProposeCancelledContext: a proposal with a context already done
// is refused with the context's error and never reaches the log.
func TestNodeProposeCancelledContext(t *testing.T) {
	c := newNodeTestCluster(t, 1)
	c.elect(1)
	m := c.members[1]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 50; i++ {
		if err := m.node.Propose(ctx, []byte("cancelled")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Propose with a cancelled context: %v, want context.Canceled", err)
		}
	}
	deadline, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if err := m.node.Propose(deadline, []byte("expired")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Propose past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := m.node.Step(ctx, pb.Message{Type: pb.MsgHeartbeatResp, From: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Step with a cancelled context: %v, want context.Canceled", err)
	}
	if err := m.node.Propose(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, nodeTestTimeout, "the last proposal to be applied", func() bool { return len(m.appliedData()) > 0 })
	if got := m.appliedData(); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("applied %v, want only the proposal with a live context", got)
	}
}

func TestNodeProposeConfChange(t *testing.T) {
	c := newNodeTestCluster(t, 1)
	c.elect(1)
	n := c.members[1].node
	cc := pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 2, Context: []byte("learner")}
	if err := n.ProposeConfChange(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	// The application loop applies the committed change with
	// ApplyConfChange; the new membership shows in Status.
	want := pb.ConfState{Voters: []uint64{1}, Learners: []uint64{2}}
	// Raft counts the change applied at Advance, which the application
	// calls after ApplyConfChange: wait for both.
	testutil.WaitUntil(t, nodeTestTimeout, "the learner to be added", func() bool {
		st := n.Status()
		return reflect.DeepEqual(st.Config, want) && st.Applied >= st.Commit
	})
	// One change at a time: the next is accepted once this one is applied.
	cc = pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 2}
	if err := n.ProposeConfChange(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	want = pb.ConfState{Voters: []uint64{1, 2}}
	testutil.WaitUntil(t, nodeTestTimeout, "the learner to be promoted", func() bool { return reflect.DeepEqual(n.Status().Config, want) })
}

func TestNodeApplyConfChange(t *testing.T) {
	s := NewMemoryStorage()
	n, err := StartNode(testConfig(1, 10, 1, s), []Peer{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	tests := []struct {
		name    string
		cc      pb.ConfChange
		want    pb.ConfState
		wantErr error
	}{
		{"add a voter", pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 2}, pb.ConfState{Voters: []uint64{1, 2}}, nil},
		{"add a learner", pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 3}, pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, nil},
		{"demote a voter", pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeID: 2}, pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, ErrDemoteVoter},
		{"promote the learner", pb.ConfChange{Type: pb.ConfChangeAddNode, NodeID: 3}, pb.ConfState{Voters: []uint64{1, 2, 3}}, nil},
		{"remove a voter", pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 3}, pb.ConfState{Voters: []uint64{1, 2}}, nil},
		{"update is a no-op", pb.ConfChange{Type: pb.ConfChangeUpdateNode, NodeID: 2}, pb.ConfState{Voters: []uint64{1, 2}}, nil},
		{"node id 0", pb.ConfChange{Type: pb.ConfChangeAddNode}, pb.ConfState{Voters: []uint64{1, 2}}, ErrInvalidConfChange},
		{"remove", pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 2}, pb.ConfState{Voters: []uint64{1}}, nil},
		{"remove the last voter", pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: 1}, pb.ConfState{Voters: []uint64{1}}, ErrRemoveLastVoter},
	}
	for _, tt := range tests {
		cs, err := n.ApplyConfChange(tt.cc)
		if !errors.Is(err, tt.wantErr) || !reflect.DeepEqual(cs, tt.want) {
			t.Errorf("%s: ApplyConfChange = %+v, %v; want %+v, %v", tt.name, cs, err, tt.want, tt.wantErr)
		}
	}
}

func TestNodeReadIndex(t *testing.T) {
	c := newNodeTestCluster(t, 3)
	c.elect(1)
	for _, id := range []uint64{1, 2} {
		m := c.members[id]
		commit := c.members[1].node.Status().Commit
		rctx := []byte{'r', byte('0' + id)}
		if err := m.node.ReadIndex(context.Background(), rctx); err != nil {
			t.Fatal(err)
		}
		// On the leader the answer needs a heartbeat round; on a follower
		// the request goes to the leader and the answer comes back.
		var got []ReadState
		testutil.WaitUntil(t, nodeTestTimeout, "the read state", func() bool {
			got = append(got, m.takeReadStates()...)
			return len(got) > 0
		})
		if len(got) != 1 || got[0].Index != commit || string(got[0].RequestCtx) != string(rctx) {
			t.Fatalf("member %d: read states %+v, want one at %d with ctx %q", id, got, commit, rctx)
		}
	}
}

func TestNodeReadIndexSingleVoter(t *testing.T) {
	c := newNodeTestCluster(t, 1)
	c.elect(1)
	m := c.members[1]
	if err := m.node.ReadIndex(context.Background(), []byte("solo")); err != nil {
		t.Fatal(err)
	}
	var got []ReadState
	testutil.WaitUntil(t, nodeTestTimeout, "the read state", func() bool {
		got = append(got, m.takeReadStates()...)
		return len(got) > 0
	})
	if st := m.node.Status(); len(got) != 1 || got[0].Index != st.Commit || string(got[0].RequestCtx) != "solo" {
		t.Fatalf("read states %+v, want one at commit %d", got, st.Commit)
	}
}

func TestNodeTransferLeadership(t *testing.T) {
	for _, size := range []int{2, 3} {
		c := newNodeTestCluster(t, size)
		c.elect(1)
		term := c.members[1].node.Status().Term
		c.members[1].node.TransferLeadership(context.Background(), 1, 2)
		c.waitLeader(2)
		if st := c.members[2].node.Status(); st.Term <= term {
			t.Fatalf("size %d: new leader at term %d, want above %d", size, st.Term, term)
		}
		if st := c.members[1].node.Status(); st.RaftState != StateFollower || st.Lead != 2 {
			t.Fatalf("size %d: old leader status %s, want a follower of 2", size, st)
		}
		// And the cluster keeps working.
		if err := c.members[1].node.Propose(context.Background(), []byte("after transfer")); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.members {
			testutil.WaitUntil(t, nodeTestTimeout, "the proposal after the transfer to be applied", func() bool {
				return slices.Equal(m.appliedData(), []string{"after transfer"})
			})
		}
		c.close()
	}
}

func TestNodeStatus(t *testing.T) {
	c := newNodeTestCluster(t, 3)
	c.elect(1)
	lead := c.members[1].node.Status()
	if lead.ID != 1 || lead.RaftState != StateLeader || lead.Lead != 1 || lead.Vote != 1 {
		t.Fatalf("leader status %s", lead)
	}
	if !reflect.DeepEqual(lead.Config, pb.ConfState{Voters: []uint64{1, 2, 3}}) {
		t.Fatalf("leader config %+v", lead.Config)
	}
	if len(lead.Progress) != 3 || lead.Progress[1].Match != lead.Commit {
		t.Fatalf("leader progress %+v, want 3 members with its own match at commit %d", lead.Progress, lead.Commit)
	}
	// The progress is a copy: changing it changes nothing in raft.
	lead.Progress[2].Inflights.Add(1<<40, 1)
	if again := c.members[1].node.Status(); again.Progress[2].Inflights.Count() != 0 {
		t.Fatalf("changing a Status' progress changed raft's: %d in flight", again.Progress[2].Inflights.Count())
	}
	follower := c.members[2].node.Status()
	if follower.ID != 2 || follower.RaftState != StateFollower || follower.Lead != 1 || follower.Term != lead.Term {
		t.Fatalf("follower status %s", follower)
	}
	if follower.Progress != nil {
		t.Fatalf("follower reports progress %+v", follower.Progress)
	}
}

func TestNodeStepLocalMessage(t *testing.T) {
	c := newNodeTestCluster(t, 1)
	for _, typ := range []pb.MessageType{pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum} {
		if err := c.members[1].node.Step(context.Background(), pb.Message{Type: typ}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("Step(%s) = %v, want ErrStepLocalMsg", typ, err)
		}
	}
}

// TestNodeStop: once stopped, every method returns at once, with
// ErrStopped where it returns an error, and Stop may be called again,
// from several goroutines.
func TestNodeStop(t *testing.T) {
	n, err := StartNode(testConfig(1, 10, 1, NewMemoryStorage()), []Peer{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Campaign", func() error { return n.Campaign(ctx) }},
		{"Propose", func() error { return n.Propose(ctx, []byte("x")) }},
		{"ProposeConfChange", func() error { return n.ProposeConfChange(ctx, pb.ConfChange{NodeID: 2}) }},
		{"Step", func() error { return n.Step(ctx, pb.Message{Type: pb.MsgApp, From: 2, Term: 9}) }},
		{"ReadIndex", func() error { return n.ReadIndex(ctx, []byte("r")) }},
		{"ApplyConfChange", func() error { _, err := n.ApplyConfChange(pb.ConfChange{NodeID: 2}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, ErrStopped) {
			t.Errorf("%s after Stop = %v, want ErrStopped", c.name, err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Tick()
		n.Advance()
		n.TransferLeadership(ctx, 1, 2)
		n.ReportUnreachable(2)
		n.ReportSnapshot(2, SnapshotFinish)
		if st := n.Status(); st.ID != 0 {
			t.Errorf("Status after Stop = %s, want the zero Status", st)
		}
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); n.Stop() }()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(nodeTestTimeout):
		t.Fatal("a method blocked after Stop")
	}
}

// TestNodeStopWhileReadyPending: Stop returns even when a Ready is waiting
// to be received and a proposal is being made concurrently.
func TestNodeStopWhileReadyPending(t *testing.T) {
	n, err := StartNode(testConfig(1, 10, 1, NewMemoryStorage()), []Peer{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	proposed := make(chan error, 1)
	go func() { proposed <- n.Propose(context.Background(), []byte("x")) }()
	stopped := make(chan struct{})
	go func() { n.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(nodeTestTimeout):
		t.Fatal("Stop blocked with a Ready pending")
	}
	select {
	case err := <-proposed:
		// Refused for want of a leader, or stopped: either way it returned.
		if err == nil {
			t.Fatal("a proposal without a leader succeeded")
		}
	case <-time.After(nodeTestTimeout):
		t.Fatal("Propose blocked across Stop")
	}
}

// TestNodeTickBuffered: Tick never blocks, even while the application is
// not receiving Readys, and ticks given meanwhile are not lost (up to the
// buffer): they drive an election.
func TestNodeTickBuffered(t *testing.T) {
	s := NewMemoryStorage()
	n, err := StartNode(testConfig(1, 10, 1, s), []Peer{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	// Apply the bootstrap membership, without which nobody campaigns.
	rd := recvReady(t, n)
	if err := s.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range rd.CommittedEntries {
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			t.Fatal(err)
		}
		if _, err := n.ApplyConfChange(cc); err != nil {
			t.Fatal(err)
		}
	}
	n.Advance()

	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		// More than the buffer holds: the surplus is dropped, not waited on.
		for i := 0; i < 1000; i++ {
			n.Tick()
		}
	}()
	select {
	case <-ticked:
	case <-time.After(nodeTestTimeout):
		t.Fatal("Tick blocked while nobody received Ready")
	}
	// An election timeout is at most 2*ElectionTick ticks, well within the
	// buffer: the single voter has become leader without another tick.
	testutil.WaitUntil(t, nodeTestTimeout, "the ticks to elect the single voter", func() bool { return n.Status().RaftState == StateLeader })
	rd = recvReady(t, n)
	if rd.SoftState == nil || rd.SoftState.RaftState != StateLeader {
		t.Fatalf("Ready after the ticks: soft state %+v, want leader", rd.SoftState)
	}
	n.Advance()
}

// TestNodeAdvanceGatesReady: no Ready is handed out until the previous one
// is advanced, and the next one comes after Advance.
func TestNodeAdvanceGatesReady(t *testing.T) {
	s := NewMemoryStorage()
	n, err := StartNode(testConfig(1, 10, 1, s), []Peer{{ID: 1}, {ID: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	rd := recvReady(t, n)
	// Work that would make a Ready: a message from a higher term.
	if err := n.Step(context.Background(), pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 1, Term: 5}); err != nil {
		t.Fatal(err)
	}
	// Status is answered by the node's goroutine, so once it returns that
	// goroutine has taken the heartbeat and looped again.
	testutil.WaitUntil(t, nodeTestTimeout, "the heartbeat to be taken", func() bool { return n.Status().Term == 5 })
	select {
	case rd2 := <-n.Ready():
		t.Fatalf("a second Ready before Advance: %+v", rd2)
	default:
	}
	if err := s.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	n.Advance()
	rd = recvReady(t, n)
	if rd.HardState.Term != 5 || len(rd.Messages) != 1 || rd.Messages[0].Type != pb.MsgHeartbeatResp {
		t.Fatalf("Ready after Advance: hard state %+v messages %v; want term 5 and the heartbeat response", rd.HardState, rd.Messages)
	}
	n.Advance()
}
