package utl_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
)

// saveSnapshotAs is saveSnapshot with a user's credentials (a snapshot
// is root's once auth is on).
func saveSnapshotAs(t testing.TB, endpoint, user, password, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := clientv3.Config{Endpoints: []string{endpoint}, Username: user, Password: password, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if _, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), cfg, path); err != nil {
		t.Fatalf("snapshot save from %s: %v", endpoint, err)
	}
}

func authClient(t testing.TB, endpoint, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Username: user, Password: password, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client of %s as %s: %v", endpoint, user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// checkUsers checks the users, roles and permissions the scenario made
// (and that auth is on: AuthStatus is not in etcd 3.4, whose refusals
// show it).
func checkUsers(t *testing.T, endpoint string, hasAuthStatus bool) {
	t.Helper()
	ctx := ctxT(t)
	root := authClient(t, endpoint, "root", "rootpw")
	users, err := root.UserList(ctx)
	if err != nil || !slices.Equal(users.Users, []string{"alice", "root"}) {
		t.Fatalf("users: %v, %v", users, err)
	}
	if hasAuthStatus {
		st, err := root.AuthStatus(ctx)
		if err != nil || !st.Enabled {
			t.Fatalf("auth status: %v, %v", st, err)
		}
	}
	alice := authClient(t, endpoint, "alice", "alicepw")
	if resp, err := alice.Get(ctx, "a/x"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("alice reads a/x: %v, %v", resp, err)
	}
	if _, err := alice.Get(ctx, "c"); err == nil || err.Error() != rpctypes.ErrPermissionDenied.Error() {
		t.Fatalf("alice reads c: %v", err)
	}
	if _, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Username: "alice", Password: "wrong", DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

// TestRestoreEtcdSnapshotWithUsers takes a snapshot of Debian's etcd with
// users, roles and auth on, restores it with basaltutl and runs basalt on
// it: the users log in with their passwords and have their permissions.
// Then the other way: a snapshot of that basalt, restored by Debian's
// etcdctl, runs under etcd with the same users.
func TestRestoreEtcdSnapshotWithUsers(t *testing.T) {
	e := e2e.StartEtcd(t, "a snapshot of etcd with users is restored into basalt")
	ctx := ctxT(t)
	for _, step := range []func() error{
		func() error { _, err := e.Client.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := e.Client.RoleAdd(ctx, "root"); return err },
		func() error { _, err := e.Client.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := e.Client.RoleAdd(ctx, "r"); return err },
		func() error {
			_, err := e.Client.RoleGrantPermission(ctx, "r", "a/", clientv3.GetPrefixRangeEnd("a/"), clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error { _, err := e.Client.UserAdd(ctx, "alice", "alicepw"); return err },
		func() error { _, err := e.Client.UserGrantRole(ctx, "alice", "r"); return err },
		func() error { _, err := e.Client.Put(ctx, "a/x", "1"); return err },
		func() error { _, err := e.Client.Put(ctx, "c", "1"); return err },
		func() error { _, err := e.Client.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("set up etcd: %v", err)
		}
	}
	dir := t.TempDir()
	fromEtcd := filepath.Join(dir, "etcd.db")
	saveSnapshotAs(t, e.ClientURL, "root", "rootpw", fromEtcd)

	ms, initial := newRestoredCluster(t, dir, "b0")
	utl(t, "snapshot", "restore", fromEtcd, "--name", "b0", "--initial-cluster", initial,
		"--initial-cluster-token", "from-etcd", "--initial-advertise-peer-urls", ms[0].peerURL, "--data-dir", ms[0].dataDir)
	startRestored(t, ms, initial, "from-etcd")
	checkUsers(t, ms[0].clientURL, true)

	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Log("etcdctl is not on PATH: basalt's snapshot is not restored into etcd")
		return
	}
	fromBasalt := filepath.Join(dir, "basalt.db")
	saveSnapshotAs(t, ms[0].clientURL, "root", "rootpw", fromBasalt)
	ports, err := e2e.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	clientURL, peerURL := "http://127.0.0.1:"+itoa(ports[0]), "http://127.0.0.1:"+itoa(ports[1])
	dataDir := filepath.Join(dir, "e1.etcd")
	cmd := exec.Command(etcdctl, "snapshot", "restore", fromBasalt, "--name", "e1", "--initial-cluster", "e1="+peerURL,
		"--initial-advertise-peer-urls", peerURL, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("etcdctl snapshot restore: %v\n%s", err, out)
	}
	p, err := e2e.StartProcess(e2e.DebianEtcd, []string{"--name", "e1", "--data-dir", dataDir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "e1=" + peerURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("=== output of etcd ===\n%s", p.Output())
		}
	})
	if err := p.WaitOutput("ready to serve client requests", time.Minute); err != nil {
		t.Fatalf("etcd on basalt's snapshot: %v", err)
	}
	checkUsers(t, clientURL, false)
}

func itoa(n int) string { return strconv.Itoa(n) }
