package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMixedClusterWithEtcd37: basalt and etcd 3.7.3 members in one cluster,
// speaking etcd's peer protocol: a member of an etcd cluster restarted as
// basalt on its data dir; writes through each kind read on the other;
// leadership moved to basalt and back; a snapshot sent each way to a
// member that fell behind; a basalt learner added through etcd, promoted,
// and an etcd member removed through basalt; an etcd member added through
// basalt, which joins from basalt's peer endpoints.
func TestMixedClusterWithEtcd37(t *testing.T) {
	etcd := Etcd37Binary(t, "basalt and etcd 3.7.3 members in one cluster")
	t.Run("plain", func(t *testing.T) { mixedCluster(t, etcd, NoTLS) })
	t.Run("peer mutual TLS", func(t *testing.T) { mixedCluster(t, etcd, MutualTLS) })
}

func mixedCluster(t *testing.T, etcd string, peerTLS TLSMode) {
	c := NewCluster(t, 3, &Options{Binary: etcd, ReadyTimeout: 30 * time.Second, StopTimeout: 10 * time.Second,
		PeerTLS: peerTLS, Args: []string{"--snapshot-count=50", "--snapshot-catchup-entries=10"}})
	e0, e1, b := c.Members[0], c.Members[1], c.Members[2]
	b.Stop(t)
	b.Bin = Binary()
	b.Start(t)

	clients := map[*Member]*clientv3.Client{}
	cli := func(m *Member) *clientv3.Client {
		if clients[m] == nil {
			clients[m] = NewClient(t, []string{m.ClientURL()}, nil)
		}
		return clients[m]
	}
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	ids := map[*Member]uint64{}
	ml, err := cli(e0).MemberList(ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		for _, pm := range ml.Members {
			if pm.Name == m.Name {
				ids[m] = pm.ID
			}
		}
	}
	written := 0
	write := func(via *Member, n int) {
		t.Helper()
		for range n {
			if _, err := cli(via).Put(ctx(), fmt.Sprintf("k%05d", written), fmt.Sprintf("v%d-%s", written, via.Name)); err != nil {
				t.Fatalf("put through %s: %v", via.Name, err)
			}
			written++
		}
	}
	// check reads everything back from m, linearizably and from its own
	// store, as ref (an etcd member) has it.
	ref := e1
	check := func(m *Member) {
		t.Helper()
		want, err := cli(ref).Get(ctx(), "k", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if want.Count != int64(written) {
			t.Fatalf("%s counts %d keys, %d written", ref.Name, want.Count, written)
		}
		testutil.WaitUntil(t, 10*time.Second, m.Name+" to hold every key", func() bool {
			got, err := cli(m).Get(ctx(), "k", clientv3.WithPrefix(), clientv3.WithSerializable())
			return err == nil && got.Count == want.Count && got.Kvs[len(got.Kvs)-1].ModRevision == want.Header.Revision
		})
		last := fmt.Sprintf("k%05d", written-1)
		got, err := cli(m).Get(ctx(), last)
		if err != nil || len(got.Kvs) != 1 {
			t.Fatalf("%s: linearizable get %s: %v %v", m.Name, last, got, err)
		}
	}
	moveLeader := func(to *Member) {
		t.Helper()
		testutil.WaitUntil(t, 20*time.Second, "leadership to move to "+to.Name, func() bool {
			st, err := cli(to).Status(ctx(), to.ClientURL())
			if err != nil {
				return false
			}
			if st.Leader == ids[to] {
				return true
			}
			for m, id := range ids {
				if id == st.Leader {
					_, err = cli(m).MoveLeader(ctx(), ids[to])
				}
			}
			return false
		})
	}

	// leases checks leases through a follower of the other kind, whose
	// renewals and time-to-live questions go to the leader over the peer
	// URLs.
	leases := func(via *Member) {
		t.Helper()
		l, err := cli(via).Grant(ctx(), 600)
		if err != nil {
			t.Fatalf("grant through %s: %v", via.Name, err)
		}
		key := "lease-" + via.Name
		if _, err := cli(via).Put(ctx(), key, "v", clientv3.WithLease(l.ID)); err != nil {
			t.Fatal(err)
		}
		ka, err := cli(via).KeepAliveOnce(ctx(), l.ID)
		if err != nil || ka.TTL <= 0 {
			t.Fatalf("keep-alive through %s: %v, %v", via.Name, ka, err)
		}
		ttl, err := cli(via).TimeToLive(ctx(), l.ID, clientv3.WithAttachedKeys())
		if err != nil || ttl.TTL <= 0 || ttl.GrantedTTL != 600 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != key {
			t.Fatalf("time-to-live through %s: %+v, %v", via.Name, ttl, err)
		}
		if _, err := cli(via).KeepAliveOnce(ctx(), 12345); err == nil {
			t.Fatalf("keep-alive of an unknown lease through %s succeeded", via.Name)
		}
	}

	write(e0, 20)
	write(b, 20)
	check(e0)
	check(b)

	// basalt leads; then an etcd member down long enough to need a
	// snapshot gets one from basalt.
	moveLeader(b)
	leases(e0)
	e0.Kill()
	write(b, 100)
	e0.Start(t)
	check(e0)
	if !strings.Contains(e0.Process().Output(), "received and saved database snapshot") {
		t.Errorf("%s caught up without a snapshot from basalt", e0.Name)
	}

	// etcd leads; basalt down, caught up by a snapshot from etcd.
	moveLeader(e1)
	leases(b)
	b.Kill()
	write(e1, 100)
	b.Start(t)
	check(b)
	if !strings.Contains(b.Process().Output(), "received and saved database snapshot") {
		t.Errorf("%s caught up without a snapshot from etcd", b.Name)
	}

	// join adds m (of bin) through via, as a learner if asked, and starts
	// it. etcd refuses a change until every member has been connected for
	// a while ("unhealthy cluster"): one may just have restarted.
	join := func(via, m *Member, learner bool) {
		t.Helper()
		add := cli(via).MemberAdd
		if learner {
			add = cli(via).MemberAddAsLearner
		}
		var added *clientv3.MemberAddResponse
		testutil.WaitUntil(t, 20*time.Second, via.Name+" to add "+m.Name, func() bool {
			added, err = add(ctx(), []string{m.PeerURL()})
			return err == nil
		})
		if err := c.Join(m); err != nil {
			t.Fatalf("join %s: %v\n%s", m.Name, err, m.Process().Output())
		}
		ids[m] = added.Member.ID
	}
	remove := func(via, m *Member) {
		t.Helper()
		testutil.WaitUntil(t, 20*time.Second, m.Name+" to be removed through "+via.Name, func() bool {
			_, err := cli(via).MemberRemove(ctx(), ids[m])
			return err == nil
		})
		c.Drop(m)
		delete(ids, m)
	}

	// A basalt learner added through etcd, promoted; an etcd member
	// removed through basalt.
	n := c.PrepareMember(t, "b1")
	n.Bin = Binary()
	join(e1, n, true)
	testutil.WaitUntil(t, 20*time.Second, n.Name+" to be promoted", func() bool {
		_, err := cli(e1).MemberPromote(ctx(), ids[n])
		return err == nil
	})
	remove(n, e0)
	write(n, 20)
	check(e1)
	check(b)
	check(n)

	// An etcd member added through basalt joins: etcd reads the cluster
	// from basalt's /members and /version on the peer port.
	e2 := c.PrepareMember(t, "e2")
	e2.Bin = etcd
	join(n, e2, false)
	write(e2, 20)
	check(e2)
	check(n)
	// Leadership first goes to basalt: proposals in flight to a removed
	// leader are lost, in etcd as in basalt, and time out.
	moveLeader(b)
	remove(b, e1)
	ref = e2
	write(b, 20)
	check(n)
	check(e2)

	ml, err = cli(b).MemberList(ctx())
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("members after the changes: %v, %v", ml, err)
	}
	for _, pm := range ml.Members {
		if pm.IsLearner || pm.ID == 0 {
			t.Errorf("member %+v", pm)
		}
	}
}
