package lease

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// nopTx is a Tx that does nothing, to measure the lessor alone.
type nopTx struct{}

func (nopTx) DeleteRange(key, end []byte) (int64, int64) { return 1, 0 }
func (nopTx) UnsafePut(b, k, v []byte) error             { return nil }
func (nopTx) UnsafeDelete(b, k []byte) error             { return nil }

// BenchmarkAttach: attaching and detaching a key costs the same whether
// the lease holds one key or a hundred thousand. ("elsewhere" puts the
// existing keys on another lease: the lessor's key map is as large, but
// the lease is empty. Equal figures for "on lease" and "elsewhere" show
// that what remains of the growth is the memory hierarchy of larger maps,
// not work proportional to the lease's keys.)
func BenchmarkAttach(b *testing.B) {
	for _, existing := range []int{1, 1000, 100_000} {
		for _, where := range []string{"on lease", "elsewhere"} {
			b.Run(fmt.Sprintf("keys=%d/%s", existing, where), func(b *testing.B) {
				le, _ := newTestLessor(b, Config{MinLeaseTTL: 1})
				mustGrant(b, le, nopTx{}, 1, 60)
				mustGrant(b, le, nopTx{}, 2, 60)
				items := make([]LeaseItem, existing)
				for i := range items {
					items[i] = LeaseItem{Key: "existing/" + strconv.Itoa(i)}
				}
				holder := ID(1)
				if where == "elsewhere" {
					holder = 2
				}
				if err := le.Attach(holder, items); err != nil {
					b.Fatal(err)
				}
				keys := make([][]LeaseItem, 1024)
				for i := range keys {
					keys[i] = []LeaseItem{{Key: "new/" + strconv.Itoa(i)}}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					it := keys[i%len(keys)]
					if err := le.Attach(1, it); err != nil {
						b.Fatal(err)
					}
					if err := le.Detach(1, it); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	for _, primary := range []bool{false, true} {
		b.Run(fmt.Sprintf("primary=%v", primary), func(b *testing.B) {
			le, _ := newTestLessor(b, Config{MinLeaseTTL: 1})
			if primary {
				le.Promote(0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ID(i + 1)
				if _, err := le.Grant(nopTx{}, id, 60); err != nil {
					b.Fatal(err)
				}
				if err := le.Revoke(nopTx{}, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRenew renews leases round-robin, as keepalives do, with the
// clock moving so that every renewal supersedes a queue entry.
func BenchmarkRenew(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
			le, clk := newTestLessor(b, Config{MinLeaseTTL: 1})
			le.Promote(0)
			for i := 1; i <= n; i++ {
				mustGrant(b, le, nopTx{}, ID(i), 3600)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%n == 0 {
					clk.Advance(1)
				}
				if _, err := le.Renew(ID(i%n + 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFindExpired measures one tick handing out a full batch.
func BenchmarkFindExpired(b *testing.B) {
	const n = 100_000
	le, clk := newTestLessor(b, Config{MinLeaseTTL: 1, LeaseRevokeRate: 2 * n})
	le.Promote(0)
	for i := 1; i <= n; i++ {
		mustGrant(b, le, nopTx{}, ID(i), int64(1+i%600))
	}
	clk.Advance(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Past the retry interval: every lease is due again.
		clk.Advance(DefaultExpiredLeasesRetryInterval)
		le.mu.Lock()
		ls := le.findExpiredLocked(clk.Now(), 1000)
		le.mu.Unlock()
		if len(ls) != 1000 {
			b.Fatalf("found %d", len(ls))
		}
	}
}
