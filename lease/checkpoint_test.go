package lease

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// raftLoopback is a checkpointer that "commits" at once: it applies each
// checkpoint to every lessor, as raft would on every member.
type raftLoopback struct {
	mu      sync.Mutex
	tx      Tx
	lessors []*Lessor
	calls   [][]LeaseCheckpoint
	fail    error
}

func (r *raftLoopback) checkpoint(ctx context.Context, cps []LeaseCheckpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, slices.Clone(cps))
	if r.fail != nil {
		return r.fail
	}
	for _, le := range r.lessors {
		for _, c := range cps {
			if err := le.Checkpoint(r.tx, c.ID, c.RemainingTTL); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *raftLoopback) takeCalls() [][]LeaseCheckpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func TestCheckpointScheduling(t *testing.T) {
	const interval = 5 * time.Minute
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: interval})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)

	mustGrant(t, le, tx, 1, 3600) // long: checkpointed
	mustGrant(t, le, tx, 2, 300)  // not longer than the interval: never
	le.Promote(0)
	tx.takeOps()

	clk.Advance(interval - time.Second)
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("checkpointed early: %v", c)
	}
	clk.Advance(time.Second)
	le.RunOnce()
	want := [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 3300}}}
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}
	if got := le.Lookup(1).CheckpointedTTL(); got != 3300 {
		t.Fatalf("CheckpointedTTL = %d, want 3300", got)
	}
	if r, _ := tx.record(t, 1); r != (record{ID: 1, TTL: 3600, RemainingTTL: 3300}) {
		t.Fatalf("persisted %+v", r)
	}
	// Applying the checkpoint scheduled the next one.
	clk.Advance(interval)
	le.RunOnce()
	want = [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 3000}}}
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}

	// A follower checkpoints nothing.
	le.Demote()
	clk.Advance(time.Hour)
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("follower checkpointed %v", c)
	}
}

func TestCheckpointRemainingRoundsUp(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)
	le.Promote(0)
	mustGrant(t, le, tx, 1, 600)
	clk.Advance(time.Minute + 500*time.Millisecond)
	le.RunOnce()
	want := [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 540}}} // 539.5s left
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}
}

// TestCheckpointSkipsFreshlyRenewed: a lease renewed within the last
// second has nothing worth saving, but is looked at again later.
func TestCheckpointSkipsFreshlyRenewed(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)
	le.Promote(0)
	mustGrant(t, le, tx, 1, 600)
	clk.Advance(time.Minute)
	if _, err := le.Renew(1); err != nil {
		t.Fatal(err)
	}
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("checkpointed a just-renewed lease: %v", c)
	}
	clk.Advance(time.Minute)
	le.RunOnce()
	want := [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 540}}}
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}
}

func TestCheckpointFailureRetried(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}, fail: errors.New("no leader")}
	le.SetCheckpointer(raft.checkpoint)
	le.Promote(0)
	mustGrant(t, le, tx, 1, 600)
	clk.Advance(time.Minute)
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 1 {
		t.Fatalf("checkpoint calls %v, want one", c)
	}
	raft.fail = nil
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("retried at once: %v", c)
	}
	clk.Advance(time.Minute)
	le.RunOnce()
	want := [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 480}}}
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}
}

func TestCheckpointBatches(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)
	le.Promote(0)
	const n = maxCheckpointBatch + 10
	for i := 1; i <= n; i++ {
		mustGrant(t, le, tx, ID(i), 600)
	}
	clk.Advance(time.Minute)
	le.RunOnce()
	calls := raft.takeCalls()
	if len(calls) != 2 || len(calls[0]) != maxCheckpointBatch || len(calls[1]) != 10 {
		t.Fatalf("%d calls, want batches of %d and 10", len(calls), maxCheckpointBatch)
	}
}

func TestCheckpointUnknownLeaseIgnored(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	if err := le.Checkpoint(tx, 42, 10); err != nil {
		t.Fatal(err)
	}
	if ops := tx.takeOps(); len(ops) != 0 {
		t.Fatalf("wrote %q", ops)
	}
}

