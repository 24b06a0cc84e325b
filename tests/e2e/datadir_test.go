package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// copyFile copies the file from to to.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newestSnapshotIndex is the index of the newest raft snapshot file in
// snapDir (%016x-%016x.snap: term, index).
func newestSnapshotIndex(t *testing.T, snapDir string) uint64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(snapDir, "*.snap"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no snapshot file in %s (%v)", snapDir, err)
	}
	slices.Sort(names)
	var term, index uint64
	if _, err := fmt.Sscanf(filepath.Base(names[len(names)-1]), "%016x-%016x.snap", &term, &index); err != nil {
		t.Fatal(err)
	}
	return index
}

// TestBackendOlderThanSnapshot: a data dir whose backend is older than its
// newest raft snapshot (its consistent index below the snapshot's) and
// has no database for that snapshot is refused, as etcd refuses it (the
// entries between the two are gone from the log: starting would lose
// them); with the database received for that snapshot beside it, the
// member swaps it in and serves every key; a backend that cannot be read
// fails with its error.
func TestBackendOlderThanSnapshot(t *testing.T) {
	c := NewCluster(t, 1, &Options{Args: []string{"--snapshot-count=10", "--snapshot-catchup-entries=2"}})
	m := c.Members[0]
	cli := m.Client(t)
	putGet(t, cli, "first", "v")
	m.Stop(t)
	snapDir := filepath.Join(m.DataDir, "member", "snap")
	db := filepath.Join(snapDir, "db")
	old := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, db, old)

	m.Start(t)
	cli = m.Client(t)
	for i := range 30 {
		putGet(t, cli, fmt.Sprintf("k%02d", i), "v")
	}
	m.Stop(t)
	index := newestSnapshotIndex(t, snapDir)
	good := filepath.Join(t.TempDir(), "good.db")
	copyFile(t, db, good)

	copyFile(t, old, db)
	code, out := startExpectingExit(t, m)
	if code != 1 || !strings.Contains(out, "failed to find database snapshot file") {
		t.Fatalf("start with a backend older than snapshot %d: exit %d, output:\n%s\nwant exit 1 and etcd's \"failed to find database snapshot file\"", index, code, out)
	}

	// The database received with that snapshot, beside it, is swapped in.
	copyFile(t, good, filepath.Join(snapDir, fmt.Sprintf("%016x.snap.db", index)))
	m.Start(t)
	if !strings.Contains(m.Process().Output(), "recovering backend from snapshot database") {
		t.Error("the member did not say it recovered the backend from the snapshot's database")
	}
	resp, err := m.Client(t).Get(testCtx(t), "k", clientv3.WithPrefix())
	if err != nil || resp.Count != 30 {
		t.Fatalf("after recovery: %v keys, %v; want 30", resp, err)
	}
	m.Stop(t)

	// A backend that cannot be read is an error, not an empty start.
	if err := os.WriteFile(db, []byte(strings.Repeat("not a bbolt file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = startExpectingExit(t, m)
	if code != 1 || !strings.Contains(out, db) {
		t.Fatalf("start with an unreadable backend: exit %d, output:\n%s\nwant exit 1 naming %s", code, out, db)
	}
}

// startExpectingExit starts m, which must exit within 30 s; it returns
// the exit status and output.
func startExpectingExit(t *testing.T, m *Member) (int, string) {
	t.Helper()
	if err := m.StartNoWait(); err != nil {
		t.Fatal(err)
	}
	code, err := m.Process().Wait(30 * time.Second)
	if err != nil {
		t.Fatalf("%s did not exit: %v\n%s", m.Name, err, m.Process().Output())
	}
	return code, m.Process().Output()
}
