package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// apiEnv is one cluster of the API matrix and what the cases need to
// know about it.
type apiEnv struct {
	c *Cluster
	// cli reaches every member.
	cli       *clientv3.Client
	clusterID uint64
	// ids are the member IDs by name, from MemberList.
	ids       map[string]uint64
	leader    *Member
	followers []*Member
	// watchMember serves the watches: a follower when there is one.
	watchMember *Member
	// agedLease is granted at setup so that, by the time the lease case
	// runs, its remaining TTL on the leader has dropped below the granted
	// TTL: a keepalive through a follower must bring it back up.
	agedLease clientv3.LeaseID
	// expiringLease, of the shortest TTL, holds expiringKey; nothing keeps
	// it alive.
	expiringLease clientv3.LeaseID
}

const expiringKey = "/expiring/k"

const (
	apiMaxRequestBytes = 64 * 1024
	apiMaxTxnOps       = 16
	agedLeaseTTL       = 30
)

// apiCases run in order on one cluster: compaction and leader moves come
// last because they change what the earlier cases rely on.
var apiCases = []struct {
	name string
	run  func(t *testing.T, e *apiEnv)
}{
	{"range", testAPIRange},
	{"put", testAPIPut},
	{"delete", testAPIDelete},
	{"txn", testAPITxn},
	{"limits", testAPILimits},
	{"headers", testAPIHeaders},
	{"watch", testAPIWatch},
	{"member-list", testAPIMemberList},
	{"lock", testAPILock},
	{"election", testAPIElection},
	{"gateway", testAPIGateway},
	// Late, so that the lease of the shortest TTL has expired already.
	{"lease", testAPILease},
	{"compact", testAPICompact},
	{"maintenance", testAPIMaintenance},
	{"move-leader", testAPIMoveLeader},
}

// TestAPI exercises every client call on 1 and 3 members over plain
// http, TLS and auto-TLS: one cluster per setup, one subtest per area.
func TestAPI(t *testing.T) {
	setups := []struct {
		name string
		size int
		mode TLSMode
	}{
		{"1-member-http", 1, NoTLS},
		{"1-member-tls", 1, TLS},
		{"1-member-auto-tls", 1, AutoTLS},
		{"3-members-http", 3, NoTLS},
		{"3-members-tls", 3, TLS},
		{"3-members-auto-tls", 3, AutoTLS},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			c := NewCluster(t, s.size, &Options{
				ClientTLS: s.mode,
				PeerTLS:   s.mode,
				Args: []string{
					"--max-request-bytes", fmt.Sprint(apiMaxRequestBytes),
					"--max-txn-ops", fmt.Sprint(apiMaxTxnOps),
				},
			})
			e := newAPIEnv(t, c)
			for _, tc := range apiCases {
				if !t.Run(tc.name, func(t *testing.T) { tc.run(t, e) }) && tc.name == "range" {
					// Nothing else is meaningful if plain reads fail.
					t.FailNow()
				}
			}
		})
	}
}

func newAPIEnv(t *testing.T, c *Cluster) *apiEnv {
	t.Helper()
	ctx := testCtx(t)
	e := &apiEnv{c: c, cli: c.Client(t), ids: map[string]uint64{}}
	ml, err := e.cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	e.clusterID = ml.Header.ClusterId
	for _, m := range ml.Members {
		e.ids[m.Name] = m.ID
	}
	e.findLeader(t)
	e.watchMember = e.leader
	if len(e.followers) > 0 {
		e.watchMember = e.followers[0]
	}
	lr, err := e.leader.Client(t).Grant(ctx, agedLeaseTTL)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	e.agedLease = lr.ID
	lr, err = e.cli.Grant(ctx, 1) // raised to the member's minimum TTL
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	e.expiringLease = lr.ID
	if _, err := e.cli.Put(ctx, expiringKey, "x", clientv3.WithLease(lr.ID)); err != nil {
		t.Fatalf("put: %v", err)
	}
	return e
}

