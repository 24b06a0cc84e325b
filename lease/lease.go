package lease

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// ID identifies a lease. Clients may choose any non-zero ID; the server
// picks one (NewID) when they pass NoLease.
type ID int64

// NoLease is the absence of a lease: a key put without one, or a
// LeaseGrant asking the server to choose the ID.
const NoLease ID = 0

// MaxLeaseTTL is the largest TTL Grant accepts, in seconds (etcd's).
const MaxLeaseTTL = 9_000_000_000

// String formats the ID as etcd's logs and etcdctl do: 16 hex digits.
func (id ID) String() string { return fmt.Sprintf("%016x", int64(id)) }

// NewID returns the ID for a LeaseGrant whose client left the ID to the
// server, from the server's request ID generator: the proposing member
// picks it before proposing, so that every member applies the same ID.
// Like etcd, only positive IDs are generated.
func NewID(next func() uint64) ID {
	for {
		if id := ID(next() & math.MaxInt64); id != NoLease {
			return id
		}
	}
}

// LeaseItem is something attached to a lease: a key of mvcc.
type LeaseItem struct {
	Key string
}

// forever is the expiry of a lease that does not expire: every lease of a
// lessor that is not primary.
var forever time.Time

// Lease is a lease. A *Lease handed out by the lessor stays valid after
// the lease is revoked (it simply no longer changes); its methods are
// safe to call from any goroutine.
type Lease struct {
	ID ID
	// ttl is the granted TTL in seconds, at least the lessor's minimum.
	ttl   int64
	clock Clock
	// revoked is closed when the lease is revoked, or dropped by Recover:
	// a Renew waiting for an expired lease to go away waits on it.
	revoked chan struct{}

	mu struct {
		sync.RWMutex
		// remainingTTL is the last checkpointed remaining TTL in seconds,
		// 0 if none: a newly promoted lessor starts the lease from it.
		remainingTTL int64
		expiry       time.Time
		items        map[LeaseItem]struct{}
	}

	// Owned by the lessor and guarded by its mu: the sequence numbers of
	// the lease's live entries in the lessor's queues (see leaseQueue).
	expirySeq     uint64
	checkpointSeq uint64
}

func newLease(id ID, ttl, remainingTTL int64, clock Clock) *Lease {
	l := &Lease{ID: id, ttl: ttl, clock: clock, revoked: make(chan struct{})}
	l.mu.remainingTTL = remainingTTL
	l.mu.items = make(map[LeaseItem]struct{})
	return l
}

// TTL is the granted TTL in seconds (LeaseTimeToLive's GrantedTTL).
func (l *Lease) TTL() int64 { return l.ttl }

// Remaining is the time left before the lease expires; math.MaxInt64 on a
// lessor that is not primary, where leases do not expire (the server asks
// the leader instead, as etcd does).
func (l *Lease) Remaining() time.Duration {
	l.mu.RLock()
	expiry := l.mu.expiry
	l.mu.RUnlock()
	if expiry.IsZero() {
		return time.Duration(math.MaxInt64)
	}
	return expiry.Sub(l.clock.Now())
}

// RemainingTTL is Remaining in whole seconds, truncated: the TTL field of
// etcd's LeaseTimeToLive response. It is negative for an expired lease
// not yet revoked.
func (l *Lease) RemainingTTL() int64 { return int64(l.Remaining().Seconds()) }

// CheckpointedTTL is the remaining TTL last persisted by a checkpoint, in
// seconds; 0 if none (or cleared by a renewal).
func (l *Lease) CheckpointedTTL() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.remainingTTL
}

// Keys returns the keys attached to the lease, sorted.
func (l *Lease) Keys() []string {
	l.mu.RLock()
	keys := make([]string, 0, len(l.mu.items))
	for it := range l.mu.items {
		keys = append(keys, it.Key)
	}
	l.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

// startTTL is the TTL a promotion starts the lease with: the checkpointed
// remaining TTL if there is one, the full TTL otherwise.
func (l *Lease) startTTL() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.remainingTTL > 0 {
		return l.mu.remainingTTL
	}
	return l.ttl
}

func (l *Lease) expiry() time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.expiry
}

func (l *Lease) setExpiry(t time.Time) {
	l.mu.Lock()
	l.mu.expiry = t
	l.mu.Unlock()
}

// expiredAt reports whether the lease has expired by now. A lease that
// does not expire never has.
func (l *Lease) expiredAt(now time.Time) bool {
	e := l.expiry()
	return !e.IsZero() && !now.Before(e)
}

func (l *Lease) record() record {
	return record{ID: int64(l.ID), TTL: l.ttl, RemainingTTL: l.CheckpointedTTL()}
}

func ttlDuration(seconds int64) time.Duration { return time.Duration(seconds) * time.Second }
