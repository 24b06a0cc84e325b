package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/failpoint"
	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/rafthttp"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

// advanceCounter is a raft.Node that counts Advance calls; handleReady
// uses nothing else of it here.
type advanceCounter struct {
	raft.Node
	advanced int
}

func (n *advanceCounter) Advance() { n.advanced++ }

// TestLeaderChangeAnnouncedWithItsTerm: a Ready that brings a new term
// and a new leader publishes the term before it announces the leader, so
// whoever hears of the change reads the new term.
func TestLeaderChangeAnnouncedWithItsTerm(t *testing.T) {
	w, err := wal.Create(vfs.OS, filepath.Join(t.TempDir(), "wal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	node := &advanceCounter{}
	type heard struct{ lead, term uint64 }
	var got []heard
	r := &raftNode{
		lg:         zap.NewNop(),
		id:         1,
		node:       node,
		storage:    raft.NewMemoryStorage(),
		wal:        w,
		transport:  rafthttp.New(rafthttp.Config{ID: 1, ClusterID: 1}),
		cluster:    membership.New(1),
		stats:      newRaftStats(1, "m"),
		readStates: make(chan raft.ReadState, 1),
		applyc:     make(chan toApply, 1),
	}
	defer r.transport.Stop()
	r.onRole = func(lead uint64, _, changed bool) {
		if changed {
			got = append(got, heard{lead, r.term.Load()})
		}
	}
	leaderChanged := r.leaderChanged.wait()
	var islead bool
	rd := raft.Ready{
		SoftState: &raft.SoftState{Lead: 2, RaftState: raft.StateFollower},
		HardState: raftpb.HardState{Term: 7, Vote: 2, Commit: 0},
	}
	if err := r.handleReady(rd, &islead, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leaderChanged:
	default:
		t.Fatal("leaderChanged did not fire")
	}
	if len(got) != 1 || got[0] != (heard{lead: 2, term: 7}) {
		t.Fatalf("heard %+v, want leader 2 with term 7", got)
	}
	if node.advanced != 1 {
		t.Fatalf("advanced %d times, want 1", node.advanced)
	}
}

// TestProposeOnStopReleasesItsWaiter: a proposal waiting for its entry
// when the member stops returns ErrStopped and leaves no waiter behind.
func TestProposeOnStopReleasesItsWaiter(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	lead := c.leader()
	for _, tm := range c.members {
		if tm != lead {
			tm.m.Stop() // no quorum: the proposal cannot commit
			tm.srv.Close()
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := lead.m.Put(context.Background(), &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
		errc <- err
	}()
	testutil.WaitUntil(t, 10*time.Second, "the proposal's waiter", func() bool { return waiters(lead.m) > 0 })
	lead.m.Stop()
	if err := <-errc; !errors.Is(err, serverr.ErrStopped) {
		t.Fatalf("put on a stopping member: %v, want %v", err, serverr.ErrStopped)
	}
	if n := waiters(lead.m); n != 0 {
		t.Fatalf("%d waiters left after the member stopped", n)
	}
}

func waiters(m *Member) int {
	m.waiters.mu.Lock()
	defer m.waiters.mu.Unlock()
	return len(m.waiters.m)
}

// TestDurableReadyIsInTheLog: when the applier hears that a Ready is
// durable, the in-memory log holds its entries. The applier may then
// take a snapshot at an index the Ready commits (a single member commits
// what it appends in the same Ready), which needs the entry there: the
// other way round a member stopped with "requested entry at index is
// unavailable". The crash point after the notification sleeps, so a log
// appended after it would be seen missing every time.
func TestDurableReadyIsInTheLog(t *testing.T) {
	w, err := wal.Create(vfs.OS, filepath.Join(t.TempDir(), "wal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := &raftNode{
		lg:         zap.NewNop(),
		id:         1,
		node:       &advanceCounter{},
		storage:    raft.NewMemoryStorage(),
		wal:        w,
		transport:  rafthttp.New(rafthttp.Config{ID: 1, ClusterID: 1}),
		cluster:    membership.New(1),
		onRole:     func(uint64, bool, bool) {},
		stats:      newRaftStats(1, "m"),
		readStates: make(chan raft.ReadState, 1),
		applyc:     make(chan toApply, 1),
	}
	defer r.transport.Stop()
	if err := failpoint.Set("raftAfterPersistNotify", "1*sleep(100ms)"); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Set("raftAfterPersistNotify", "off")
	ents := []raftpb.Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}
	rd := raft.Ready{
		SoftState:        &raft.SoftState{Lead: 1, RaftState: raft.StateLeader},
		HardState:        raftpb.HardState{Term: 1, Vote: 1, Commit: 3},
		Entries:          ents,
		CommittedEntries: ents,
	}
	seen := make(chan uint64, 1)
	go func() {
		ap := <-r.applyc
		<-ap.persisted
		last, _ := r.storage.LastIndex()
		seen <- last
	}()
	var islead bool
	if err := r.handleReady(rd, &islead, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if last := <-seen; last < 3 {
		t.Fatalf("the applier heard the Ready was durable with the log at %d, before its entries up to 3", last)
	}
}