// findLeader asks every member for its leader until they agree.
func (e *apiEnv) findLeader(t *testing.T) {
	t.Helper()
	leader, err := waitLeader(t, e.c, e.cli, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.leader, e.followers = nil, nil
	for _, m := range e.c.Members {
		if e.ids[m.Name] == leader {
			e.leader = m
		} else {
			e.followers = append(e.followers, m)
		}
	}
	if e.leader == nil {
		t.Fatalf("leader %x is no member of %v", leader, e.ids)
	}
}

// waitLeader polls Status on every running member until all report the
// same leader, other than notLeader, and returns its ID.
func waitLeader(t *testing.T, c *Cluster, cli *clientv3.Client, notLeader uint64) (uint64, error) {
	t.Helper()
	var leader uint64
	err := testutil.Poll(30*time.Second, func() error {
		leader = 0
		var disagreement error
		for _, m := range c.Members {
			if p := m.Process(); p == nil || p.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := cli.Status(ctx, m.ClientURL())
			cancel()
			switch {
			case err != nil:
				disagreement = fmt.Errorf("status of %s: %w", m.Name, err)
			case st.Leader == 0 || st.Leader == notLeader || (leader != 0 && st.Leader != leader):
				disagreement = fmt.Errorf("%s reports leader %x", m.Name, st.Leader)
			default:
				leader = st.Leader
			}
		}
		if disagreement == nil && leader == 0 {
			disagreement = errors.New("no member runs")
		}
		return disagreement
	})
	if err != nil {
		return 0, fmt.Errorf("members agree on no leader: %w", err)
	}
	return leader, nil
}

// testCtx is a context bounded well within the test's own timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr fails t unless err carries etcd's message want.
func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", what, want)
		return
	}
	if got := rpctypes.ErrorDesc(err); got != want {
		t.Errorf("%s: error %q, want %q", what, got, want)
	}
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	var ks []string
	for _, kv := range kvs {
		ks = append(ks, string(kv.Key))
	}
	return ks
}

