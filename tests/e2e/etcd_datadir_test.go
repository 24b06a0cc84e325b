package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// swapRun is one process, etcd's or basalt's, on the data dir the test
// hands from one to the other.
type swapRun struct {
	name   string
	p      *Process
	client *clientv3.Client
}

// kvModel is what the data dir must serve: every key's value and
// revisions, the store's revision and compaction, the lease.
type kvModel struct {
	keys       map[string]*clientv3.GetResponse
	rev        int64
	compactRev int64
	lease      clientv3.LeaseID
	memberID   uint64
	auth       bool
}

// dataDirRig runs etcd or basalt, one at a time, on one data dir with the
// same flags, and keeps the model of what it must serve.
type dataDirRig struct {
	t       *testing.T
	dir     string
	args    []string
	client  string
	m       *kvModel
	snapDir string
	// snapIndex is the newest raft snapshot seen.
	snapIndex uint64
}

func newDataDirRig(t *testing.T) *dataDirRig {
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	dir := t.TempDir()
	return &dataDirRig{t: t, dir: dir, client: client,
		args: []string{"--name", "m0", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "m0=" + peer, "--snapshot-count", "100"},
		m:       &kvModel{keys: map[string]*clientv3.GetResponse{}},
		snapDir: filepath.Join(dir, "data", "member", "snap"),
	}
}

// tookSnapshot checks that the run just ended left a raft snapshot newer
// than the one it started from, for the next to load.
func (g *dataDirRig) tookSnapshot(r *swapRun) {
	g.t.Helper()
	if idx := newestSnapshotIndex(g.t, g.snapDir); idx <= g.snapIndex {
		g.t.Fatalf("%s took no raft snapshot after %d", r.name, g.snapIndex)
	} else {
		g.snapIndex = idx
	}
}

