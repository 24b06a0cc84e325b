package server

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/basaltkv/basalt/server/membership"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

func confEntry(t *testing.T, index uint64, typ raftpb.ConfChangeType, id uint64) raftpb.Entry {
	t.Helper()
	data, err := (&raftpb.ConfChange{Type: typ, NodeID: id}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raftpb.Entry{Type: raftpb.EntryConfChange, Term: 1, Index: index, Data: data}
}

func TestEffectiveNodeIDs(t *testing.T) {
	snap := &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 10, ConfState: raftpb.ConfState{Voters: []uint64{3, 1}, Learners: []uint64{7}}}}
	tests := []struct {
		name string
		snap *raftpb.Snapshot
		ents []raftpb.Entry
		want []uint64
	}{
		{name: "empty", want: []uint64{}},
		{name: "snapshot voters and learners", snap: snap, want: []uint64{1, 3, 7}},
		{name: "log only", ents: []raftpb.Entry{
			confEntry(t, 1, raftpb.ConfChangeAddNode, 5), confEntry(t, 2, raftpb.ConfChangeAddNode, 2),
			{Type: raftpb.EntryNormal, Index: 3}, confEntry(t, 4, raftpb.ConfChangeAddLearnerNode, 9),
		}, want: []uint64{2, 5, 9}},
		{name: "removes and updates after snapshot", snap: snap, ents: []raftpb.Entry{
			confEntry(t, 11, raftpb.ConfChangeRemoveNode, 3), confEntry(t, 12, raftpb.ConfChangeUpdateNode, 8),
			confEntry(t, 13, raftpb.ConfChangeAddNode, 4),
		}, want: []uint64{1, 4, 7}},
		{name: "undecodable conf change skipped", ents: []raftpb.Entry{
			{Type: raftpb.EntryConfChange, Index: 1, Data: []byte{0xff, 0xff}}, confEntry(t, 2, raftpb.ConfChangeAddNode, 6),
		}, want: []uint64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := effectiveNodeIDs(tt.snap, tt.ents); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// describe renders conf change entries as "index:term:type:node[:peerURLs]".
func describe(t *testing.T, ents []raftpb.Entry) []string {
	t.Helper()
	var out []string
	for _, e := range ents {
		var cc raftpb.ConfChange
		if e.Type != raftpb.EntryConfChange || cc.Unmarshal(e.Data) != nil {
			t.Fatalf("entry %d is not a conf change", e.Index)
		}
		s := fmt.Sprintf("%d:%d:%s:%x", e.Index, e.Term, cc.Type, cc.NodeID)
		if len(cc.Context) > 0 {
			var mem membership.Member
			if err := json.Unmarshal(cc.Context, &mem); err != nil || mem.ID != cc.NodeID {
				t.Fatalf("context %s: %v", cc.Context, err)
			}
			s += fmt.Sprint(":", mem.PeerURLs)
		}
		out = append(out, s)
	}
	return out
}

func TestForcedConfChanges(t *testing.T) {
	tests := []struct {
		name   string
		ids    []uint64
		self   uint64
		member *membership.Member
		want   []string
	}{
		{name: "already alone", ids: []uint64{0xa}, self: 0xa},
		{name: "remove the others", ids: []uint64{0xa, 0xb, 0xc}, self: 0xb,
			want: []string{"8:3:ConfChangeRemoveNode:a", "9:3:ConfChangeRemoveNode:c"}},
		{name: "unknown self is added first at etcd's URL", ids: []uint64{0xa}, self: 0xf,
			want: []string{"8:3:ConfChangeAddNode:f:[http://localhost:2380]", "9:3:ConfChangeRemoveNode:a"}},
		{name: "unknown self keeps its stored URLs", ids: nil, self: 0xf, member: &membership.Member{ID: 0xf, PeerURLs: []string{"http://h:1"}},
			want: []string{"8:3:ConfChangeAddNode:f:[http://h:1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ents, err := forcedConfChanges(tt.ids, tt.self, tt.member, 3, 7)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(t, ents); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommittedEntries(t *testing.T) {
	ents := []raftpb.Entry{{Index: 4}, {Index: 5}, {Index: 6}}
	tests := []struct {
		commit uint64
		want   int
	}{{3, 0}, {4, 1}, {5, 2}, {6, 3}, {9, 3}}
	for _, tt := range tests {
		if got := committedEntries(zap.NewNop(), slices.Clone(ents), tt.commit); len(got) != tt.want {
			t.Errorf("commit %d: kept %d entries, want %d", tt.commit, len(got), tt.want)
		}
	}
}

// TestForceNewClusterRestartsAlone: a member of a stopped three-member
// cluster restarted with ForceNewCluster leads alone with every key, and
// keeps doing so when restarted without it; with and without a raft
// snapshot in its data dir.
func TestForceNewClusterRestartsAlone(t *testing.T) {
	tests := []struct {
		name          string
		snapshotCount uint64
	}{
		{name: "log only", snapshotCount: 10000},
		{name: "raft snapshot", snapshotCount: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, 3, func(cfg *Config) {
				cfg.SnapshotCount = tt.snapshotCount
				cfg.SnapshotCatchUpEntries = 2
			})
			c.waitReady()
			ctx := ctxT(t)
			lead := c.leader()
			for i := 0; i < 20; i++ {
				if _, err := lead.m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}); err != nil {
					t.Fatal(err)
				}
			}
			want := lead.m.Store().Rev()
			// Every member has applied everything before they stop.
			for _, tm := range c.members {
				if _, err := tm.m.Range(ctx, &pb.RangeRequest{Key: []byte("k0")}); err != nil {
					t.Fatal(err)
				}
			}
			c.stop()
			tm := c.members[1]
			if tt.snapshotCount < 20 && tm.m.applier.snapshotIndex == 0 {
				t.Fatal("no raft snapshot taken")
			}
			restartAlone(t, c, tm, true, want)
			restartAlone(t, c, tm, false, want)
		})
	}
}

// TestForceNewClusterDropsUncommitted: an entry the leader appended but
// could not commit (its followers were down) is gone after a forced
// restart, as etcd drops what is not known committed.
func TestForceNewClusterDropsUncommitted(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	lead := c.leader()
	for i := 0; i < 20; i++ {
		if _, err := lead.m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	want := lead.m.Store().Rev()
	for _, tm := range c.members {
		if tm != lead {
			tm.m.Stop()
			tm.srv.Close()
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := lead.m.Put(short, &pb.PutRequest{Key: []byte("uncommitted"), Value: []byte("v")}); err == nil {
		t.Fatal("a put without a quorum succeeded")
	}
	c.stop()
	restartAlone(t, c, lead, true, want)
}

// restartAlone starts tm on its data dir, forced or not, and checks that
// it leads alone, keeps its identity and the keys k0..k19 at revision
// want or later (and no key "uncommitted"), and takes a write.
func restartAlone(t *testing.T, c *testCluster, tm *testMember, force bool, want int64) {
	t.Helper()
	oldID, oldCluster := tm.m.ID(), tm.m.ClusterID()
	ln, err := net.Listen("tcp", tm.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tm.ln = ln
	tm.cfg.ForceNewCluster = force
	c.start(tm)
	select {
	case <-tm.m.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatalf("not ready (force %v)", force)
	}
	ctx := ctxT(t)
	if tm.m.ID() != oldID || tm.m.ClusterID() != oldCluster {
		t.Fatalf("IDs %x/%x, want %x/%x", tm.m.ID(), tm.m.ClusterID(), oldID, oldCluster)
	}
	if !tm.m.IsLeader() {
		t.Fatal("not leader")
	}
	ml, err := tm.m.MemberList(ctx, true)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ID != oldID {
		t.Fatalf("member list %v (%v), want only %x", ml.GetMembers(), err, oldID)
	}
	resp, err := tm.m.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	if err != nil || resp.Count != 20 || resp.Header.Revision < want {
		t.Fatalf("range: %v %v, want 20 keys at revision >= %d", resp, err, want)
	}
	if resp, err := tm.m.Range(ctx, &pb.RangeRequest{Key: []byte("uncommitted")}); err != nil || resp.Count != 0 {
		t.Fatalf("uncommitted key: %v %v, want none", resp, err)
	}
	if _, err := tm.m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("new-", force)), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	tm.m.Stop()
	tm.srv.Close()
}
