package utl_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// TestRestoreIntoNewCluster: a snapshot of a loaded 3-member cluster,
// restored with basaltutl into a new 3-member cluster of real processes,
// serves the same keys (history included) at the same revision, lists
// the 3 new members, keeps its leases and takes writes.
func TestRestoreIntoNewCluster(t *testing.T) {
	dir := t.TempDir()
	src := e2e.NewCluster(t, 3, nil)
	cli := src.Client(t)
	ctx := ctxT(t)
	for i := range 300 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i%40), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "k1", clientv3.WithPrefix()); err != nil { // k1, k10..k19
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "leased", "x", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, 100); err != nil {
		t.Fatal(err)
	}
	want, err := cli.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	const oldRev = 250
	wantOld, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(oldRev))
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "snap.db")
	saveSnapshot(t, src.Members[1].ClientURL(), snap)
	src.Stop(t)

	names := []string{"r0", "r1", "r2"}
	ms, initial := newRestoredCluster(t, dir, names...)
	const token = "restored-cluster"
	for _, m := range ms {
		r := utl(t, "snapshot", "restore", snap, "--name", m.name, "--initial-cluster", initial,
			"--initial-cluster-token", token, "--initial-advertise-peer-urls", m.peerURL, "--data-dir", m.dataDir)
		if !strings.Contains(r.stderr, "restored snapshot") {
			t.Fatalf("restore %s: no 'restored snapshot' log line:\n%s", m.name, r.stderr)
		}
	}
	startRestored(t, ms, initial, token)

	var eps []string
	for _, m := range ms {
		eps = append(eps, m.clientURL)
	}
	ncli := e2e.NewClient(t, eps, nil)
	for _, m := range ms {
		mcli := e2e.NewClient(t, []string{m.clientURL}, nil)
		got, err := mcli.Get(ctx, "", clientv3.WithPrefix())
		if err != nil {
			t.Fatalf("%s: get: %v", m.name, err)
		}
		if got.Header.Revision != want.Header.Revision {
			t.Errorf("%s: revision %d, want %d", m.name, got.Header.Revision, want.Header.Revision)
		}
		sameKVs(t, m.name, got.Kvs, want.Kvs)
		old, err := mcli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(oldRev))
		if err != nil {
			t.Fatalf("%s: get at %d: %v", m.name, oldRev, err)
		}
		sameKVs(t, fmt.Sprintf("%s at %d", m.name, oldRev), old.Kvs, wantOld.Kvs)
		if _, err := mcli.Get(ctx, "k00", clientv3.WithRev(50)); err == nil || !strings.Contains(err.Error(), "compacted") {
			t.Errorf("%s: get at a compacted revision: %v, want the compacted error", m.name, err)
		}
	}

	ml, err := ncli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotMembers []string
	for _, m := range ml.Members {
		gotMembers = append(gotMembers, m.Name+"="+strings.Join(m.PeerURLs, ","))
	}
	slices.Sort(gotMembers)
	if wantMembers := strings.Split(initial, ","); !slices.Equal(gotMembers, wantMembers) {
		t.Errorf("members %v, want %v", gotMembers, wantMembers)
	}

	ttl, err := ncli.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "leased" {
		t.Errorf("lease after restore: %+v, %v; want it alive with key \"leased\"", ttl, err)
	}

	put, err := ncli.Put(ctx, "after-restore", "y")
	if err != nil {
		t.Fatal(err)
	}
	if put.Header.Revision != want.Header.Revision+1 {
		t.Errorf("first write after restore at revision %d, want %d", put.Header.Revision, want.Header.Revision+1)
	}
	for _, m := range ms {
		got, err := e2e.NewClient(t, []string{m.clientURL}, nil).Get(ctx, "after-restore")
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "y" {
			t.Errorf("%s: after-restore: %v, %v", m.name, got, err)
		}
	}
}

func sameKVs(t *testing.T, who string, got, want []*mvccpb.KeyValue) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", who, len(got), len(want))
		return
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s: key %d is %v, want %v", who, i, got[i], want[i])
		}
	}
}

