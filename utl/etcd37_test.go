package utl_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// server is a member binary: basalt's or etcd 3.7.3's.
type server struct{ name, bin string }

// written is what a member's files must serve: every key with its
// revisions, the store's revision, the keys at the compaction revision
// (below it, history is gone) and the lease with its keys.
type written struct {
	kvs        []*mvccpb.KeyValue
	rev        int64
	compactRev int64
	atCompact  []*mvccpb.KeyValue
	lease      clientv3.LeaseID
	leased     []string
}

// TestToolsOnEachOthersFilesEtcd37: etcdutl 3.7.3 on basalt's files and
// basaltutl on etcd 3.7.3's, through the real binaries. A one-member
// cluster of the writer takes keys with history, a delete, a compaction
// and a lease; from its snapshot file and its stopped data dir:
// `snapshot status` and `hashkv` print the same from both tools; the
// other tool's `snapshot restore` gives a data dir that basalt and etcd
// 3.7.3 each start on and serve every key of, with its revisions, the
// compaction, the lease and the restored member; the other tool's
// `defrag --data-dir` leaves the hashes as they were and a data dir the
// writer starts on again and serves as before. Both tools' restore (with
// the same flags) and defrag (on copies of the data dir) log the same and
// leave the same database.
func TestToolsOnEachOthersFilesEtcd37(t *testing.T) {
	etcdutl := utlTool{"etcdutl", etcdutl37(t)}
	etcd := server{"etcd 3.7.3", e2e.Etcd37Binary(t, "etcdutl 3.7.3 and basaltutl are run on each other's files, which basalt and etcd 3.7.3 then serve")}
	basalt := server{"basalt", e2e.Binary()}
	tools := []utlTool{etcdutl, basaltutlTool()}
	for _, c := range []struct {
		name   string
		writer server
		tool   utlTool // the other's tool, which restores and defragments
	}{
		{"basalt's files, etcdutl's tools", basalt, etcdutl},
		{"etcd's files, basaltutl's tools", etcd, basaltutlTool()},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ms, initial := newRestoredCluster(t, dir, "writer")
			src := ms[0]
			startMembers(t, c.writer.bin, ms, initial, "etcd-cluster")
			want := writeHistory(t, src.clientURL)
			snap := filepath.Join(dir, "snap.db")
			saveSnapshot(t, src.clientURL, snap)
			if _, err := src.proc.Stop(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(src.dataDir, "member", "snap", "db")

			t.Run("snapshot status", func(t *testing.T) {
				for _, format := range []string{"json", "simple", "table"} {
					outs := sameOutputs(t, tools, "snapshot", "status", snap, "-w", format)
					if format != "json" {
						continue
					}
					got := decodeJSON[statusJSON](t, outs)
					if got.Revision != want.rev || got.Version != "3.7.0" || got.TotalKey == 0 || got.TotalSize == 0 {
						t.Errorf("snapshot status of %s's snapshot: %+v, want revision %d, version 3.7.0", c.writer.name, got, want.rev)
					}
				}
			})

			revs := []int64{0, want.compactRev, want.compactRev + 3, want.rev}
			hashes := hashKVsByTools(t, tools, db, revs, want)

			t.Run("snapshot restore", func(t *testing.T) {
				// Both tools, the same flags: the same log and database.
				sameRuns(t, "snapshot restore", tools, nil, "snapshot", "restore", snap, "--name", "r",
					"--initial-cluster", "r=http://127.0.0.1:2380,q=http://127.0.0.1:2381",
					"--initial-cluster-token", "t", "--initial-advertise-peer-urls", "http://127.0.0.1:2380")
				for _, to := range []server{basalt, etcd} {
					t.Run("started by "+to.name, func(t *testing.T) {
						ms, initial := newRestoredCluster(t, t.TempDir(), "restored")
						m := ms[0]
						const token = "restored-token"
						r := mustRun(t, c.tool, "snapshot", "restore", snap, "--name", m.name, "--initial-cluster", initial,
							"--initial-cluster-token", token, "--initial-advertise-peer-urls", m.peerURL, "--data-dir", m.dataDir)
						if !strings.Contains(r.stderr, "restored snapshot") {
							t.Errorf("%s snapshot restore logged no 'restored snapshot':\n%s", c.tool.name, r.stderr)
						}
						startMembers(t, to.bin, ms, initial, token)
						checkServed(t, to.name+" on "+c.tool.name+"'s restore", m, want)
					})
				}
			})

			t.Run("defrag", func(t *testing.T) {
				// Both tools on copies of the data dir: the same log and
				// database.
				sameRuns(t, "defrag", tools, func(dataDir string) { copyDir(t, src.dataDir, dataDir) }, "defrag")
				r := mustRun(t, c.tool, "defrag", "--data-dir", src.dataDir)
				if !strings.Contains(r.stderr, "finished defragmenting directory") {
					t.Errorf("%s defrag logged no 'finished defragmenting directory':\n%s", c.tool.name, r.stderr)
				}
				if after := hashKVsByTools(t, tools, db, revs, want); !slices.Equal(after, hashes) {
					t.Errorf("hashkv after %s defrag %+v, before %+v", c.tool.name, after, hashes)
				}
				startMembers(t, c.writer.bin, ms, initial, "etcd-cluster")
				checkServed(t, c.writer.name+" after "+c.tool.name+" defrag", src, want)
			})
		})
	}
}

