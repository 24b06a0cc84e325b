package utl_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type hashKVJSON struct {
	Hash            uint32 `json:"hash"`
	HashRevision    int64  `json:"hashRevision"`
	CompactRevision int64  `json:"compactRevision"`
}

type statusJSON struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

func decodeJSON[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// TestDefragAndHashKVOfStoppedMember: hashkv on a stopped member's
// database equals what the member's HashKV returned at each revision
// before it stopped, before and after basaltutl defrag (which must not
// grow the file or change its keys), and what the member returns once
// restarted. At the compaction revision the running member answered with
// the hash its compaction stored (compact revision -1, the one before), as
// etcd 3.7 does; a store opened afresh has no stored hash and computes it
// (compact revision 150), as etcdutl's hashkv and a restarted member do.
// While the member runs, the file is locked: --timeout bounds the wait.
func TestDefragAndHashKVOfStoppedMember(t *testing.T) {
	c := e2e.NewCluster(t, 1, nil)
	m := c.Members[0]
	cli := c.Client(t)
	ctx := ctxT(t)
	big := strings.Repeat("x", 4096)
	for i := range 200 {
		if _, err := cli.Put(ctx, fmt.Sprintf("key%03d", i%50), fmt.Sprint(big, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "key01", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, 150, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	last, err := cli.Put(ctx, "last", "v")
	if err != nil {
		t.Fatal(err)
	}
	revs := []int64{150, 180, last.Header.Revision, 0}
	hashKVs := func() map[int64]hashKVJSON {
		t.Helper()
		out := map[int64]hashKVJSON{}
		cli := m.Client(t)
		for _, rev := range revs {
			h, err := cli.HashKV(ctx, m.ClientURL(), rev)
			if err != nil {
				t.Fatalf("HashKV at %d: %v", rev, err)
			}
			out[rev] = hashKVJSON{Hash: h.Hash, HashRevision: h.HashRevision, CompactRevision: h.CompactRevision}
		}
		return out
	}
	want := hashKVs()
	if stored := want[150]; stored.CompactRevision != -1 {
		t.Errorf("HashKV at the compaction revision: %+v, want the hash the compaction stored (compact revision -1)", stored)
	}
	db := filepath.Join(m.DataDir, "member", "snap", "db")

	// The running member holds the database's lock.
	r := run(t, nil, utlPath(), "hashkv", db, "--timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.stderr, "timeout") {
		t.Fatalf("hashkv of a running member's db: exit %d, stderr:\n%s\nwant a lock timeout", r.code, r.stderr)
	}
	r = run(t, nil, utlPath(), "defrag", "--data-dir", m.DataDir, "--timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: Failed to defragment etcd data["+m.DataDir+"] (") || !strings.Contains(r.stderr, "timeout") {
		t.Fatalf("defrag of a running member: exit %d, stderr:\n%s\nwant a lock timeout", r.code, r.stderr)
	}
	c.Stop(t)

	offline := map[int64]hashKVJSON{}
	check := func(stage string) {
		t.Helper()
		for _, rev := range revs {
			got := decodeJSON[hashKVJSON](t, utl(t, "hashkv", db, "--rev", fmt.Sprint(rev), "-w", "json").stdout)
			if prev, ok := offline[rev]; ok && got != prev {
				t.Errorf("%s: hashkv --rev %d = %+v, before %+v", stage, rev, got, prev)
			}
			offline[rev] = got
			if rev == 150 {
				if got.CompactRevision != 150 || got.HashRevision != 150 {
					t.Errorf("%s: hashkv --rev 150 = %+v, want a hash computed at compact revision 150", stage, got)
				}
				continue
			}
			if got != want[rev] {
				t.Errorf("%s: hashkv --rev %d = %+v, member's HashKV %+v", stage, rev, got, want[rev])
			}
		}
	}
	check("before defrag")
	before := decodeJSON[statusJSON](t, utl(t, "snapshot", "status", db, "-w", "json").stdout)
	sizeBefore := fileSize(t, db)
	r = utl(t, "defrag", "--data-dir", m.DataDir)
	if r.stdout != "" || !strings.Contains(r.stderr, "finished defragmenting directory") {
		t.Errorf("defrag output: stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}
	if after := fileSize(t, db); after > sizeBefore {
		t.Errorf("defrag grew the file: %d -> %d bytes", sizeBefore, after)
	}
	after := decodeJSON[statusJSON](t, utl(t, "snapshot", "status", db, "-w", "json").stdout)
	if after.Hash != before.Hash || after.Revision != before.Revision || after.TotalKey != before.TotalKey {
		t.Errorf("status after defrag %+v, before %+v: contents changed", after, before)
	}
	check("after defrag")

	// The defragmented member starts and serves its keys.
	m.Start(t)
	got, err := m.Client(t).Get(ctxT(t), "last")
	if err != nil || len(got.Kvs) != 1 || got.Header.Revision != last.Header.Revision {
		t.Fatalf("after defrag: %v, %v", got, err)
	}
	// Restarted, the member computes as the offline tool does.
	for rev, h := range hashKVs() {
		if h != offline[rev] {
			t.Errorf("restarted member's HashKV at %d = %+v, hashkv %+v", rev, h, offline[rev])
		}
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