// start runs bin on the data dir and waits until it serves.
func (g *dataDirRig) start(name, bin string) *swapRun {
	t := g.t
	t.Helper()
	p, err := StartProcessIn(g.dir, bin, g.args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	cfg := clientv3.Config{Endpoints: []string{g.client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if g.m.auth {
		cfg.Username, cfg.Password = "root", "rootpw"
	}
	var cli *clientv3.Client
	testutil.WaitUntil(t, 30*time.Second, name+" to serve the data dir", func() bool {
		if p.Exited() {
			t.Fatalf("%s exited on the data dir:\n%s", name, p.Output())
		}
		if cli == nil {
			if cli, err = clientv3.New(cfg); err != nil {
				cli = nil
				return false
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cli.Get(ctx, "health")
		return err == nil
	})
	t.Cleanup(func() { cli.Close() })
	return &swapRun{name: name, p: p, client: cli}
}

// etcdWrites has etcd (named name) write keys, deletes, a lease, a
// compaction and auth, and crash (kill -9) after raft snapshots.
func (g *dataDirRig) etcdWrites(name, bin string) {
	t, m := g.t, g.m
	r := g.start(name, bin)
	writeKeys(t, r, m, 0, 150)
	grantLease(t, r, m)
	deleteKeys(t, r, m, 10, 20)
	compact(t, r, m)
	enableAuth(t, r, m)
	r.client.Close()
	r = g.start(name+" with auth", bin)
	writeKeys(t, r, m, 150, 260)
	m.memberID = checkServes(t, r, m)
	r.p.Kill()
	g.tookSnapshot(r)
}

// basaltWrites starts basalt after a crash: it serves what it found, and
// writes, deletes and compacts in its turn before it is killed.
func (g *dataDirRig) basaltWrites() {
	t, m := g.t, g.m
	r := g.start("basalt", Binary())
	checkServes(t, r, m)
	writeKeys(t, r, m, 260, 420)
	deleteKeys(t, r, m, 300, 310)
	compact(t, r, m)
	checkServes(t, r, m)
	r.p.Kill()
	g.tookSnapshot(r)
}

// TestDataDirSwappedWithEtcd37: one data dir run in turn by etcd 3.7.3
// and by basalt, each killed with -9 (or stopped) after writes, deletes,
// compactions, a lease with keys, auth and enough entries to take raft
// snapshots; each starts on what the other left and serves the same
// keys, revisions, lease, member and auth, and keeps writing.
func TestDataDirSwappedWithEtcd37(t *testing.T) {
	etcdBin := Etcd37Binary(t, "basalt and etcd 3.7.3 take turns on one data dir")
	g := newDataDirRig(t)
	g.etcdWrites("etcd 3.7.3", etcdBin)
	g.basaltWrites()

	// etcd again, after basalt's crash, then a clean stop.
	r := g.start("etcd 3.7.3 after basalt", etcdBin)
	checkServes(t, r, g.m)
	writeKeys(t, r, g.m, 420, 560)
	checkServes(t, r, g.m)
	if _, err := r.p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	g.tookSnapshot(r)

	r = g.start("basalt after etcd's stop", Binary())
	checkServes(t, r, g.m)
}

// TestBasaltOnOlderEtcdDataDirs: basalt starts on a data dir that etcd 3.6
// or 3.5 wrote (keys, deletes, compactions, a lease, auth, raft snapshots,
// then a crash), serves the same, and keeps writing. The binaries come
// from $BASALT_ETCD36 and $BASALT_ETCD35 (.ci/run builds them); a test
// whose variable is unset skips.
func TestBasaltOnOlderEtcdDataDirs(t *testing.T) {
	for _, v := range []struct{ version, env string }{{"3.6", "BASALT_ETCD36"}, {"3.5", "BASALT_ETCD35"}} {
		t.Run(v.version, func(t *testing.T) {
			bin := os.Getenv(v.env)
			if bin == "" {
				t.Skipf("%s is not set (the path of an etcd %s server; .ci/run builds one)", v.env, v.version)
			}
			g := newDataDirRig(t)
			g.etcdWrites("etcd "+v.version, bin)
			g.basaltWrites()
			r := g.start("basalt again", Binary())
			checkServes(t, r, g.m)
		})
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func writeKeys(t *testing.T, r *swapRun, m *kvModel, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		k := fmt.Sprintf("k%04d", i%200) // later writes overwrite, so keys have versions
		var opts []clientv3.OpOption
		if i%50 == 7 && m.lease != 0 {
			opts = append(opts, clientv3.WithLease(m.lease))
		}
		if _, err := r.client.Put(ctx10(t), k, fmt.Sprintf("v%d-%s", i, r.name), opts...); err != nil {
			t.Fatalf("%s: put %s: %v", r.name, k, err)
		}
	}
	record(t, r, m)
}

func deleteKeys(t *testing.T, r *swapRun, m *kvModel, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		k := fmt.Sprintf("k%04d", i%200)
		if _, err := r.client.Delete(ctx10(t), k); err != nil {
			t.Fatalf("%s: delete %s: %v", r.name, k, err)
		}
	}
	record(t, r, m)
}

func grantLease(t *testing.T, r *swapRun, m *kvModel) {
	t.Helper()
	l, err := r.client.Grant(ctx10(t), 3600)
	if err != nil {
		t.Fatalf("%s: grant: %v", r.name, err)
	}
	m.lease = l.ID
}

func compact(t *testing.T, r *swapRun, m *kvModel) {
	t.Helper()
	m.compactRev = m.rev - 5
	if _, err := r.client.Compact(ctx10(t), m.compactRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("%s: compact: %v", r.name, err)
	}
}

func enableAuth(t *testing.T, r *swapRun, m *kvModel) {
	t.Helper()
	if _, err := r.client.UserAdd(ctx10(t), "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.UserGrantRole(ctx10(t), "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.AuthEnable(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	m.auth = true
}

// record reads every key back into the model.
func record(t *testing.T, r *swapRun, m *kvModel) {
	t.Helper()
	clear(m.keys)
	for i := range 200 {
		k := fmt.Sprintf("k%04d", i)
		resp, err := r.client.Get(ctx10(t), k)
		if err != nil {
			t.Fatalf("%s: get %s: %v", r.name, k, err)
		}
		if len(resp.Kvs) > 0 {
			m.keys[k] = resp
		}
		m.rev = resp.Header.Revision
	}
}

// checkServes checks that r serves the model, and returns its member ID.
func checkServes(t *testing.T, r *swapRun, m *kvModel) uint64 {
	t.Helper()
	resp, err := r.client.Get(ctx10(t), "k", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("%s: range: %v", r.name, err)
	}
	if resp.Header.Revision != m.rev {
		t.Errorf("%s: revision %d, want %d", r.name, resp.Header.Revision, m.rev)
	}
	got := map[string]bool{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = true
		w, ok := m.keys[string(kv.Key)]
		if !ok {
			t.Errorf("%s: serves %s, deleted", r.name, kv.Key)
			continue
		}
		if want := w.Kvs[0]; string(kv.Value) != string(want.Value) || kv.ModRevision != want.ModRevision ||
			kv.CreateRevision != want.CreateRevision || kv.Version != want.Version || kv.Lease != want.Lease {
			t.Errorf("%s: %s is %q mod %d create %d version %d lease %x, want %q mod %d create %d version %d lease %x", r.name, kv.Key,
				kv.Value, kv.ModRevision, kv.CreateRevision, kv.Version, kv.Lease,
				want.Value, want.ModRevision, want.CreateRevision, want.Version, want.Lease)
		}
	}
	for k := range maps.Keys(m.keys) {
		if !got[k] {
			t.Errorf("%s: %s missing", r.name, k)
		}
	}
	if _, err := r.client.Get(ctx10(t), "k0000", clientv3.WithRev(m.compactRev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("%s: get below the compaction at %d: %v, want %v", r.name, m.compactRev, err, rpctypes.ErrCompacted)
	}
	var want []string
	for k, resp := range m.keys {
		if resp.Kvs[0].Lease == int64(m.lease) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("no key on the lease: the test writes none")
	}
	ttl, err := r.client.TimeToLive(ctx10(t), m.lease, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatalf("%s: lease: %v", r.name, err)
	}
	var keys []string
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	if ttl.TTL <= 0 || !slices.Equal(keys, want) {
		t.Errorf("%s: lease %x TTL %d keys %v, want a live lease with %v", r.name, m.lease, ttl.TTL, keys, want)
	}
	if m.auth {
		st, err := r.client.AuthStatus(ctx10(t))
		if err != nil || !st.Enabled {
			t.Errorf("%s: auth status %v, %v; want enabled", r.name, st, err)
		}
		if u, err := r.client.UserGet(ctx10(t), "root"); err != nil || !slices.Equal(u.Roles, []string{"root"}) {
			t.Errorf("%s: user root: %v, %v", r.name, u, err)
		}
	}
	ml, err := r.client.MemberList(ctx10(t))
	if err != nil {
		t.Fatalf("%s: member list: %v", r.name, err)
	}
	if len(ml.Members) != 1 || m.memberID != 0 && ml.Members[0].ID != m.memberID {
		t.Errorf("%s: members %v, want one with ID %x", r.name, ml.Members, m.memberID)
	}
	return ml.Members[0].ID
}
