package v3rpc_test

import (
	"errors"
	"testing"

	"github.com/basaltkv/basalt/api/v3rpc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLeaseEndToEnd(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client

	g, err := cli.Grant(ctx(t), 30)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, g.ResponseHeader, 0)
	if g.TTL != 30 || g.ID == 0 {
		t.Fatalf("grant: %+v", g)
	}
	if _, err := cli.Put(ctx(t), "leased", "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}

	ka, err := cli.KeepAliveOnce(ctx(t), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ka.ID != g.ID || ka.TTL != 30 {
		t.Fatalf("keepalive: %+v", ka)
	}
	checkHeader(t, ka.ResponseHeader, 2)

	ttl, err := cli.TimeToLive(ctx(t), g.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 30 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "leased" {
		t.Fatalf("time to live: %+v", ttl)
	}

	ls, err := cli.Leases(ctx(t))
	if err != nil || len(ls.Leases) != 1 || ls.Leases[0].ID != g.ID {
		t.Fatalf("leases: %+v %v", ls, err)
	}

	// A stream of keepalives.
	kch, err := cli.KeepAlive(ctx(t), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-kch; r == nil || r.TTL != 30 {
		t.Fatalf("keepalive stream: %+v", r)
	}

	if _, err := cli.Revoke(ctx(t), g.ID); err != nil {
		t.Fatal(err)
	}
	if gr, err := cli.Get(ctx(t), "leased"); err != nil || len(gr.Kvs) != 0 {
		t.Fatalf("key of revoked lease: %v %v", gr, err)
	}

	// Unknown leases: TTL -1 from TimeToLive, ErrLeaseNotFound from
	// keepalive (the server answers TTL 0) and from Revoke.
	ttl, err = cli.TimeToLive(ctx(t), g.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of revoked lease: %+v %v", ttl, err)
	}
	if _, err := cli.KeepAliveOnce(ctx(t), g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keepalive of revoked lease: %v", err)
	}
	raw, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseKeepAlive(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Send(&pb.LeaseKeepAliveRequest{ID: int64(g.ID)}); err != nil {
		t.Fatal(err)
	}
	if r, err := raw.Recv(); err != nil || r.TTL != 0 || r.ID != int64(g.ID) {
		t.Fatalf("raw keepalive of revoked lease: %+v %v", r, err)
	}
	if _, err := cli.Revoke(ctx(t), g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}

	tests := []struct {
		name string
		id   clientv3.LeaseID
		ttl  int64
		want error
	}{
		{"chosen id", 42, 10, nil},
		{"chosen id again", 42, 10, rpctypes.ErrLeaseExist},
		{"ttl too large", 0, 9_000_000_001, rpctypes.ErrLeaseTTLTooLarge},
	}
	lc := pb.NewLeaseClient(cli.ActiveConnection())
	for _, tt := range tests {
		_, err := lc.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{ID: int64(tt.id), TTL: tt.ttl})
		if err := rpctypes.Error(err); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
