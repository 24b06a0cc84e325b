package lease

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestGrant(t *testing.T) {
	const minTTL = 5
	tests := []struct {
		name    string
		id      ID
		ttl     int64
		wantTTL int64
		wantErr error
	}{
		{name: "ttl kept", id: 1, ttl: 60, wantTTL: 60},
		{name: "ttl at minimum", id: 2, ttl: minTTL, wantTTL: minTTL},
		{name: "ttl below minimum raised", id: 3, ttl: 1, wantTTL: minTTL},
		{name: "zero ttl raised", id: 4, ttl: 0, wantTTL: minTTL},
		{name: "negative ttl raised", id: 5, ttl: -10, wantTTL: minTTL},
		{name: "negative id", id: -7, ttl: 10, wantTTL: 10},
		{name: "max ttl", id: 6, ttl: MaxLeaseTTL, wantTTL: MaxLeaseTTL},
		{name: "too large ttl", id: 7, ttl: MaxLeaseTTL + 1, wantErr: ErrLeaseTTLTooLarge},
		{name: "no lease id", id: NoLease, ttl: 10, wantErr: ErrLeaseNotFound},
		{name: "existing id", id: 100, ttl: 10, wantErr: ErrLeaseExists},
	}
	le, _ := newTestLessor(t, Config{MinLeaseTTL: minTTL})
	tx := newFakeTx()
	mustGrant(t, le, tx, 100, 30)
	tx.takeOps()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := le.Grant(tx, tt.id, tt.ttl)
			wantErr(t, "grant", err, tt.wantErr)
			ops := tx.takeOps()
			if tt.wantErr != nil {
				if l != nil || len(ops) != 0 {
					t.Fatalf("failed grant returned %v and wrote %v", l, ops)
				}
				if tt.id == 100 && le.Lookup(100).TTL() != 30 {
					t.Fatal("failed grant replaced the existing lease")
				}
				return
			}
			if l.ID != tt.id || l.TTL() != tt.wantTTL {
				t.Fatalf("lease %v ttl %d, want %v ttl %d", l.ID, l.TTL(), tt.id, tt.wantTTL)
			}
			if le.Lookup(tt.id) != l {
				t.Fatal("Lookup does not return the granted lease")
			}
			if r, ok := tx.record(t, tt.id); !ok || r != (record{ID: int64(tt.id), TTL: tt.wantTTL}) {
				t.Fatalf("persisted %+v (%v), want ID %d TTL %d", r, ok, tt.id, tt.wantTTL)
			}
			// Not primary: the lease does not expire.
			if l.Remaining() != time.Duration(math.MaxInt64) {
				t.Fatalf("Remaining on a follower = %v, want forever", l.Remaining())
			}
		})
	}
}

func TestMinLeaseTTLDefaultsToOneSecond(t *testing.T) {
	le, _ := newTestLessor(t, Config{})
	if l := mustGrant(t, le, newFakeTx(), 1, 0); l.TTL() != 1 {
		t.Fatalf("TTL %d, want 1", l.TTL())
	}
}

func TestGrantPersistFailure(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	boom := errors.New("boom")
	tx.failPut = boom
	if _, err := le.Grant(tx, 1, 10); !errors.Is(err, boom) {
		t.Fatalf("error %v, want it to wrap %v", err, boom)
	}
	if le.Lookup(1) != nil {
		t.Fatal("a lease whose record was not written exists")
	}
}

func TestMinLeaseTTLFor(t *testing.T) {
	tests := []struct {
		ticks int
		tick  time.Duration
		want  int64
	}{
		{10, 100 * time.Millisecond, 2}, // etcd's defaults: 1.5s → 2
		{10, time.Second, 15},
		{5, 100 * time.Millisecond, 1},   // 7 whole ticks: 0.7s → 1
		{3, 333 * time.Millisecond, 2},   // 4 ticks: 1.332s → 2
		{20, 500 * time.Millisecond, 15}, // 15s exactly
	}
	for _, tt := range tests {
		if got := MinLeaseTTLFor(tt.ticks, tt.tick); got != tt.want {
			t.Errorf("MinLeaseTTLFor(%d, %v) = %d, want %d", tt.ticks, tt.tick, got, tt.want)
		}
	}
}

