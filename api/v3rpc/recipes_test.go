package v3rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/basaltkv/basalt/api/v3rpc"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
)

func TestLockService(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	lc := v3lockpb.NewLockClient(c.client.ActiveConnection())

	l1, err := c.client.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := c.client.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	held, err := lc.Lock(ctx(t), &v3lockpb.LockRequest{Name: []byte("mylock"), Lease: int64(l1.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(held.Key), "mylock/") {
		t.Fatalf("lock key %q", held.Key)
	}
	checkHeader(t, held.Header, 0)

	// A second owner waits...
	got := make(chan *v3lockpb.LockResponse, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := lc.Lock(ctx(t), &v3lockpb.LockRequest{Name: []byte("mylock"), Lease: int64(l2.ID)})
		if err != nil {
			errc <- err
			return
		}
		got <- r
	}()
	select {
	case r := <-got:
		t.Fatalf("second lock granted while held: %v", r)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(200 * time.Millisecond):
	}
	// ...until the first unlocks.
	if _, err := lc.Unlock(ctx(t), &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if string(r.Key) == string(held.Key) {
			t.Fatal("second owner got the first owner's key")
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("second lock never granted")
	}

	// A waiter whose context ends gives up.
	short, cancel := context.WithTimeout(ctx(t), 100*time.Millisecond)
	defer cancel()
	_, err = lc.Lock(short, &v3lockpb.LockRequest{Name: []byte("mylock"), Lease: int64(l1.ID)})
	if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Canceled {
		t.Fatalf("lock with expiring context: %v", err)
	}
}

func TestElectionService(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	ec := v3electionpb.NewElectionClient(c.client.ActiveConnection())

	if _, err := ec.Leader(ctx(t), &v3electionpb.LeaderRequest{Name: []byte("e")}); err == nil || !strings.Contains(err.Error(), "election: no leader") {
		t.Fatalf("leader of an empty election: %v", err)
	}

	obs, err := ec.Observe(ctx(t), &v3electionpb.LeaderRequest{Name: []byte("e")})
	if err != nil {
		t.Fatal(err)
	}

	l, err := c.client.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	camp, err := ec.Campaign(ctx(t), &v3electionpb.CampaignRequest{Name: []byte("e"), Lease: int64(l.ID), Value: []byte("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if camp.Leader == nil || camp.Leader.Lease != int64(l.ID) || string(camp.Leader.Name) != "e" {
		t.Fatalf("campaign: %+v", camp)
	}
	if r, err := obs.Recv(); err != nil || string(r.Kv.Value) != "v1" {
		t.Fatalf("observe: %v %v", r, err)
	}

	if _, err := ec.Proclaim(ctx(t), &v3electionpb.ProclaimRequest{Leader: camp.Leader, Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	lr, err := ec.Leader(ctx(t), &v3electionpb.LeaderRequest{Name: []byte("e")})
	if err != nil || string(lr.Kv.Value) != "v2" {
		t.Fatalf("leader: %v %v", lr, err)
	}
	if r, err := obs.Recv(); err != nil || string(r.Kv.Value) != "v2" {
		t.Fatalf("observe: %v %v", r, err)
	}

	if _, err := ec.Proclaim(ctx(t), &v3electionpb.ProclaimRequest{Value: []byte("x")}); err == nil || !strings.Contains(err.Error(), `"leader" field must be provided`) {
		t.Fatalf("proclaim without leader: %v", err)
	}
	if _, err := ec.Resign(ctx(t), &v3electionpb.ResignRequest{Leader: camp.Leader}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Proclaim(ctx(t), &v3electionpb.ProclaimRequest{Leader: camp.Leader, Value: []byte("v3")}); err == nil || !strings.Contains(err.Error(), "election: not leader") {
		t.Fatalf("proclaim after resign: %v", err)
	}
}
