package server

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/server/datadir"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap/zaptest"
)

// TestVerifyDataDir: ETCD_VERIFY's check passes on a stopped member's
// data dir, and fails, with etcd's messages, when the backend claims more
// than the WAL holds or less than its snapshot.
func TestVerifyDataDir(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.SnapshotCount, cfg.SnapshotCatchUpEntries = 10, 5 })
	c.waitReady()
	for i := range 30 {
		if _, err := c.members[0].m.Put(ctxT(t), &pb.PutRequest{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	c.stop()
	layout := c.members[0].cfg.Layout()
	lg := zaptest.NewLogger(t)
	if err := datadir.Verify(lg, layout); err != nil {
		t.Fatalf("a clean data dir: %v", err)
	}
	setIndex := func(index uint64) {
		db, err := bolt.Open(layout.BackendPath(), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("consistent_index"), binary.BigEndian.AppendUint64(nil, index))
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		index uint64
		want  string
	}{
		{1 << 40, "must be <= WAL.HardState.commit"},
		{1, "must be >= last snapshot index"},
	} {
		setIndex(tt.index)
		if err := datadir.Verify(lg, layout); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("consistent index %d: %v, want %q", tt.index, err, tt.want)
		}
	}
}
