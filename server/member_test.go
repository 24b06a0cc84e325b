package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap/zaptest"
)

// testMember is a member started in-process, with its peer URL served on
// a real loopback listener.
type testMember struct {
	name string
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	m    *Member
}

// testCluster starts n members of a new cluster on 127.0.0.1 with ports
// the OS picks.
type testCluster struct {
	t       *testing.T
	members []*testMember
}

func newTestCluster(t *testing.T, n int, tweak ...func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	initial := map[string][]url.URL{}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("m%d", i)
		u := url.URL{Scheme: "http", Host: ln.Addr().String()}
		initial[name] = []url.URL{u}
		c.members = append(c.members, &testMember{name: name, ln: ln})
	}
	dir := t.TempDir()
	for _, tm := range c.members {
		tm.cfg = Config{
			Name:                   tm.name,
			DataDir:                filepath.Join(dir, tm.name),
			SnapshotCount:          10000,
			SnapshotCatchUpEntries: 5000,
			TickMs:                 10,
			ElectionTicks:          10,
			PreVote:                true,
			InitialCluster:         initial,
			InitialClusterToken:    "test-cluster",
			NewCluster:             true,
			PeerURLs:               initial[tm.name],
			ClientURLs:             []url.URL{{Scheme: "http", Host: "127.0.0.1:1"}},
			MaxRequestBytes:        1572864,
			MaxTxnOps:              128,
			BackendBatchInterval:   10 * time.Millisecond,
			Logger:                 zaptest.NewLogger(t),
		}
		for _, f := range tweak {
			f(&tm.cfg)
		}
		c.start(tm)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *testCluster) start(tm *testMember) {
	m, err := NewMember(tm.cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", tm.name, err)
	}
	tm.m = m
	tm.srv = &http.Server{Handler: m.PeerHandler()}
	ln := tm.ln
	go tm.srv.Serve(ln)
	m.Start()
}

func (c *testCluster) stop() {
	for _, tm := range c.members {
		if tm.m != nil {
			tm.m.Stop()
			tm.srv.Close()
		}
	}
}

// restart stops a member and starts it again on the same address and data.
func (c *testCluster) restart(tm *testMember) {
	tm.m.Stop()
	tm.srv.Close()
	ln, err := net.Listen("tcp", tm.ln.Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	tm.ln = ln
	c.start(tm)
}

func (c *testCluster) waitReady() {
	c.t.Helper()
	for _, tm := range c.members {
		select {
		case <-tm.m.ReadyNotify():
		case <-time.After(20 * time.Second):
			c.t.Fatalf("member %s not ready", tm.name)
		}
	}
}

func (c *testCluster) leader() *testMember {
	c.t.Helper()
	var lead *testMember
	testutil.WaitUntil(c.t, 20*time.Second, "a leader", func() bool {
		for _, tm := range c.members {
			if tm.m != nil && tm.m.IsLeader() {
				lead = tm
				return true
			}
		}
		return false
	})
	return lead
}

// follower returns a member that is not the leader.
func (c *testCluster) follower() *testMember {
	lead := c.leader()
	for _, tm := range c.members {
		if tm != lead {
			return tm
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// ctxT bounds a test against hanging (not a time limit: a loaded machine
// runs these several times slower).
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSingleMemberPutGet(t *testing.T) {
	c := newTestCluster(t, 1)
	c.waitReady()
	m := c.members[0].m
	ctx := ctxT(t)
	for i := 0; i < 20; i++ {
		if _, err := m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := m.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 20 {
		t.Fatalf("count %d", resp.Count)
	}
	// Survives a restart.
	c.restart(c.members[0])
	c.waitReady()
	m = c.members[0].m
	resp, err = m.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	if err != nil || resp.Count != 20 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	st, err := m.Status(ctx)
	if err != nil || st.StorageVersion != StorageVersion {
		t.Fatalf("status: storage version %q (%v), want %q", st.GetStorageVersion(), err, StorageVersion)
	}
}

func TestThreeMembersReplicateAndFailover(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	lead := c.leader()
	for i := 0; i < 10; i++ {
		if _, err := lead.m.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	// A follower serves a linearizable read of everything acknowledged.
	for _, tm := range c.members {
		resp, err := tm.m.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
		if err != nil || resp.Count != 10 {
			t.Fatalf("member %s: %v %v", tm.name, resp, err)
		}
	}
	// A put through a follower works too.
	var follower *testMember
	for _, tm := range c.members {
		if tm != lead {
			follower = tm
		}
	}
	if _, err := follower.m.Put(ctx, &pb.PutRequest{Key: []byte("via-follower"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	// Stop the leader: another takes over and serves.
	lead.m.Stop()
	lead.srv.Close()
	var newLead *testMember
	testutil.WaitUntil(t, 20*time.Second, "a new leader", func() bool {
		for _, tm := range c.members {
			if tm != lead && tm.m.IsLeader() {
				newLead = tm
			}
		}
		return newLead != nil
	})
	if _, err := newLead.m.Put(ctx, &pb.PutRequest{Key: []byte("after"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	resp, err := newLead.m.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil || resp.Count != 12 {
		t.Fatalf("after failover: %v %v", resp, err)
	}
}