func TestNewID(t *testing.T) {
	seq := []uint64{0, 1 << 63, 1<<63 | 5}
	next := func() uint64 { v := seq[0]; seq = seq[1:]; return v }
	if id := NewID(next); id != 5 {
		t.Fatalf("NewID = %v, want 5 (zero and sign bit skipped)", id)
	}
	if s := ID(0x694d7c1f3c2a8b01).String(); s != "694d7c1f3c2a8b01" {
		t.Fatalf("String = %q", s)
	}
}

func TestRevoke(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	mustGrant(t, le, tx, 1, 10)
	mustGrant(t, le, tx, 2, 10)
	keys := []string{"foo", "bar", "zed", "abc"}
	for _, k := range keys {
		if err := le.Attach(1, []LeaseItem{{k}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := le.Attach(2, []LeaseItem{{"other"}}); err != nil {
		t.Fatal(err)
	}
	l := le.Lookup(1)
	tx.takeOps()

	if err := le.Revoke(tx, 1); err != nil {
		t.Fatal(err)
	}
	want := []string{"deleterange abc", "deleterange bar", "deleterange foo", "deleterange zed", "delete 1"}
	if ops := tx.takeOps(); !slices.Equal(ops, want) {
		t.Fatalf("revoke did %q, want %q", ops, want)
	}
	if le.Lookup(1) != nil {
		t.Fatal("revoked lease still there")
	}
	for _, k := range keys {
		if id := le.GetLease(LeaseItem{k}); id != NoLease {
			t.Fatalf("key %q still attached to %v", k, id)
		}
	}
	if id := le.GetLease(LeaseItem{"other"}); id != 2 {
		t.Fatalf("other lease's key attached to %v", id)
	}
	select {
	case <-l.revoked:
	default:
		t.Fatal("revoked channel not closed")
	}
	wantErr(t, "revoke again", le.Revoke(tx, 1), ErrLeaseNotFound)
	wantErr(t, "revoke unknown", le.Revoke(tx, 99), ErrLeaseNotFound)
	if ops := tx.takeOps(); len(ops) != 0 {
		t.Fatalf("failed revokes wrote %q", ops)
	}
}

// TestRevokeWithDetachingTx is what mvcc does: it detaches each key it
// deletes, from inside DeleteRange. The lessor must not hold its lock
// then.
func TestRevokeWithDetachingTx(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	mustGrant(t, le, tx, 1, 10)
	if err := le.Attach(1, []LeaseItem{{"a"}, {"b"}}); err != nil {
		t.Fatal(err)
	}
	tx.onDelete = func(key []byte) {
		it := LeaseItem{string(key)}
		if id := le.GetLease(it); id != 1 {
			t.Errorf("deleting %q attached to %v", key, id)
		}
		if err := le.Detach(1, []LeaseItem{it}); err != nil {
			t.Error(err)
		}
	}
	if err := le.Revoke(tx, 1); err != nil {
		t.Fatal(err)
	}
	want := []string{"put 1", "deleterange a", "deleterange b", "delete 1"}
	if got := tx.takeOps(); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
	if le.GetLease(LeaseItem{"a"}) != NoLease {
		t.Fatal("key still attached")
	}
}

func TestAttachDetach(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	l1 := mustGrant(t, le, tx, 1, 10)
	l2 := mustGrant(t, le, tx, 2, 10)

	wantErr(t, "attach to unknown", le.Attach(3, []LeaseItem{{"x"}}), ErrLeaseNotFound)
	wantErr(t, "detach from unknown", le.Detach(3, []LeaseItem{{"x"}}), ErrLeaseNotFound)
	if le.GetLease(LeaseItem{"x"}) != NoLease {
		t.Fatal("failed attach attached")
	}

	steps := []struct {
		op      string // attach or detach
		id      ID
		keys    []string
		wantL1  []string
		wantL2  []string
		wantMap map[string]ID
	}{
		{"attach", 1, []string{"c", "a", "b"}, []string{"a", "b", "c"}, []string{}, map[string]ID{"a": 1, "b": 1, "c": 1}},
		{"attach", 1, []string{"a"}, []string{"a", "b", "c"}, []string{}, map[string]ID{"a": 1}},
		{"detach", 1, []string{"b", "nope"}, []string{"a", "c"}, []string{}, map[string]ID{"b": NoLease, "a": 1}},
		// A key moving to another lease leaves the first one.
		{"attach", 2, []string{"a"}, []string{"c"}, []string{"a"}, map[string]ID{"a": 2}},
		// Detaching from the old lease must not detach it from the new.
		{"detach", 1, []string{"a"}, []string{"c"}, []string{"a"}, map[string]ID{"a": 2}},
		{"detach", 2, []string{"a"}, []string{"c"}, []string{}, map[string]ID{"a": NoLease}},
	}
	for i, s := range steps {
		items := make([]LeaseItem, len(s.keys))
		for j, k := range s.keys {
			items[j] = LeaseItem{k}
		}
		var err error
		if s.op == "attach" {
			err = le.Attach(s.id, items)
		} else {
			err = le.Detach(s.id, items)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := l1.Keys(); !slices.Equal(got, s.wantL1) {
			t.Fatalf("step %d: lease 1 keys %q, want %q", i, got, s.wantL1)
		}
		if got := l2.Keys(); !slices.Equal(got, s.wantL2) {
			t.Fatalf("step %d: lease 2 keys %q, want %q", i, got, s.wantL2)
		}
		for k, want := range s.wantMap {
			if got := le.GetLease(LeaseItem{k}); got != want {
				t.Fatalf("step %d: GetLease(%q) = %v, want %v", i, k, got, want)
			}
		}
	}
}

func TestLeasesSortedByID(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	if got := le.Leases(); len(got) != 0 {
		t.Fatalf("new lessor has %v", ids(got))
	}
	for _, id := range []ID{5, -3, 100, 2, math.MaxInt64, math.MinInt64} {
		mustGrant(t, le, tx, id, 10)
	}
	if err := le.Revoke(tx, 100); err != nil {
		t.Fatal(err)
	}
	want := []ID{math.MinInt64, -3, 2, 5, math.MaxInt64}
	if got := ids(le.Leases()); !slices.Equal(got, want) {
		t.Fatalf("Leases() = %v, want %v", got, want)
	}
	if le.Lookup(100) != nil || le.Lookup(7) != nil {
		t.Fatal("Lookup of an absent lease returned one")
	}
}

func TestRenew(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	l := mustGrant(t, le, tx, 1, 10)

	if _, err := le.Renew(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew on a follower: %v, want %v", err, ErrNotPrimary)
	}
	le.Promote(0)
	clk.Advance(7 * time.Second)
	if got := l.RemainingTTL(); got != 3 {
		t.Fatalf("RemainingTTL = %d, want 3", got)
	}
	ttl, err := le.Renew(1)
	if err != nil || ttl != 10 {
		t.Fatalf("Renew = %d, %v; want 10", ttl, err)
	}
	if got := l.Remaining(); got != 10*time.Second {
		t.Fatalf("Remaining after renew = %v, want 10s", got)
	}
	if _, err := le.Renew(2); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("renew unknown: %v", err)
	}
	if ops := tx.takeOps(); len(ops) != 1 {
		t.Fatalf("renew wrote to the tx: %q", ops)
	}
}

// TestRenewExpired: a lease past its expiry cannot be renewed; the
// renewal waits for its fate.
func TestRenewExpired(t *testing.T) {
	tests := []struct {
		name string
		then func(le *Lessor, tx Tx) error
		want error
	}{
		{"revoked", func(le *Lessor, tx Tx) error { return le.Revoke(tx, 1) }, ErrLeaseNotFound},
		{"demoted", func(le *Lessor, tx Tx) error { le.Demote(); return nil }, ErrNotPrimary},
		{"stopped", func(le *Lessor, tx Tx) error { le.Stop(); return nil }, ErrNotPrimary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
			tx := newFakeTx()
			mustGrant(t, le, tx, 1, 10)
			le.Promote(0)
			clk.Advance(10 * time.Second)
			errc := make(chan error, 1)
			go func() {
				_, err := le.Renew(1)
				errc <- err
			}()
			if err := tt.then(le, tx); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, tt.want) {
				t.Fatalf("renew: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStopIsIdempotent(t *testing.T) {
	le := New(Config{})
	le.Stop()
	le.Stop()
}
