package utl_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// backupPeerURL is the peer URL etcdutl's backup gives the member.
const backupPeerURL = "http://use-flag--force-new-cluster:2080"

// treeDigest maps every file under dir to a hash of its mode and bytes.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out[path] = info.Mode().String() + " " + sum
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// standalone is a basalt process started on a data dir outside a
// harness cluster, with its own ports.
type standalone struct {
	clientURL string
	proc      *e2e.Process
}

// startStandalone starts basalt as member name on dataDir with extra
// flags and waits until it serves clients. With bootstrapFlags it is
// given the --initial-cluster of a new one-member cluster, which a forced
// restart ignores; without them a restart takes the data dir's identity
// (basalt refuses a data dir another cluster than explicit flags describe).
func startStandalone(t *testing.T, name, dataDir string, bootstrapFlags bool, extra ...string) *standalone {
	t.Helper()
	ports, err := e2e.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	s := &standalone{clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	args := append([]string{
		"--name", name, "--data-dir", dataDir,
		"--listen-client-urls", s.clientURL, "--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
	}, extra...)
	if bootstrapFlags {
		args = append(args, "--initial-cluster", name+"="+peerURL)
	}
	s.proc = startProcess(t, args)
	return s
}

// startProcess starts basalt with args, waits until it serves clients,
// and kills it when t ends.
func startProcess(t *testing.T, args []string) *e2e.Process {
	t.Helper()
	p, err := e2e.StartProcess(e2e.Binary(), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("=== basalt %q ===\n%s", args, p.Output())
		}
	})
	if err := p.WaitOutput(e2e.ReadyLine, time.Minute); err != nil {
		t.Fatalf("basalt %q not ready: %v\n%s", args, err, p.Output())
	}
	return p
}