// TestRenewClearsCheckpoint: the first renewal after a checkpoint clears
// it through raft before succeeding, so that a new leader will not start
// the lease from the old, shorter TTL.
func TestRenewClearsCheckpoint(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)
	le.Promote(0)
	l := mustGrant(t, le, tx, 1, 600)

	// No checkpoint yet: a renewal costs no raft round.
	if _, err := le.Renew(1); err != nil {
		t.Fatal(err)
	}
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("renew without a checkpoint proposed %v", c)
	}

	clk.Advance(time.Minute)
	le.RunOnce()
	raft.takeCalls()
	if l.CheckpointedTTL() != 540 {
		t.Fatalf("CheckpointedTTL = %d, want 540", l.CheckpointedTTL())
	}
	ttl, err := le.Renew(1)
	if err != nil || ttl != 600 {
		t.Fatalf("Renew = %d, %v", ttl, err)
	}
	want := [][]LeaseCheckpoint{{{ID: 1, RemainingTTL: 0}}}
	if c := raft.takeCalls(); !slices.EqualFunc(c, want, slices.Equal) {
		t.Fatalf("checkpoints %v, want %v", c, want)
	}
	if l.CheckpointedTTL() != 0 || l.Remaining() != 600*time.Second {
		t.Fatalf("after renew: checkpointed %d, remaining %v", l.CheckpointedTTL(), l.Remaining())
	}
	if r, _ := tx.record(t, 1); r != (record{ID: 1, TTL: 600}) {
		t.Fatalf("persisted %+v", r)
	}

	// The clearing proposal fails: so does the renewal.
	le.Checkpoint(tx, 1, 100)
	raft.fail = ErrNotPrimary
	if _, err := le.Renew(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew with a failing checkpointer: %v", err)
	}
}

// TestCheckpointSurvivesLeaderChange: lessor A (the leader) checkpoints a
// lease; lessor B, a member restarted from the same backend, becomes
// leader and starts the lease from the checkpointed TTL, not the full one.
func TestCheckpointSurvivesLeaderChange(t *testing.T) {
	be := openBackend(t, "")
	clk := newFakeClock()
	a, _ := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute, Clock: clk})
	a.SetCheckpointer(func(ctx context.Context, cps []LeaseCheckpoint) error {
		inBatch(t, be, func(tx *backendTx) {
			for _, c := range cps {
				if err := a.Checkpoint(tx, c.ID, c.RemainingTTL); err != nil {
					t.Fatal(err)
				}
			}
		})
		return nil
	})
	inBatch(t, be, func(tx *backendTx) {
		mustGrant(t, a, tx, 1, 600)
		mustGrant(t, a, tx, 2, 30) // too short to checkpoint
	})
	a.Promote(0)
	clk.Advance(3 * time.Minute) // three checkpoints: the last says 420
	for range 3 {
		a.RunOnce()
	}
	a.Demote()
	if err := be.ForceCommit(); err != nil {
		t.Fatal(err)
	}

	b, _ := newTestLessor(t, Config{MinLeaseTTL: 1, Clock: clk})
	rt := be.ReadTx()
	err := b.Recover(rt)
	rt.End()
	if err != nil {
		t.Fatal(err)
	}
	const extend = 2 * time.Second
	b.Promote(extend)
	if got, want := b.Lookup(1).Remaining(), 420*time.Second+extend; got != want {
		t.Fatalf("lease 1 remaining %v after the leader change, want %v", got, want)
	}
	if got, want := b.Lookup(2).Remaining(), 30*time.Second+extend; got != want {
		t.Fatalf("lease 2 remaining %v, want %v", got, want)
	}
}

func TestSetCheckpointerWhilePrimary(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, CheckpointInterval: time.Minute})
	tx := newFakeTx()
	le.Promote(0)
	mustGrant(t, le, tx, 1, 600)
	raft := &raftLoopback{tx: tx, lessors: []*Lessor{le}}
	le.SetCheckpointer(raft.checkpoint)
	clk.Advance(time.Minute)
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 1 {
		t.Fatalf("checkpoint calls %v, want one", c)
	}
	le.SetCheckpointer(nil)
	clk.Advance(time.Minute)
	le.RunOnce()
	if c := raft.takeCalls(); len(c) != 0 {
		t.Fatalf("checkpointed with checkpoints off: %v", c)
	}
}

// TestRenewRacesClearingCheckpoint: the lease is revoked, or the lessor
// demoted, while a renewal waits for its checkpoint to be cleared.
func TestRenewRacesClearingCheckpoint(t *testing.T) {
	tests := []struct {
		name      string
		meanwhile func(le *Lessor, tx Tx)
		want      error
	}{
		{"revoked", func(le *Lessor, tx Tx) { le.Revoke(tx, 1) }, ErrLeaseNotFound},
		{"demoted", func(le *Lessor, tx Tx) { le.Demote() }, ErrNotPrimary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
			tx := newFakeTx()
			le.Promote(0)
			mustGrant(t, le, tx, 1, 600)
			if err := le.Checkpoint(tx, 1, 300); err != nil {
				t.Fatal(err)
			}
			le.SetCheckpointer(func(ctx context.Context, cps []LeaseCheckpoint) error {
				tt.meanwhile(le, tx)
				return nil
			})
			if _, err := le.Renew(1); !errors.Is(err, tt.want) {
				t.Fatalf("renew: %v, want %v", err, tt.want)
			}
		})
	}
}