func testAPIRange(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	keys := []string{"/range/a", "/range/b", "/range/c", "/range/d", "/range/e"}
	revs := map[string]int64{}
	for i, k := range keys {
		// Values sort the other way round from keys.
		r, err := e.cli.Put(ctx, k, fmt.Sprint(len(keys)-i))
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		revs[k] = r.Header.Revision
	}
	// a changes after e: its mod revision is the newest, its create
	// revision the oldest.
	ra, err := e.cli.Put(ctx, "/range/a", "50")
	if err != nil {
		t.Fatal(err)
	}
	revA2 := ra.Header.Revision

	tests := []struct {
		name      string
		key       string
		opts      []clientv3.OpOption
		want      []string
		wantCount int64
		wantMore  bool
		// check looks at the KVs beyond their keys.
		check func(t *testing.T, kvs []*mvccpb.KeyValue)
	}{
		{name: "single", key: "/range/c", want: []string{"/range/c"}, wantCount: 1},
		{name: "missing", key: "/range/zz", wantCount: 0},
		{name: "prefix", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix()}, want: keys, wantCount: 5},
		{name: "range end", key: "/range/b", opts: []clientv3.OpOption{clientv3.WithRange("/range/d")}, want: keys[1:3], wantCount: 2},
		{name: "limit", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(2)}, want: keys[:2], wantCount: 5, wantMore: true},
		{name: "limit not reached", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(10)}, want: keys, wantCount: 5},
		{name: "sort key descending", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)},
			want: []string{"/range/e", "/range/d", "/range/c", "/range/b", "/range/a"}, wantCount: 5},
		{name: "sort value ascending", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)},
			want: []string{"/range/e", "/range/d", "/range/c", "/range/b", "/range/a"}, wantCount: 5},
		{name: "sort mod revision descending with limit", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(2)},
			want: []string{"/range/a", "/range/e"}, wantCount: 5, wantMore: true},
		{name: "sort create revision descending", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend)},
			want: []string{"/range/e", "/range/d", "/range/c", "/range/b", "/range/a"}, wantCount: 5},
		{name: "count only", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, wantCount: 5},
		{name: "keys only", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}, want: keys, wantCount: 5,
			check: func(t *testing.T, kvs []*mvccpb.KeyValue) {
				for _, kv := range kvs {
					if len(kv.Value) != 0 {
						t.Errorf("keys only: %s has value %q", kv.Key, kv.Value)
					}
				}
			}},
		{name: "min mod revision", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinModRev(revs["/range/d"])},
			want: []string{"/range/a", "/range/d", "/range/e"}, wantCount: 5},
		{name: "max mod revision", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxModRev(revs["/range/b"])},
			want: []string{"/range/b"}, wantCount: 5},
		{name: "min create revision", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinCreateRev(revs["/range/d"])},
			want: []string{"/range/d", "/range/e"}, wantCount: 5},
		{name: "max create revision", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxCreateRev(revs["/range/b"])},
			want: []string{"/range/a", "/range/b"}, wantCount: 5},
		{name: "at a revision", key: "/range/", opts: []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(revs["/range/c"])},
			want: keys[:3], wantCount: 3,
			check: func(t *testing.T, kvs []*mvccpb.KeyValue) {
				if string(kvs[0].Value) != "5" || kvs[0].ModRevision != revs["/range/a"] || kvs[0].Version != 1 {
					t.Errorf("a at revision %d = %v, want its first version", revs["/range/c"], kvs[0])
				}
			}},
		{name: "latest version", key: "/range/a", want: []string{"/range/a"}, wantCount: 1,
			check: func(t *testing.T, kvs []*mvccpb.KeyValue) {
				kv := kvs[0]
				if string(kv.Value) != "50" || kv.Version != 2 || kv.CreateRevision != revs["/range/a"] || kv.ModRevision != revA2 {
					t.Errorf("a = %v, want value 50, version 2, create %d, mod %d", kv, revs["/range/a"], revA2)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Linearizable through every member, then serializable.
			for _, m := range e.c.Members {
				for _, serial := range []bool{false, true} {
					opts := tt.opts
					if serial {
						opts = append(slices.Clone(opts), clientv3.WithSerializable())
					}
					resp := getEventually(t, m.Client(t), tt.key, serial, opts...)
					if got := keysOf(resp.Kvs); !slices.Equal(got, tt.want) {
						t.Fatalf("%s (serializable %v): keys %v, want %v", m.Name, serial, got, tt.want)
					}
					if resp.Count != tt.wantCount || resp.More != tt.wantMore {
						t.Fatalf("%s (serializable %v): count %d more %v, want %d %v", m.Name, serial, resp.Count, resp.More, tt.wantCount, tt.wantMore)
					}
					if tt.check != nil {
						tt.check(t, resp.Kvs)
					}
				}
			}
		})
	}

	t.Run("from key", func(t *testing.T) {
		resp, err := e.cli.Get(ctx, "/range/c", clientv3.WithFromKey())
		if err != nil {
			t.Fatal(err)
		}
		got := keysOf(resp.Kvs)
		if len(got) < 3 || !slices.Equal(got[:3], keys[2:]) {
			t.Fatalf("from /range/c: %v", got)
		}
		for _, k := range got {
			if k < "/range/c" {
				t.Fatalf("from /range/c returned %s", k)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := e.cli.Get(ctx, "/range/", clientv3.WithPrefix(), clientv3.WithRev(1<<40))
		wantErr(t, "range at a future revision", err, "etcdserver: mvcc: required revision is a future revision")
		_, err = e.cli.Get(ctx, "")
		wantErr(t, "range of the empty key", err, "etcdserver: key is not provided")
	})
}

// getEventually gets until it succeeds: a serializable read on a
// follower may not have the newest write yet, so it is retried until it
// sees the revision a linearizable read saw.
func getEventually(t *testing.T, cli *clientv3.Client, key string, serial bool, opts ...clientv3.OpOption) *clientv3.GetResponse {
	t.Helper()
	ctx := testCtx(t)
	if !serial {
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		return resp
	}
	lin, err := cli.Get(ctx, "/not-a-key")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	var resp *clientv3.GetResponse
	deadline, _ := ctx.Deadline()
	err = testutil.Poll(time.Until(deadline), func() error {
		resp, err = cli.Get(ctx, key, opts...)
		if err != nil {
			t.Fatalf("serializable get %s: %v", key, err)
		}
		if resp.Header.Revision < lin.Header.Revision {
			return fmt.Errorf("serializable get stays at revision %d < %d", resp.Header.Revision, lin.Header.Revision)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func testAPIPut(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	r1, err := cli.Put(ctx, "/put/k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.PrevKv != nil {
		t.Errorf("prev kv without asking: %v", r1.PrevKv)
	}
	r2, err := cli.Put(ctx, "/put/k", "v2", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if r2.PrevKv == nil || string(r2.PrevKv.Value) != "v1" || r2.PrevKv.ModRevision != r1.Header.Revision {
		t.Errorf("prev kv %v, want v1 at %d", r2.PrevKv, r1.Header.Revision)
	}
	if r2.Header.Revision != r1.Header.Revision+1 {
		t.Errorf("revision %d after %d", r2.Header.Revision, r1.Header.Revision)
	}
	// A put of a new key with prev_kv has none.
	r3, err := cli.Put(ctx, "/put/new", "x", clientv3.WithPrevKV())
	if err != nil || r3.PrevKv != nil {
		t.Errorf("new key prev kv = %v, %v", r3, err)
	}

	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Revoke(context.Background(), lease.ID)
	if _, err := cli.Put(ctx, "/put/k", "v3", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	expectKV(t, cli, "/put/k", "v3", 3, lease.ID)
	// ignore_value keeps the value, changes the lease.
	if _, err := cli.Put(ctx, "/put/k", "", clientv3.WithIgnoreValue()); err != nil {
		t.Fatalf("ignore value: %v", err)
	}
	expectKV(t, cli, "/put/k", "v3", 4, 0)
	if _, err := cli.Put(ctx, "/put/k", "v4", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	// ignore_lease keeps the lease, changes the value.
	if _, err := cli.Put(ctx, "/put/k", "v5", clientv3.WithIgnoreLease()); err != nil {
		t.Fatalf("ignore lease: %v", err)
	}
	expectKV(t, cli, "/put/k", "v5", 6, lease.ID)
	if _, err := cli.Put(ctx, "/put/k", "", clientv3.WithIgnoreValue(), clientv3.WithIgnoreLease()); err != nil {
		t.Fatalf("ignore both: %v", err)
	}
	expectKV(t, cli, "/put/k", "v5", 7, lease.ID)

	_, err = cli.Put(ctx, "/put/missing", "", clientv3.WithIgnoreValue())
	wantErr(t, "ignore value of a missing key", err, "etcdserver: key not found")
	_, err = cli.Put(ctx, "/put/missing", "x", clientv3.WithIgnoreLease())
	wantErr(t, "ignore lease of a missing key", err, "etcdserver: key not found")
	_, err = cli.Put(ctx, "/put/k", "x", clientv3.WithLease(0x7777777))
	wantErr(t, "put with an unknown lease", err, "etcdserver: requested lease not found")
	_, err = cli.Put(ctx, "/put/k", "x", clientv3.WithIgnoreValue())
	wantErr(t, "ignore value with a value", err, "etcdserver: value is provided")
	_, err = cli.Put(ctx, "/put/k", "", clientv3.WithIgnoreLease(), clientv3.WithLease(lease.ID))
	wantErr(t, "ignore lease with a lease", err, "etcdserver: lease is provided")
	_, err = cli.Put(ctx, "", "x")
	wantErr(t, "put of the empty key", err, "etcdserver: key is not provided")
}

// expectKV checks a key's value, version and lease.
func expectKV(t *testing.T, cli *clientv3.Client, key, val string, version int64, lease clientv3.LeaseID) {
	t.Helper()
	resp, err := cli.Get(testCtx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v", key, resp.Kvs)
	}
	kv := resp.Kvs[0]
	if string(kv.Value) != val || kv.Version != version || clientv3.LeaseID(kv.Lease) != lease {
		t.Errorf("%s = value %q version %d lease %x, want %q %d %x", key, kv.Value, kv.Version, kv.Lease, val, version, lease)
	}
}

func testAPIDelete(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	for _, k := range []string{"/del/a", "/del/b", "/del/c", "/del/d"} {
		if _, err := cli.Put(ctx, k, "v"+k); err != nil {
			t.Fatal(err)
		}
	}
	d, err := cli.Delete(ctx, "/del/a", clientv3.WithPrevKV())
	if err != nil || d.Deleted != 1 || len(d.PrevKvs) != 1 || string(d.PrevKvs[0].Value) != "v/del/a" {
		t.Fatalf("delete a = %v, %v", d, err)
	}
	before := d.Header.Revision
	d, err = cli.Delete(ctx, "/del/a")
	if err != nil || d.Deleted != 0 {
		t.Fatalf("delete a again = %v, %v", d, err)
	}
	if d.Header.Revision != before {
		t.Fatalf("deleting nothing moved the revision from %d to %d", before, d.Header.Revision)
	}
	d, err = cli.Delete(ctx, "/del/b", clientv3.WithRange("/del/d"))
	if err != nil || d.Deleted != 2 || len(d.PrevKvs) != 0 {
		t.Fatalf("delete [b, d) = %v, %v", d, err)
	}
	d, err = cli.Delete(ctx, "/del/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil || d.Deleted != 1 || len(d.PrevKvs) != 1 || string(d.PrevKvs[0].Key) != "/del/d" {
		t.Fatalf("delete prefix = %v, %v", d, err)
	}
	if d.Header.Revision != before+2 {
		t.Errorf("revision %d after two deletes from %d: a delete of several keys is one revision", d.Header.Revision, before)
	}
	g, err := cli.Get(ctx, "/del/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || g.Count != 0 {
		t.Fatalf("after deletes: %v, %v", g, err)
	}
}

func testAPITxn(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	p, err := cli.Put(ctx, "/txn/k", "5")
	if err != nil {
		t.Fatal(err)
	}
	rev := p.Header.Revision
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Revoke(context.Background(), lease.ID)
	if _, err := cli.Put(ctx, "/txn/leased", "x", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}

	compares := []struct {
		name string
		cmp  clientv3.Cmp
		want bool
	}{
		{"value equal", clientv3.Compare(clientv3.Value("/txn/k"), "=", "5"), true},
		{"value not equal", clientv3.Compare(clientv3.Value("/txn/k"), "!=", "5"), false},
		{"value greater", clientv3.Compare(clientv3.Value("/txn/k"), ">", "4"), true},
		{"value less", clientv3.Compare(clientv3.Value("/txn/k"), "<", "5"), false},
		{"value of a missing key", clientv3.Compare(clientv3.Value("/txn/missing"), "=", ""), false},
		{"version", clientv3.Compare(clientv3.Version("/txn/k"), "=", 1), true},
		{"version of a missing key", clientv3.Compare(clientv3.Version("/txn/missing"), "=", 0), true},
		{"create revision", clientv3.Compare(clientv3.CreateRevision("/txn/k"), "=", rev), true},
		{"create revision of a missing key", clientv3.Compare(clientv3.CreateRevision("/txn/missing"), "=", 0), true},
		{"mod revision", clientv3.Compare(clientv3.ModRevision("/txn/k"), "<", rev), false},
		{"mod revision greater", clientv3.Compare(clientv3.ModRevision("/txn/k"), ">", rev-1), true},
		{"lease", clientv3.Compare(clientv3.LeaseValue("/txn/leased"), "=", lease.ID), true},
		{"no lease", clientv3.Compare(clientv3.LeaseValue("/txn/k"), "=", clientv3.NoLease), true},
		{"lease differs", clientv3.Compare(clientv3.LeaseValue("/txn/k"), "=", lease.ID), false},
		{"prefix value", clientv3.Compare(clientv3.Value("/txn/"), "!=", "nope").WithPrefix(), true},
		{"prefix version", clientv3.Compare(clientv3.Version("/txn/"), ">", 1).WithPrefix(), false},
	}
	for _, tt := range compares {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := cli.Txn(ctx).If(tt.cmp).
				Then(clientv3.OpPut("/txn/branch", "then"), clientv3.OpGet("/txn/branch")).
				Else(clientv3.OpPut("/txn/branch", "else"), clientv3.OpGet("/txn/branch")).
				Commit()
			if err != nil {
				t.Fatal(err)
			}
			if resp.Succeeded != tt.want {
				t.Fatalf("succeeded %v, want %v", resp.Succeeded, tt.want)
			}
			want := "else"
			if tt.want {
				want = "then"
			}
			if len(resp.Responses) != 2 {
				t.Fatalf("%d responses", len(resp.Responses))
			}
			get := resp.Responses[1].GetResponseRange()
			if get == nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != want {
				t.Fatalf("get in the txn = %v, want %s: a txn's reads see its own writes", get, want)
			}
			if resp.Responses[0].GetResponsePut() == nil {
				t.Fatalf("first response %v is no put", resp.Responses[0])
			}
		})
	}

	t.Run("several compares must all hold", func(t *testing.T) {
		resp, err := cli.Txn(ctx).If(
			clientv3.Compare(clientv3.Value("/txn/k"), "=", "5"),
			clientv3.Compare(clientv3.Version("/txn/k"), "=", 2),
		).Commit()
		if err != nil || resp.Succeeded {
			t.Fatalf("txn = %v, %v", resp, err)
		}
	})

	t.Run("one revision for all writes", func(t *testing.T) {
		resp, err := cli.Txn(ctx).Then(
			clientv3.OpPut("/txn/m1", "a"),
			clientv3.OpPut("/txn/m2", "b"),
			clientv3.OpDelete("/txn/leased", clientv3.WithPrevKV()),
		).Commit()
		if err != nil {
			t.Fatal(err)
		}
		g, err := cli.Get(ctx, "/txn/m", clientv3.WithPrefix())
		if err != nil || len(g.Kvs) != 2 {
			t.Fatalf("get = %v, %v", g, err)
		}
		for _, kv := range g.Kvs {
			if kv.ModRevision != resp.Header.Revision {
				t.Errorf("%s at %d, txn at %d", kv.Key, kv.ModRevision, resp.Header.Revision)
			}
		}
		del := resp.Responses[2].GetResponseDeleteRange()
		if del == nil || del.Deleted != 1 || len(del.PrevKvs) != 1 || string(del.PrevKvs[0].Value) != "x" {
			t.Errorf("delete in txn = %v", del)
		}
	})

	t.Run("nested", func(t *testing.T) {
		resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("/txn/k"), "=", "5")).Then(
			clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/txn/nested"), "=", 0)},
				[]clientv3.Op{clientv3.OpPut("/txn/nested", "inner-then")},
				[]clientv3.Op{clientv3.OpPut("/txn/nested", "inner-else")},
			),
			clientv3.OpGet("/txn/nested"),
		).Commit()
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Succeeded || len(resp.Responses) != 2 {
			t.Fatalf("outer txn = %v", resp)
		}
		inner := resp.Responses[0].GetResponseTxn()
		if inner == nil || !inner.Succeeded || len(inner.Responses) != 1 || inner.Responses[0].GetResponsePut() == nil {
			t.Fatalf("inner txn = %v", inner)
		}
		if get := resp.Responses[1].GetResponseRange(); get == nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "inner-then" {
			t.Fatalf("get after inner txn = %v", get)
		}
		// The same nested txn again takes its else branch.
		resp, err = cli.Txn(ctx).Then(clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/txn/nested"), "=", 0)},
			[]clientv3.Op{clientv3.OpPut("/txn/nested", "inner-then")},
			[]clientv3.Op{clientv3.OpPut("/txn/nested", "inner-else")},
		)).Commit()
		if err != nil || resp.Responses[0].GetResponseTxn().Succeeded {
			t.Fatalf("second nested txn = %v, %v", resp, err)
		}
		expectKV(t, cli, "/txn/nested", "inner-else", 2, 0)
	})

	t.Run("duplicate keys", func(t *testing.T) {
		bad := []struct {
			name string
			ops  []clientv3.Op
		}{
			{"two puts", []clientv3.Op{clientv3.OpPut("/txn/dup", "a"), clientv3.OpPut("/txn/dup", "b")}},
			{"put and delete of a range holding it", []clientv3.Op{clientv3.OpPut("/txn/dup", "a"), clientv3.OpDelete("/txn/", clientv3.WithPrefix())}},
			{"put in a nested txn", []clientv3.Op{clientv3.OpPut("/txn/dup", "a"), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut("/txn/dup", "b")}, nil)}},
		}
		for _, b := range bad {
			_, err := cli.Txn(ctx).Then(b.ops...).Commit()
			wantErr(t, b.name, err, "etcdserver: duplicate key given in txn request")
		}
		// A put in each branch of a nested txn is no duplicate: only one
		// branch runs.
		_, err := cli.Txn(ctx).Then(clientv3.OpTxn(nil,
			[]clientv3.Op{clientv3.OpPut("/txn/dup", "a")},
			[]clientv3.Op{clientv3.OpPut("/txn/dup", "b")},
		)).Commit()
		if err != nil {
			t.Errorf("put in each branch of a nested txn: %v", err)
		}
		if g, err := cli.Get(ctx, "/txn/dup"); err != nil || len(g.Kvs) != 1 {
			t.Errorf("get /txn/dup = %v, %v", g, err)
		}
	})
}

