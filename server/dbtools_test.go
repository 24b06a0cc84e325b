package server

import (
	"fmt"
	"github.com/basaltkv/basalt/server/datadir"
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestDBFileStatusAndHashKV(t *testing.T) {
	c := newTestCluster(t, 1)
	c.waitReady()
	m := c.leader().m
	ctx := ctxT(t)
	for i := range 30 {
		if _, err := m.Put(ctx, &pb.PutRequest{Key: fmt.Appendf(nil, "k%02d", i%20), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	del, err := m.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("k00"), RangeEnd: []byte("k05")})
	if err != nil || del.Deleted != 5 {
		t.Fatalf("delete: %v %v", del, err)
	}
	rev := del.Header.Revision
	want, err := m.HashKV(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	path := saveSnapshotFile(t, m) // with the appended SHA-256, as saved

	st, err := datadir.DBFileStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != rev || st.TotalKey != 15 || st.Version != StorageVersion || st.TotalSize <= 0 || st.Hash == 0 {
		t.Fatalf("status %+v, want revision %d, 15 keys, version %s", st, rev, StorageVersion)
	}
	again, err := datadir.DBFileStatus(path)
	if err != nil || again != st {
		t.Fatalf("status changed on a second read: %+v, %v", again, err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(db, data[:len(data)-32], 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := datadir.DBFileHashKV(db, rev)
	if err != nil {
		t.Fatal(err)
	}
	if hk.Hash != want.Hash || hk.HashRevision != want.HashRevision || hk.CompactRevision != want.CompactRevision {
		t.Fatalf("offline hashkv %+v, member says %v", hk, want)
	}
	if _, err := datadir.DBFileStatus(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("status of a missing file")
	}
}
