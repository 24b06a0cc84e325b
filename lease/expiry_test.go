package lease

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestExpiry drives a primary through time, one tick per step.
func TestExpiry(t *testing.T) {
	type step struct {
		advance time.Duration
		do      func(t *testing.T, le *Lessor, tx Tx)
		want    []ID // handed out on this tick
	}
	renew := func(id ID) func(*testing.T, *Lessor, Tx) {
		return func(t *testing.T, le *Lessor, _ Tx) {
			if _, err := le.Renew(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	revoke := func(id ID) func(*testing.T, *Lessor, Tx) {
		return func(t *testing.T, le *Lessor, tx Tx) {
			if err := le.Revoke(tx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	promote := func(extend time.Duration) func(*testing.T, *Lessor, Tx) {
		return func(t *testing.T, le *Lessor, _ Tx) { le.Promote(extend) }
	}
	grant := func(id ID, ttl int64) func(*testing.T, *Lessor, Tx) {
		return func(t *testing.T, le *Lessor, tx Tx) { mustGrant(t, le, tx, id, ttl) }
	}
	demote := func(t *testing.T, le *Lessor, _ Tx) { le.Demote() }

	tests := []struct {
		name string
		ttls map[ID]int64 // granted before the first step, as a follower
		// keep: do not revoke what is handed out, as a server that lost
		// the revokes would not.
		keep  bool
		steps []step
	}{
		{
			name: "follower never expires",
			ttls: map[ID]int64{1: 5},
			steps: []step{
				{advance: time.Hour},
			},
		},
		{
			name: "expires after ttl once promoted",
			ttls: map[ID]int64{1: 10, 2: 20},
			steps: []step{
				{advance: time.Hour, do: promote(0)},
				{advance: 9 * time.Second},
				{advance: time.Second, want: []ID{1}},
				{advance: 9 * time.Second},
				{advance: time.Second, want: []ID{2}},
			},
		},
		{
			name: "promote extends",
			ttls: map[ID]int64{1: 10},
			steps: []step{
				{do: promote(3 * time.Second)},
				{advance: 12 * time.Second},
				{advance: time.Second, want: []ID{1}},
			},
		},
		{
			name: "renewal postpones",
			ttls: map[ID]int64{1: 10, 2: 10},
			steps: []step{
				{do: promote(0)},
				{advance: 8 * time.Second, do: renew(1)},
				{advance: 2 * time.Second, want: []ID{2}},
				{advance: 7 * time.Second},
				{advance: time.Second, want: []ID{1}},
			},
		},
		{
			name: "granted on the primary",
			steps: []step{
				{do: promote(0)},
				{do: grant(1, 5)},
				{advance: 5 * time.Second, want: []ID{1}},
			},
		},
		{
			name: "revoked before expiry",
			ttls: map[ID]int64{1: 5, 2: 5},
			steps: []step{
				{do: promote(0)},
				{do: revoke(1)},
				{advance: 5 * time.Second, want: []ID{2}},
			},
		},
		{
			name: "demote stops expiry",
			ttls: map[ID]int64{1: 5},
			steps: []step{
				{do: promote(0)},
				{advance: 4 * time.Second, do: demote},
				{advance: time.Hour},
				// A new promotion restarts the full TTL.
				{do: promote(0)},
				{advance: 4 * time.Second},
				{advance: time.Second, want: []ID{1}},
			},
		},
		{
			name: "unrevoked lease handed out again after the retry interval",
			ttls: map[ID]int64{1: 5},
			keep: true,
			steps: []step{
				{do: promote(0)},
				{advance: 5 * time.Second, want: []ID{1}},
				{},
				{advance: 2 * time.Second},
				{advance: time.Second, want: []ID{1}},
				{advance: 3 * time.Second, want: []ID{1}},
				{do: revoke(1)},
				{advance: time.Hour},
			},
		},
		{
			name: "demoted with an expired lease, promoted again",
			ttls: map[ID]int64{1: 5},
			keep: true,
			steps: []step{
				{do: promote(0)},
				{advance: 5 * time.Second, want: []ID{1}},
				{do: demote},
				{advance: time.Hour},
				{do: promote(time.Second)},
				{advance: 5 * time.Second},
				{advance: time.Second, want: []ID{1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, ExpiredLeasesRetryInterval: 3 * time.Second})
			tx := newFakeTx()
			for id, ttl := range tt.ttls {
				mustGrant(t, le, tx, id, ttl)
			}
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				if s.do != nil {
					s.do(t, le, tx)
				}
				got := expired(le)
				slices.Sort(got)
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d: handed out %v, want %v", i, got, s.want)
				}
				for _, id := range got {
					if !tt.keep {
						revoke(id)(t, le, tx)
					}
				}
			}
		})
	}
}

func TestDemoteMakesLeasesForever(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
	l := mustGrant(t, le, newFakeTx(), 1, 10)
	le.Promote(0)
	clk.Advance(4 * time.Second)
	if got := l.Remaining(); got != 6*time.Second {
		t.Fatalf("Remaining = %v, want 6s", got)
	}
	le.Demote()
	if got := l.Remaining(); got != time.Duration(math.MaxInt64) {
		t.Fatalf("Remaining after demote = %v, want forever", got)
	}
	if _, err := le.Renew(1); err != ErrNotPrimary {
		t.Fatalf("renew after demote: %v", err)
	}
}

func TestRevokeRateLimit(t *testing.T) {
	const rate = 10
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, LeaseRevokeRate: rate})
	tx := newFakeTx()
	le.Promote(0) // first, so that the leases are not spread out
	for id := ID(1); id <= 12; id++ {
		mustGrant(t, le, tx, id, 5)
	}
	clk.Advance(5 * time.Second)
	var all []ID
	for i, want := range []int{rate / 2, rate / 2, 2, 0} {
		got := expired(le)
		if len(got) != want {
			t.Fatalf("tick %d: %d leases handed out, want %d", i, len(got), want)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	if len(slices.Compact(all)) != 12 {
		t.Fatalf("handed out %v, want each of 12 leases once", all)
	}
}

// TestExpiredChannelFull: a batch the server is too busy to take is not
// lost; it is handed out again after the retry interval.
func TestExpiredChannelFull(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, ExpiredLeasesRetryInterval: time.Hour})
	tx := newFakeTx()
	le.Promote(0)
	n := cap(le.expiredC) + 1
	for i := 1; i <= n; i++ {
		mustGrant(t, le, tx, ID(i), int64(i))
	}
	// One lease expires per second; the channel fills up and the last
	// batch is dropped.
	for range n {
		clk.Advance(time.Second)
		le.RunOnce()
	}
	var got []ID
	for range cap(le.expiredC) {
		got = append(got, ids(<-le.ExpiredLeasesC())...)
	}
	if len(got) != n-1 || got[n-2] != ID(n-1) {
		t.Fatalf("got %v, want 1..%d", got, n-1)
	}
	if again := expired(le); len(again) != 0 {
		t.Fatalf("handed out %v before the retry interval", again)
	}
	clk.Advance(time.Hour)
	again := expired(le)
	slices.Sort(again)
	if len(again) != n || again[n-1] != ID(n) {
		t.Fatalf("after the retry interval: %v, want 1..%d", again, n)
	}
}

// TestPromoteSpreadsPileup: leases expiring together after a promotion
// are spread so that no second sees more than 3/4 of the revoke rate, no
// lease expires earlier than it would have, and the order is kept.
func TestPromoteSpreadsPileup(t *testing.T) {
	const rate = 10
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, LeaseRevokeRate: rate})
	tx := newFakeTx()
	for i := 1; i <= 100; i++ {
		mustGrant(t, le, tx, ID(2*i), 10)
		mustGrant(t, le, tx, ID(2*i+1), 11)
	}
	mustGrant(t, le, tx, 1000, 100) // far away: untouched
	start := clk.Now()
	le.Promote(0)

	perSecond := make(map[int64]int)
	for _, l := range le.Leases() {
		expiry := l.expiry()
		natural := start.Add(ttlDuration(l.TTL()))
		if expiry.Before(natural) {
			t.Fatalf("lease %v expires at +%v, before its TTL %d", l.ID, expiry.Sub(start), l.TTL())
		}
		if l.ID == 1000 && !expiry.Equal(natural) {
			t.Fatalf("lone lease moved to +%v", expiry.Sub(start))
		}
		if l.ID != 1000 {
			perSecond[int64(expiry.Sub(start)/time.Second)]++
		}
	}
	for s, n := range perSecond {
		if n > 3*rate/4 {
			t.Errorf("%d leases expire in second %d, want at most %d", n, s, 3*rate/4)
		}
	}
	// 200 leases at 7 a second from second 10: the last at about 38.
	if last := slices.Max(keys(perSecond)); last > 10+200/7+1 {
		t.Errorf("last expiry in second %d: spread too thin", last)
	}

	// Few leases: no spreading, even if they all expire at once.
	le2, clk2 := newTestLessor(t, Config{MinLeaseTTL: 1, LeaseRevokeRate: rate})
	for i := 1; i < rate; i++ {
		mustGrant(t, le2, tx, ID(i), 10)
	}
	le2.Promote(0)
	for _, l := range le2.Leases() {
		if want := clk2.Now().Add(10 * time.Second); !l.expiry().Equal(want) {
			t.Fatalf("lease %v moved by %v", l.ID, l.expiry().Sub(want))
		}
	}
}

