package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestFollowerCatchesUpBySnapshot stops a follower, writes past several
// snapshots and log compactions, and restarts it: it must receive the
// database snapshot and serve everything.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotCount = 20
		cfg.SnapshotCatchUpEntries = 5
	})
	c.waitReady()
	ctx := ctxT(t)
	lead, follower := c.leader(), c.follower()
	follower.m.Stop()
	follower.srv.Close()
	for i := 0; i < 100; i++ {
		if _, err := lead.m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("k%03d", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	c.restart(follower)
	err := testutil.Poll(20*time.Second, func() error {
		resp, err := follower.m.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Serializable: true})
		if err == nil && resp.Count != 100 {
			err = fmt.Errorf("%d keys, want 100", resp.Count)
		}
		return err
	})
	if err != nil {
		t.Fatalf("follower did not catch up: %v", err)
	}
	follower.m.Stop() // the applier's fields are its goroutine's until then
	if follower.m.applier.snapshotIndex == 0 {
		t.Fatal("follower caught up without a snapshot")
	}
}

// TestLeaseExpiryDeletesKeys grants a short lease, attaches a key, and
// waits for the leader to revoke it through raft.
func TestLeaseExpiryDeletesKeys(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	follower := c.follower()
	g, err := follower.m.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.m.Put(ctx, &pb.PutRequest{Key: []byte("leased"), Value: []byte("v"), Lease: g.ID}); err != nil {
		t.Fatal(err)
	}
	// A keepalive through the follower reaches the leader.
	if ttl, err := follower.m.LeaseRenew(ctx, g.ID); err != nil || ttl <= 0 {
		t.Fatalf("renew via follower: ttl %d err %v", ttl, err)
	}
	ttlResp, err := follower.m.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: g.ID, Keys: true})
	if err != nil || len(ttlResp.Keys) != 1 {
		t.Fatalf("time to live via follower: %v %v", ttlResp, err)
	}
	err = testutil.Poll(20*time.Second, func() error {
		resp, err := follower.m.Range(ctx, &pb.RangeRequest{Key: []byte("leased")})
		if err == nil && resp.Count != 0 {
			err = fmt.Errorf("still there: %v", resp)
		}
		return err
	})
	if err != nil {
		t.Fatalf("leased key not deleted: %v", err)
	}
}

// A lease's keys as a client saw them written through a follower are
// what the leader reports: it waits for its applied index to reach its
// commit index before answering (etcd's waitAppliedIndex). Repeated, as
// the leader applying after the follower is a race.
func TestLeaseTimeToLiveSeesFollowerWrites(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	follower := c.follower()
	for i := range 50 {
		g, err := follower.m.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60})
		if err != nil {
			t.Fatal(err)
		}
		key := []byte(fmt.Sprintf("leased-%d", i))
		if _, err := follower.m.Put(ctx, &pb.PutRequest{Key: key, Value: []byte("v"), Lease: g.ID}); err != nil {
			t.Fatal(err)
		}
		resp, err := follower.m.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: g.ID, Keys: true})
		if err != nil || len(resp.Keys) != 1 || string(resp.Keys[0]) != string(key) {
			t.Fatalf("round %d: time to live via follower: %v %v", i, resp, err)
		}
	}
}