func stopProcess(t *testing.T, p *e2e.Process) {
	t.Helper()
	if _, err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// loadKeys writes n keys under "key-" (overwriting the first, deleting
// the second, one on a lease) and returns the final revision and the
// member's and cluster's IDs.
func loadKeys(t *testing.T, cli *clientv3.Client, n int) (rev int64, memberID, clusterID uint64) {
	t.Helper()
	ctx := ctxT(t)
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf("key-%03d", i), fmt.Sprint("value-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, "key-000", "overwritten"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "key-001"); err != nil {
		t.Fatal(err)
	}
	l, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(ctx, "key-leased", "v", clientv3.WithLease(l.ID))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision, resp.Header.MemberId, resp.Header.ClusterId
}

// checkKeys checks that the member at endpoint serves what loadKeys wrote
// at revision rev, as the only member of its cluster, and takes a write.
func checkKeys(t *testing.T, endpoint string, n int, rev int64) *clientv3.GetResponse {
	t.Helper()
	cli := e2e.NewClient(t, []string{endpoint}, nil)
	ctx := ctxT(t)
	resp, err := cli.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	// n keys, one deleted, one leased.
	if int(resp.Count) != n || resp.Header.Revision != rev {
		t.Fatalf("%d keys at revision %d, want %d at %d", resp.Count, resp.Header.Revision, n, rev)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if got["key-000"] != "overwritten" || got["key-002"] != "value-2" || got["key-leased"] != "v" || got["key-001"] != "" {
		t.Fatalf("values: %v", got)
	}
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != st.Header.MemberId {
		t.Fatalf("leader %x, member %x", st.Leader, st.Header.MemberId)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ID != st.Header.MemberId {
		t.Fatalf("member list %v (%v), want only %x", ml, err, st.Header.MemberId)
	}
	if _, err := cli.Put(ctx, "after", "x"); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestForceNewCluster: a member of a stopped three-member cluster
// restarted with --force-new-cluster leads alone, keeps its identity and
// every key, and takes writes; restarted without the flag it still does.
func TestForceNewCluster(t *testing.T) {
	c := e2e.NewCluster(t, 3, nil)
	const n = 30
	rev, _, clusterID := loadKeys(t, c.Client(t), n)
	m := c.Members[1]
	// The member has applied every write before it stops.
	if _, err := e2e.NewClient(t, []string{m.ClientURL()}, nil).Get(ctxT(t), "key-000"); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)

	p := startProcess(t, append(m.Args(), "--force-new-cluster"))
	if !e2e.LogContains(p.Output(), "forcing restart member") {
		t.Fatalf("no forced restart logged:\n%s", p.Output())
	}
	resp := checkKeys(t, m.ClientURL(), n, rev)
	if resp.Header.ClusterId != clusterID {
		t.Fatalf("cluster ID %x, want %x (kept)", resp.Header.ClusterId, clusterID)
	}
	stopProcess(t, p)

	m.Start(t)
	if e2e.LogContains(m.Process().Output(), "forcing restart member") {
		t.Fatal("forced restart logged without the flag")
	}
	checkKeys(t, m.ClientURL(), n, rev+1)
}

// TestBackup: a backup of a stopped member, started with
// --force-new-cluster, serves the same keys at the same revision as a
// new cluster and member, leaving the original data dir as it was.
func TestBackup(t *testing.T) {
	tests := []struct {
		name string
		// args are the source member's extra flags.
		args []string
		// moveWAL puts the source's WAL in a --wal-dir, backupWAL the
		// backup's in a --backup-wal-dir.
		moveWAL, backupWAL bool
		withV3             string
		wantSnap           bool
	}{
		{name: "log only"},
		{name: "raft snapshot", args: []string{"--snapshot-count", "10", "--snapshot-catchup-entries", "5"}, wantSnap: true},
		{name: "wal dirs", moveWAL: true, backupWAL: true},
		{name: "without v3", withV3: "--with-v3=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := e2e.NewCluster(t, 1, &e2e.Options{Args: tt.args})
			const n = 30
			rev, memberID, clusterID := loadKeys(t, c.Client(t), n)
			c.Stop(t)
			src := c.Members[0].DataDir
			snaps, _ := filepath.Glob(filepath.Join(src, "member", "snap", "*.snap"))
			if got := len(snaps) > 0; got != tt.wantSnap {
				t.Fatalf("source has raft snapshots %v, want %v", snaps, tt.wantSnap)
			}
			args := []string{"backup", "--data-dir", src, "--backup-dir", filepath.Join(dir, "backup.etcd")}
			if tt.moveWAL {
				wal := filepath.Join(dir, "source-wal")
				if err := os.Rename(filepath.Join(src, "member", "wal"), wal); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--wal-dir", wal)
			}
			var startArgs []string
			if tt.backupWAL {
				args = append(args, "--backup-wal-dir", filepath.Join(dir, "backup-wal"))
				startArgs = append(startArgs, "--wal-dir", filepath.Join(dir, "backup-wal"))
			}
			if tt.withV3 != "" {
				args = append(args, tt.withV3)
			}
			before := treeDigest(t, src)
			r := utl(t, args...)
			if r.stdout != "" {
				t.Errorf("stdout %q, want none", r.stdout)
			}
			if after := treeDigest(t, src); !maps.Equal(before, after) {
				t.Fatalf("backup changed the data dir:\nbefore %v\nafter  %v", before, after)
			}

			s := startStandalone(t, "restored", filepath.Join(dir, "backup.etcd"), true, append(startArgs, "--force-new-cluster")...)
			cli := e2e.NewClient(t, []string{s.clientURL}, nil)
			if tt.withV3 != "" {
				resp, err := cli.Get(ctxT(t), "", clientv3.WithPrefix())
				if err != nil || resp.Count != 0 {
					t.Fatalf("without v3: %v keys (%v), want none", resp, err)
				}
				if _, err := cli.Put(ctxT(t), "after", "x"); err != nil {
					t.Fatal(err)
				}
				return
			}
			resp := checkKeys(t, s.clientURL, n, rev)
			if resp.Header.MemberId == memberID || resp.Header.ClusterId == clusterID {
				t.Fatalf("member %x cluster %x: want new IDs, not %x %x", resp.Header.MemberId, resp.Header.ClusterId, memberID, clusterID)
			}
			ml, err := cli.MemberList(ctxT(t))
			if err != nil || ml.Members[0].Name != "restored" || strings.Join(ml.Members[0].PeerURLs, ",") != backupPeerURL {
				t.Fatalf("member list %v (%v): want restored at %s", ml, err, backupPeerURL)
			}
			lease := resp.Kvs[len(resp.Kvs)-1].Lease
			ttl, err := cli.TimeToLive(ctxT(t), clientv3.LeaseID(lease))
			if err != nil || ttl.TTL <= 0 {
				t.Fatalf("lease %x of key-leased: %v (%v)", lease, ttl, err)
			}
			// It keeps working without the flag.
			stopProcess(t, s.proc)
			s = startStandalone(t, "restored", filepath.Join(dir, "backup.etcd"), false, startArgs...)
			checkKeys(t, s.clientURL, n, rev+1)
		})
	}
}

// TestBackupRunningMember: the database's lock held by a running member
// makes the backup fail after --timeout, as etcdutl's does after its own.
func TestBackupRunningMember(t *testing.T) {
	c := e2e.NewCluster(t, 1, nil)
	r := run(t, nil, utlPath(), "backup", "--data-dir", c.Members[0].DataDir, "--backup-dir", filepath.Join(t.TempDir(), "b"), "--timeout", "200ms")
	if r.code != 1 || !strings.Contains(r.stderr, "\tfatal\t") || !strings.Contains(r.stderr, "timed out waiting to acquire lock on") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and a lock timeout", r.code, r.stderr)
	}
}

var logPrefix = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\t(\w+)\t([\w/]+\.go):\d+\t`)

// TestBackupGolden: refusals, as etcdutl 3.5 prints them.
func TestBackupGolden(t *testing.T) {
	dir := t.TempDir()
	noWAL := filepath.Join(dir, "nowal.etcd")
	if err := os.MkdirAll(filepath.Join(noWAL, "member", "snap"), 0o700); err != nil {
		t.Fatal(err)
	}
	emptyWAL := filepath.Join(dir, "emptywal.etcd")
	for _, d := range []string{"snap", "wal"} {
		if err := os.MkdirAll(filepath.Join(emptyWAL, "member", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	used := filepath.Join(dir, "used.etcd")
	if err := os.MkdirAll(filepath.Join(used, "member", "snap"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(used, "member", "snap", "db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := func(s ...string) []string { return s }
	steps := [][]string{
		a("backup"),
		a("backup", "--data-dir", noWAL),
		a("backup", "--backup-dir", filepath.Join(dir, "b0")),
		a("backup", "--data-dir", filepath.Join(dir, "absent.etcd"), "--backup-dir", filepath.Join(dir, "b1")),
		a("backup", "--data-dir", noWAL, "--backup-dir", filepath.Join(dir, "b2")),
		a("backup", "--data-dir", emptyWAL, "--backup-dir", filepath.Join(dir, "b3")),
		a("backup", "--data-dir", noWAL, "--backup-dir", used),
		a("backup", "--help"),
	}
	var b strings.Builder
	for _, args := range steps {
		r := run(t, nil, utlPath(), args...)
		fmt.Fprintf(&b, "$ basaltutl %s\n%s", strings.Join(args, " "), r.stdout)
		if r.stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", logPrefix.ReplaceAllString(r.stderr, "<TIME>\t$3\t$4:<LINE>\t"))
		}
		if r.code != 0 {
			fmt.Fprintf(&b, "[exit %d]\n", r.code)
		}
		b.WriteString("\n")
	}
	compareGolden(t, "backup", strings.ReplaceAll(b.String(), dir, "<DIR>"))
}
