package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// hashKVs asks every member for HashKV at rev and fails t unless they
// agree; it returns the answer.
func hashKVs(t *testing.T, c *Cluster, cli *clientv3.Client, rev int64) *clientv3.HashKVResponse {
	t.Helper()
	var first *clientv3.HashKVResponse
	for _, m := range c.Members {
		h, err := cli.HashKV(testCtx(t), m.ClientURL(), rev)
		if err != nil {
			t.Fatalf("HashKV of %s at %d: %v", m.Name, rev, err)
		}
		if first == nil {
			first = h
			continue
		}
		if h.Hash != first.Hash || h.HashRevision != first.HashRevision || h.CompactRevision != first.CompactRevision {
			t.Fatalf("HashKV at %d: %s answers hash %d (hash revision %d, compact revision %d), %s %d (%d, %d)", rev,
				m.Name, h.Hash, h.HashRevision, h.CompactRevision, c.Members[0].Name, first.Hash, first.HashRevision, first.CompactRevision)
		}
	}
	return first
}

// TestHashKVAndTombstoneCompaction: HashKV agrees on every member of a
// 3-member cluster, is the same before and after a compaction at its
// revision and after a defragmentation (and on a restarted member), and
// reports compact revision -1 before any compaction, as etcd 3.7. A
// compaction at a key's tombstone keeps the tombstone until the next
// compaction, so a watch from that revision still delivers the delete.
func TestHashKVAndTombstoneCompaction(t *testing.T) {
	c := NewCluster(t, 3, nil)
	cli := c.Client(t)
	ctx := testCtx(t)

	if h := hashKVs(t, c, cli, 0); h.CompactRevision != -1 {
		t.Fatalf("compact revision of a store never compacted: %d, want -1", h.CompactRevision)
	}
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i%7), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, "k03")
	if err != nil || del.Deleted != 1 {
		t.Fatalf("delete: %v, %v", del, err)
	}
	tomb := del.Header.Revision
	if _, err := cli.Put(ctx, "after", "v"); err != nil {
		t.Fatal(err)
	}
	before := hashKVs(t, c, cli, tomb)
	if _, err := cli.Compact(ctx, tomb, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// A physical compaction is waited for on the member that served it
	// only: the others answer from the hash their compaction stores once
	// they have finished it.
	for _, m := range c.Members {
		err := testutil.Poll(10*time.Second, func() error {
			got, err := cli.HashKV(ctx, m.ClientURL(), tomb)
			if err == nil && (got.Hash != before.Hash || got.CompactRevision != before.CompactRevision) {
				err = fmt.Errorf("hash %d (compact revision %d), before %d (%d)", got.Hash, got.CompactRevision, before.Hash, before.CompactRevision)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: HashKV at %d after compacting there: %v", m.Name, tomb, err)
		}
	}
	hashKVs(t, c, cli, tomb)
	current := hashKVs(t, c, cli, 0)
	if current.CompactRevision != tomb {
		t.Fatalf("compact revision after compacting at %d: %d", tomb, current.CompactRevision)
	}

	// Every member still delivers the delete at the compaction revision.
	for _, m := range c.Members {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		wresp := <-m.Client(t).Watch(wctx, "k03", clientv3.WithRev(tomb))
		cancel()
		if err := wresp.Err(); err != nil || len(wresp.Events) != 1 || wresp.Events[0].Type != mvccpb.DELETE || wresp.Events[0].Kv.ModRevision != tomb {
			t.Fatalf("%s: watch from %d: %v (%v), want the DELETE at %d", m.Name, tomb, wresp.Events, err, tomb)
		}
	}

	for _, m := range c.Members {
		if _, err := cli.Defragment(ctx, m.ClientURL()); err != nil {
			t.Fatalf("defragment %s: %v", m.Name, err)
		}
	}
	if got := hashKVs(t, c, cli, 0); got.Hash != current.Hash {
		t.Fatalf("HashKV after defragmentation: %d, before %d", got.Hash, current.Hash)
	}
	if got := hashKVs(t, c, cli, tomb); got.Hash != before.Hash {
		t.Fatalf("HashKV at %d after defragmentation: %d, before %d", tomb, got.Hash, before.Hash)
	}

	// A restarted member computes what the others do (its stored
	// compaction hashes are gone, as etcd's; at the compaction revision
	// it reports that revision as the compact revision instead).
	c.Members[1].Restart(t)
	if got := hashKVs(t, c, cli, 0); got.Hash != current.Hash {
		t.Fatalf("HashKV with a restarted member: %d, before %d", got.Hash, current.Hash)
	}

	// The next compaction removes the tombstone.
	if _, err := cli.Compact(ctx, tomb+1, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// Every member refuses the watch once it has applied the compaction
	// (the client may reach one that has not yet).
	for _, m := range c.Members {
		mcli := m.Client(t)
		err := testutil.Poll(10*time.Second, func() error {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			wresp := <-mcli.Watch(wctx, "k03", clientv3.WithRev(tomb))
			if !errors.Is(wresp.Err(), rpctypes.ErrCompacted) || wresp.CompactRevision != tomb+1 {
				return fmt.Errorf("%v (compact revision %d, %d events), want compacted", wresp.Err(), wresp.CompactRevision, len(wresp.Events))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: watch from %d after compacting at %d: %v", m.Name, tomb, tomb+1, err)
		}
	}
}
