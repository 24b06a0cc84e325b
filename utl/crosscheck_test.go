package utl_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Debian's etcd 3.4 and its etcdctl (whose `snapshot status` and
// `snapshot restore`, with ETCDCTL_API=3, are what etcdutl became).
const (
	debianEtcd    = "/usr/bin/etcd"
	debianEtcdctl = "/usr/bin/etcdctl"
)

func needDebianEtcd(t *testing.T) {
	t.Helper()
	for _, p := range []string{debianEtcd, debianEtcdctl} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("cross-check with etcd 3.4 skipped: %s not found (Debian's etcd-server and etcd-client packages)", p)
		}
	}
}

var etcdctlEnv = []string{"ETCDCTL_API=3"}

// TestCrossCheckEtcd34 compares basaltutl with etcd 3.4's tools on the
// same files. `snapshot status -w json` agrees on hash, revision and
// totalSize for a snapshot saved from etcd 3.4 and for one saved from
// basalt (3.4 counts totalKey differently: every key of every bucket). A
// snapshot of etcd 3.4 restored with basaltutl serves its keys from basalt.
func TestCrossCheckEtcd34(t *testing.T) {
	needDebianEtcd(t)
	dir := t.TempDir()

	// A snapshot of etcd 3.4.
	ports, err := e2e.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	etcd, err := e2e.StartProcess(debianEtcd, []string{
		"--name", "e34", "--data-dir", filepath.Join(dir, "e34.etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e34=" + peerURL,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		etcd.Kill()
		if t.Failed() {
			t.Logf("=== output of etcd 3.4 ===\n%s", etcd.Output())
		}
	})
	if err := etcd.WaitOutput(e2e.ReadyLine, time.Minute); err != nil {
		t.Fatalf("etcd 3.4 not ready: %v", err)
	}
	ecli := e2e.NewClient(t, []string{clientURL}, nil)
	ctx := ctxT(t)
	for i := range 50 {
		if _, err := ecli.Put(ctx, fmt.Sprintf("e34/k%02d", i%20), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ecli.Delete(ctx, "e34/k05"); err != nil {
		t.Fatal(err)
	}
	want, err := ecli.Get(ctx, "e34/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	etcdSnap := filepath.Join(dir, "etcd34.db")
	if r := run(t, etcdctlEnv, debianEtcdctl, "--endpoints", clientURL, "snapshot", "save", etcdSnap); r.code != 0 {
		t.Fatalf("etcdctl snapshot save: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := etcd.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// A snapshot of basalt.
	c := e2e.NewCluster(t, 1, nil)
	for i := range 30 {
		if _, err := c.Client(t).Put(ctx, fmt.Sprintf("b/k%d", i%7), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	basaltSnap := filepath.Join(dir, "basalt.db")
	saveSnapshot(t, c.Members[0].ClientURL(), basaltSnap)
	c.Stop(t)

	for _, file := range []string{etcdSnap, basaltSnap} {
		r := run(t, etcdctlEnv, debianEtcdctl, "snapshot", "status", file, "-w", "json")
		if r.code != 0 {
			t.Fatalf("etcdctl snapshot status %s: exit %d\n%s", file, r.code, r.stderr)
		}
		theirs := decodeJSON[statusJSON](t, r.stdout)
		ours := decodeJSON[statusJSON](t, utl(t, "snapshot", "status", file, "-w", "json").stdout)
		if ours.Hash != theirs.Hash || ours.Revision != theirs.Revision || ours.TotalSize != theirs.TotalSize {
			t.Errorf("%s: basaltutl %+v, etcdctl 3.4 %+v: hash, revision or totalSize differ", filepath.Base(file), ours, theirs)
		}
	}

	// etcd 3.4's snapshot restored with basaltutl, served by basalt.
	ms, initial := newRestoredCluster(t, dir, "from34")
	utl(t, "snapshot", "restore", etcdSnap, "--name", "from34", "--initial-cluster", initial,
		"--initial-advertise-peer-urls", ms[0].peerURL, "--data-dir", ms[0].dataDir)
	startRestored(t, ms, initial, "etcd-cluster")
	got, err := e2e.NewClient(t, []string{ms[0].clientURL}, nil).Get(ctx, "e34/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Revision != want.Header.Revision {
		t.Errorf("revision %d after restore, etcd 3.4 had %d", got.Header.Revision, want.Header.Revision)
	}
	sameKVs(t, "restored from etcd 3.4", got.Kvs, want.Kvs)
}
