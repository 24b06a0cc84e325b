package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

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