// TestRestoreErrors: what basaltutl refuses, with etcdutl's messages and
// exit codes, and that a refused restore leaves no data dir behind where
// etcdutl leaves none.
func TestRestoreErrors(t *testing.T) {
	dir := t.TempDir()
	c := e2e.NewCluster(t, 1, nil)
	if _, err := c.Client(t).Put(ctxT(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.db")
	saveSnapshot(t, c.Members[0].ClientURL(), good)
	c.Stop(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badHash := slices.Clone(data)
	badHash[len(badHash)-1] ^= 1
	badPath := write("bad.db", badHash)
	noHashPath := write("nohash.db", data[:len(data)-sha256.Size])
	full := filepath.Join(dir, "full.etcd")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	write("full.etcd/x", nil)

	tests := []struct {
		name string
		args []string
		// dataDir is passed as --data-dir unless empty.
		dataDir  string
		wantErr  string
		wantCode int
		// wantNoDir: the data dir must not exist afterwards.
		wantNoDir bool
	}{
		{name: "sound", args: []string{good}},
		{name: "bad hash", args: []string{badPath}, wantErr: "Error: expected sha256 [", wantCode: 1},
		{name: "missing hash", args: []string{noHashPath}, wantErr: "Error: snapshot missing hash but --skip-hash-check=false", wantCode: 1},
		{name: "missing hash, skipped", args: []string{noHashPath, "--skip-hash-check"}},
		{name: "bad hash, skipped", args: []string{badPath, "--skip-hash-check"}},
		{name: "data dir not empty", args: []string{good}, dataDir: full, wantErr: fmt.Sprintf("Error: data-dir %q not empty or could not be read", full), wantCode: 1},
		{name: "name not in cluster", args: []string{good, "--name", "zz"}, wantErr: `Error: couldn't find local name "zz" in the initial cluster configuration`, wantCode: 1, wantNoDir: true},
		{name: "peer URL not in cluster", args: []string{good, "--initial-advertise-peer-urls", "http://127.0.0.1:1"}, wantErr: "Error: --initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:1", wantCode: 1, wantNoDir: true},
		{name: "bad peer URL", args: []string{good, "--initial-advertise-peer-urls", "localhost:2380"}, wantErr: "Error: URL scheme must be http, https, unix, or unixs: localhost:2380", wantCode: 1, wantNoDir: true},
		{name: "missing snapshot", args: []string{filepath.Join(dir, "absent.db")}, wantErr: "no such file or directory", wantCode: 1, wantNoDir: true},
		{name: "no argument", args: nil, wantErr: "Error: snapshot restore requires exactly one argument", wantCode: 128, wantNoDir: true},
		{name: "mark-compacted alone", args: []string{good, "--mark-compacted"}, wantErr: "Error: --mark-compacted required if --revision-bump > 0", wantCode: 128, wantNoDir: true},
		{name: "bump-revision alone", args: []string{good, "--bump-revision", "5"}, wantErr: "Error: --mark-compacted required if --revision-bump > 0", wantCode: 128, wantNoDir: true},
		{name: "bump-revision refused", args: []string{good, "--bump-revision", "5", "--mark-compacted"}, wantErr: "Error: --bump-revision and --mark-compacted are not supported by basaltutl", wantCode: 4, wantNoDir: true},
		{name: "memory map size", args: []string{good, "--initial-memory-map-size", "1048576"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dd := tt.dataDir
			if dd == "" {
				dd = filepath.Join(dir, fmt.Sprintf("dd%d.etcd", i))
			}
			args := append([]string{"snapshot", "restore", "--data-dir", dd}, tt.args...)
			r := run(t, nil, utlPath(), args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantErr != "" && !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("stderr:\n%s\nwant %q", r.stderr, tt.wantErr)
			}
			if tt.wantCode == 0 {
				utl(t, "snapshot", "status", filepath.Join(dd, "member", "snap", "db"))
			}
			if _, err := os.Stat(dd); tt.wantNoDir && !os.IsNotExist(err) {
				t.Fatalf("data dir %s after a refused restore: %v, want none", dd, err)
			}
		})
	}

	// The default data dir is <name>.etcd in the working directory.
	wd := t.TempDir()
	cmd := []string{"snapshot", "restore", good, "--name", "m1", "--initial-cluster", "m1=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls", "http://127.0.0.1:2380"}
	r := runIn(t, wd, utlPath(), cmd...)
	if r.code != 0 {
		t.Fatalf("restore with the default data dir: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(wd, "m1.etcd", "member", "wal")); err != nil {
		t.Fatalf("default data dir: %v", err)
	}
	// --wal-dir puts the WAL elsewhere, and must not exist.
	walDir := filepath.Join(dir, "wal")
	utl(t, "snapshot", "restore", good, "--data-dir", filepath.Join(dir, "w.etcd"), "--wal-dir", walDir)
	if _, err := os.Stat(filepath.Join(dir, "w.etcd", "member", "wal")); !os.IsNotExist(err) {
		t.Fatalf("WAL in the data dir despite --wal-dir: %v", err)
	}
	if names, err := os.ReadDir(walDir); err != nil || len(names) == 0 {
		t.Fatalf("--wal-dir %s: %v, %v", walDir, names, err)
	}
	r = run(t, nil, utlPath(), "snapshot", "restore", good, "--data-dir", filepath.Join(dir, "w2.etcd"), "--wal-dir", walDir)
	if want := fmt.Sprintf("Error: wal-dir %q exists", walDir); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("restore into an existing wal dir: exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
}