// mustRun runs tool and fails t unless it exits 0.
func mustRun(t testing.TB, tool utlTool, args ...string) result {
	t.Helper()
	r := run(t, nil, tool.bin, args...)
	if r.code != 0 {
		t.Fatalf("%s %q: exit %d\nstdout:\n%s\nstderr:\n%s", tool.name, args, r.code, r.stdout, r.stderr)
	}
	return r
}

// writeHistory writes keys with history, deletes one, compacts, attaches
// keys to a lease and writes again, and returns what the member serves.
func writeHistory(t *testing.T, endpoint string) written {
	t.Helper()
	cli := e2e.NewClient(t, []string{endpoint}, nil)
	ctx := ctxT(t)
	for i := range 60 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i%20), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, "k05")
	if err != nil {
		t.Fatal(err)
	}
	w := written{compactRev: del.Header.Revision - 10}
	at, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(w.compactRev))
	if err != nil {
		t.Fatal(err)
	}
	w.atCompact = at.Kvs
	if _, err := cli.Compact(ctx, w.compactRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	w.lease, w.leased = lease.ID, []string{"leased/a", "leased/b"}
	for _, k := range w.leased {
		if _, err := cli.Put(ctx, k, "l", clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i), fmt.Sprint("after", i)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := cli.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	w.kvs, w.rev = all.Kvs, all.Header.Revision
	// The storage version, which snapshot status reports, is written
	// once the cluster version is known.
	testutil.WaitUntil(t, 30*time.Second, "the member to record storage version 3.7.0", func() bool {
		st, err := cli.Status(ctxT(t), endpoint)
		return err == nil && st.StorageVersion == "3.7.0"
	})
	return w
}

var took = regexp.MustCompile(`"took": "[^"]*"`)

// sameRuns runs every tool with args and --data-dir, a new directory of
// its own (prepared by setup, if not nil), and checks that they log the
// same (keyLines, with the data dir and durations left out) and leave
// databases of the same status.
func sameRuns(t *testing.T, what string, tools []utlTool, setup func(dataDir string), args ...string) {
	t.Helper()
	var firstLog []string
	var firstStatus string
	for i, tool := range tools {
		dataDir := filepath.Join(t.TempDir(), "data.etcd")
		if setup != nil {
			setup(dataDir)
		}
		r := mustRun(t, tool, append(args, "--data-dir", dataDir)...)
		log := keyLines(took.ReplaceAllString(strings.ReplaceAll(r.stderr, dataDir, "<DATA>"), `"took": "<T>"`))
		status := mustRun(t, basaltutlTool(), "snapshot", "status", filepath.Join(dataDir, "member", "snap", "db"), "-w", "json").stdout
		if i == 0 {
			firstLog, firstStatus = log, status
			continue
		}
		if !slices.Equal(log, firstLog) {
			t.Errorf("%s: %s logged\n\t%s\n%s logged\n\t%s", what, tool.name, strings.Join(log, "\n\t"),
				tools[0].name, strings.Join(firstLog, "\n\t"))
		}
		if status != firstStatus {
			t.Errorf("%s: the database %s left has status %s, %s's %s", what, tool.name, status, tools[0].name, firstStatus)
		}
	}
}

// sameOutputs runs every tool with args, fails t unless each exits 0,
// checks that they print the same and returns the first's output.
func sameOutputs(t *testing.T, tools []utlTool, args ...string) string {
	t.Helper()
	first := mustRun(t, tools[0], args...).stdout
	for _, tool := range tools[1:] {
		if got := mustRun(t, tool, args...).stdout; got != first {
			t.Errorf("%s: %s printed\n%s%s printed\n%s", strings.Join(args, " "), tool.name, got, tools[0].name, first)
		}
	}
	return first
}

// hashKVsByTools runs every tool's hashkv on db at each of revs, checks
// they print the same and answer for the revision and compaction
// written, and returns the answers.
func hashKVsByTools(t *testing.T, tools []utlTool, db string, revs []int64, w written) []hashKVJSON {
	t.Helper()
	var out []hashKVJSON
	for _, rev := range revs {
		got := decodeJSON[hashKVJSON](t, sameOutputs(t, tools, "hashkv", db, "--rev", fmt.Sprint(rev), "-w", "json"))
		wantRev := rev
		if rev == 0 {
			wantRev = w.rev
		}
		if got.HashRevision != wantRev || got.CompactRevision != w.compactRev || got.Hash == 0 {
			t.Errorf("hashkv --rev %d: %+v, want hash revision %d, compact revision %d", rev, got, wantRev, w.compactRev)
		}
		out = append(out, got)
	}
	return out
}

// checkServed checks that m serves w: every key with its revisions at
// the same store revision, the keys at the compaction revision and none
// below it, the lease with its keys, and m as the cluster's one member.
func checkServed(t *testing.T, who string, m *restoredMember, w written) {
	t.Helper()
	cli := e2e.NewClient(t, []string{m.clientURL}, nil)
	ctx := ctxT(t)
	got, err := cli.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("%s: get: %v", who, err)
	}
	if got.Header.Revision != w.rev {
		t.Errorf("%s: revision %d, want %d", who, got.Header.Revision, w.rev)
	}
	sameKVs(t, who, got.Kvs, w.kvs)
	at, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(w.compactRev))
	if err != nil {
		t.Fatalf("%s: get at the compaction revision %d: %v", who, w.compactRev, err)
	}
	sameKVs(t, fmt.Sprintf("%s at %d", who, w.compactRev), at.Kvs, w.atCompact)
	if _, err := cli.Get(ctx, "k00", clientv3.WithRev(w.compactRev-1)); err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Errorf("%s: get below the compaction revision: %v, want the compacted error", who, err)
	}
	ttl, err := cli.TimeToLive(ctx, w.lease, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatalf("%s: lease: %v", who, err)
	}
	var keys []string
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	if ttl.TTL <= 0 || !slices.Equal(keys, w.leased) {
		t.Errorf("%s: lease %x has TTL %d and keys %q, want it alive with %q", who, w.lease, ttl.TTL, keys, w.leased)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("%s: member list: %v", who, err)
	}
	if len(ml.Members) != 1 || ml.Members[0].Name != m.name || !slices.Equal(ml.Members[0].PeerURLs, []string{m.peerURL}) ||
		!slices.Equal(ml.Members[0].ClientURLs, []string{m.clientURL}) {
		t.Errorf("%s: members %v, want %s alone with peer URL %s, client URL %s", who, ml.Members, m.name, m.peerURL, m.clientURL)
	}
}
