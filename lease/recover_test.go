package lease

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRecoverFromBackend: leases written through a real backend, which is
// then closed and reopened, come back with their TTLs and checkpoints,
// without keys, and not expiring until a promotion.
func TestRecoverFromBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	be := openBackend(t, path)
	a, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	var deleted []string
	inBatch(t, be, func(tx *backendTx) {
		mustGrant(t, a, tx, 1, 60)
		mustGrant(t, a, tx, -2, 5)
		mustGrant(t, a, tx, 3, 3)
		mustGrant(t, a, tx, 0x694d7c1f3c2a8b01, MaxLeaseTTL)
		if err := a.Attach(1, []LeaseItem{{"k1"}}); err != nil {
			t.Fatal(err)
		}
		if err := a.Attach(3, []LeaseItem{{"k3b"}, {"k3a"}}); err != nil {
			t.Fatal(err)
		}
		if err := a.Checkpoint(tx, 1, 42); err != nil {
			t.Fatal(err)
		}
	})
	inBatch(t, be, func(tx *backendTx) {
		if err := a.Revoke(tx, 3); err != nil {
			t.Fatal(err)
		}
		deleted = tx.deleted
	})
	if !slices.Equal(deleted, []string{"k3a", "k3b"}) {
		t.Fatalf("revoke deleted %q", deleted)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	be = openBackend(t, path)

	// A minimum TTL raised since: old leases are raised to it on recovery.
	b, _ := newTestLessor(t, Config{MinLeaseTTL: 10})
	rt := be.ReadTx()
	defer rt.End()
	if err := b.Recover(rt); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id           ID
		ttl, remains int64
	}{
		{-2, 10, 0},
		{1, 60, 42},
		{0x694d7c1f3c2a8b01, MaxLeaseTTL, 0},
	}
	got := b.Leases()
	if len(got) != len(want) {
		t.Fatalf("recovered %v", ids(got))
	}
	for i, w := range want {
		l := got[i]
		if l.ID != w.id || l.TTL() != w.ttl || l.CheckpointedTTL() != w.remains {
			t.Errorf("lease %d: %v ttl %d checkpointed %d, want %+v", i, l.ID, l.TTL(), l.CheckpointedTTL(), w)
		}
		if len(l.Keys()) != 0 {
			t.Errorf("lease %v recovered with keys %q", l.ID, l.Keys())
		}
		if l.Remaining() != time.Duration(math.MaxInt64) {
			t.Errorf("lease %v expires on a follower", l.ID)
		}
	}
}

// TestRecoverResets: Recover replaces everything, attachments included
// (mvcc re-attaches keys as it rebuilds its index).
func TestRecoverResets(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	mustGrant(t, le, tx, 1, 10)
	if err := le.Attach(1, []LeaseItem{{"k"}}); err != nil {
		t.Fatal(err)
	}
	old := le.Lookup(1)

	snapshot := newFakeTx() // a backend restored from a leader's snapshot
	other, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	mustGrant(t, other, snapshot, 1, 20)
	mustGrant(t, other, snapshot, 2, 30)

	if err := le.Recover(snapshot); err != nil {
		t.Fatal(err)
	}
	if got := ids(le.Leases()); !slices.Equal(got, []ID{1, 2}) {
		t.Fatalf("leases %v after recover", got)
	}
	if le.Lookup(1) == old || le.Lookup(1).TTL() != 20 {
		t.Fatal("lease 1 not replaced by the snapshot's")
	}
	if le.GetLease(LeaseItem{"k"}) != NoLease || len(le.Lookup(1).Keys()) != 0 {
		t.Fatal("attachment survived recover")
	}
	if err := le.Attach(1, []LeaseItem{{"k"}}); err != nil {
		t.Fatal(err)
	}
	if le.GetLease(LeaseItem{"k"}) != 1 {
		t.Fatal("re-attach failed")
	}
}

func TestRecoverWhilePrimary(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
	le.Promote(time.Second)
	snapshot := newFakeTx()
	other, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	mustGrant(t, other, snapshot, 1, 20)
	if err := other.Checkpoint(snapshot, 1, 5); err != nil {
		t.Fatal(err)
	}
	if err := le.Recover(snapshot); err != nil {
		t.Fatal(err)
	}
	// The primary must not hold leases that never expire.
	if got := le.Lookup(1).Remaining(); got != 5*time.Second {
		t.Fatalf("Remaining = %v, want the checkpointed 5s", got)
	}
	clk.Advance(5 * time.Second)
	if got := expired(le); !slices.Equal(got, []ID{1}) {
		t.Fatalf("handed out %v", got)
	}
}

func TestRecoverCorrupt(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		val  []byte
	}{
		{"short key", []byte{1, 2, 3}, record{ID: 1, TTL: 5}.marshal()},
		{"id mismatch", leaseKey(7), record{ID: 8, TTL: 5}.marshal()},
		{"truncated varint", leaseKey(7), []byte{0x08, 0x80}},
		{"wrong wire type", leaseKey(7), []byte{0x0a, 0x01, 0x07}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
			tx := newFakeTx()
			mustGrant(t, le, tx, 1, 10)
			bad := newFakeTx()
			bad.records[string(leaseKey(2))] = record{ID: 2, TTL: 5}.marshal()
			bad.records[string(tt.key)] = tt.val
			if err := le.Recover(bad); err == nil {
				t.Fatal("recovered from a corrupt record")
			}
			if got := ids(le.Leases()); !slices.Equal(got, []ID{1}) {
				t.Fatalf("failed recover changed the leases: %v", got)
			}
		})
	}

	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	boom := errors.New("boom")
	if err := le.Recover(failingReadTx{boom}); !errors.Is(err, boom) {
		t.Fatalf("Recover: %v, want it to wrap %v", err, boom)
	}
}

type failingReadTx struct{ err error }

func (f failingReadTx) ForEach([]byte, func(k, v []byte) error) error { return f.err }

// TestRecoverWakesRenewals: a renewal waiting on an expired lease that a
// snapshot then replaces finds the new lease.
func TestRecoverWakesRenewals(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
	mustGrant(t, le, newFakeTx(), 1, 10)
	le.Promote(0)
	clk.Advance(10 * time.Second)
	type result struct {
		ttl int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		ttl, err := le.Renew(1)
		done <- result{ttl, err}
	}()
	snapshot := newFakeTx()
	other, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	mustGrant(t, other, snapshot, 1, 30)
	if err := le.Recover(snapshot); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.ttl != 30 {
		t.Fatalf("renew: %d, %v; want the recovered lease's 30", r.ttl, r.err)
	}
}