// testAPILimits checks --max-request-bytes and --max-txn-ops.
func testAPILimits(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	big := strings.Repeat("x", apiMaxRequestBytes+1024)
	_, err := cli.Put(ctx, "/limits/big", big)
	wantErr(t, "put over --max-request-bytes", err, "etcdserver: request is too large")
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("/limits/big", big[:apiMaxRequestBytes/2]), clientv3.OpPut("/limits/big2", big[:apiMaxRequestBytes/2])).Commit()
	wantErr(t, "txn over --max-request-bytes", err, "etcdserver: request is too large")
	if g, err := cli.Get(ctx, "/limits/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || g.Count != 0 {
		t.Fatalf("a refused request wrote: %v, %v", g, err)
	}
	if _, err := cli.Put(ctx, "/limits/fits", big[:apiMaxRequestBytes-1024]); err != nil {
		t.Errorf("put under --max-request-bytes: %v", err)
	}

	ops := func(n int) []clientv3.Op {
		var o []clientv3.Op
		for i := range n {
			o = append(o, clientv3.OpPut(fmt.Sprintf("/limits/op%02d", i), "v"))
		}
		return o
	}
	if _, err := cli.Txn(ctx).Then(ops(apiMaxTxnOps)...).Commit(); err != nil {
		t.Errorf("txn of --max-txn-ops operations: %v", err)
	}
	_, err = cli.Txn(ctx).Then(ops(apiMaxTxnOps + 1)...).Commit()
	wantErr(t, "txn over --max-txn-ops", err, "etcdserver: too many operations in txn request")
	_, err = cli.Txn(ctx).Else(ops(apiMaxTxnOps + 1)...).Commit()
	wantErr(t, "txn else branch over --max-txn-ops", err, "etcdserver: too many operations in txn request")
	var cmps []clientv3.Cmp
	for range apiMaxTxnOps + 1 {
		cmps = append(cmps, clientv3.Compare(clientv3.Version("/limits/op00"), ">", 0))
	}
	_, err = cli.Txn(ctx).If(cmps...).Commit()
	wantErr(t, "txn compares over --max-txn-ops", err, "etcdserver: too many operations in txn request")
	_, err = cli.Txn(ctx).Then(clientv3.OpTxn(nil, ops(apiMaxTxnOps+1), nil)).Commit()
	wantErr(t, "nested txn over --max-txn-ops", err, "etcdserver: too many operations in txn request")
}