func keys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestExpiryQueueStaysBounded: renewals leave stale entries behind (lazy
// deletion); they must not accumulate.
func TestExpiryQueueStaysBounded(t *testing.T) {
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1})
	tx := newFakeTx()
	const n = 10
	for i := 1; i <= n; i++ {
		mustGrant(t, le, tx, ID(i), 1000)
	}
	le.Promote(0)
	for range 10000 {
		clk.Advance(time.Millisecond)
		for i := 1; i <= n; i++ {
			if _, err := le.Renew(ID(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	le.mu.Lock()
	size := len(le.mu.expiryQueue)
	le.mu.Unlock()
	if limit := 2*n + compactQueueSlack + 1; size > limit {
		t.Fatalf("expiry queue holds %d entries for %d leases, want at most %d", size, n, limit)
	}
	// Still correct after all the compactions.
	clk.Advance(999 * time.Second)
	if got := expired(le); len(got) != 0 {
		t.Fatalf("handed out %v early", got)
	}
	clk.Advance(time.Second)
	if got := expired(le); len(got) != n {
		t.Fatalf("handed out %v, want all %d", got, n)
	}
}

// TestRunLoop: the loop started by New ticks on Config.Ticks.
func TestRunLoop(t *testing.T) {
	ticks := make(chan time.Time)
	le, clk := newTestLessor(t, Config{MinLeaseTTL: 1, Ticks: ticks})
	mustGrant(t, le, newFakeTx(), 1, 5)
	le.Promote(0)
	clk.Advance(5 * time.Second)
	ticks <- clk.Now()
	select {
	case ls := <-le.ExpiredLeasesC():
		if len(ls) != 1 || ls[0].ID != 1 {
			t.Fatalf("handed out %v", ids(ls))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not hand out the expired lease")
	}
}