// testAPIHeaders checks every member's response headers against
// MemberList and each other.
func testAPIHeaders(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	p, err := e.cli.Put(ctx, "/headers/k", "v")
	if err != nil {
		t.Fatal(err)
	}
	var term uint64
	for _, m := range e.c.Members {
		mc := m.Client(t)
		g, err := mc.Get(ctx, "/headers/k")
		if err != nil {
			t.Fatal(err)
		}
		h := g.Header
		if h.ClusterId != e.clusterID || h.MemberId != e.ids[m.Name] {
			t.Errorf("%s: header cluster %x member %x, want %x %x", m.Name, h.ClusterId, h.MemberId, e.clusterID, e.ids[m.Name])
		}
		// The store may have moved on since the put (the expiring lease of
		// newAPIEnv ends about now): the header is at least at the put,
		// which is the key's revision.
		if h.Revision < p.Header.Revision || len(g.Kvs) != 1 || g.Kvs[0].ModRevision != p.Header.Revision {
			t.Errorf("%s: header revision %d, key %v; want at least %d, the key's", m.Name, h.Revision, g.Kvs, p.Header.Revision)
		}
		if h.RaftTerm == 0 || (term != 0 && h.RaftTerm != term) {
			t.Errorf("%s: raft term %d (others %d)", m.Name, h.RaftTerm, term)
		}
		term = h.RaftTerm
		// Every service fills the header.
		lg, err := mc.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		ml, err := mc.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := mc.Status(ctx, m.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		al, err := mc.AlarmList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for what, h := range map[string]*pb.ResponseHeader{"grant": lg.ResponseHeader, "member list": ml.Header, "status": st.Header, "alarm list": al.Header} {
			if h.ClusterId != e.clusterID || h.MemberId != e.ids[m.Name] || h.RaftTerm != term {
				t.Errorf("%s: %s header %v, want cluster %x member %x term %d", m.Name, what, h, e.clusterID, e.ids[m.Name], term)
			}
		}
		if _, err := mc.Revoke(ctx, lg.ID); err != nil {
			t.Fatal(err)
		}
	}
}
