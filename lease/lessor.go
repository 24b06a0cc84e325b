package lease

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Defaults, as etcd's.
const (
	DefaultCheckpointInterval         = 5 * time.Minute
	DefaultExpiredLeasesRetryInterval = 3 * time.Second
	// DefaultLeaseRevokeRate is the most expired leases handed out for
	// revocation per second, so that a mass expiry (after a long leader
	// outage, say) does not flood raft with revokes.
	DefaultLeaseRevokeRate = 1000
	// TickInterval is how often the primary looks for expired leases and
	// due checkpoints.
	TickInterval = 500 * time.Millisecond
)

// Clock is the lessor's source of time; tests use a fake one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Logger is the lessor's logger: structured, message plus key-value
// pairs. *slog.Logger is one; a zap logger fits through zapslog.
type Logger interface {
	Info(msg string, keysAndValues ...any)
	Warn(msg string, keysAndValues ...any)
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any) {}
func (nopLogger) Warn(string, ...any) {}

// Config configures a lessor. Zero values mean etcd's defaults.
type Config struct {
	// MinLeaseTTL is the shortest TTL granted, in seconds: shorter
	// requests are raised to it, so that a lease outlives a leader
	// election. See MinLeaseTTLFor. Values below 1 mean 1.
	MinLeaseTTL int64
	// CheckpointInterval is how often the primary checkpoints a lease's
	// remaining TTL (when a checkpointer is set); leases whose TTL is not
	// longer than it are never checkpointed.
	CheckpointInterval time.Duration
	// ExpiredLeasesRetryInterval is how long an expired lease handed out
	// on ExpiredLeasesC may stay unrevoked before it is handed out again.
	ExpiredLeasesRetryInterval time.Duration
	// LeaseRevokeRate is the most leases handed out per second on
	// ExpiredLeasesC (half of it per tick).
	LeaseRevokeRate int
	// Clock defaults to the wall clock.
	Clock Clock
	// Logger defaults to discarding.
	Logger Logger
	// Ticks, if set, drives the lessor's loop instead of a TickInterval
	// ticker. Tests pass a channel they control, or never send on, and
	// call RunOnce themselves.
	Ticks <-chan time.Time
}

// MinLeaseTTLFor returns etcd's minimum lease TTL for a raft election
// timeout of electionTicks ticks of tickInterval: 1.5 election timeouts
// (in whole ticks), rounded up to seconds. A lease shorter than that could
// expire during the election that follows a leader's failure.
func MinLeaseTTLFor(electionTicks int, tickInterval time.Duration) int64 {
	d := time.Duration(3*electionTicks/2) * tickInterval
	return int64(math.Ceil(d.Seconds()))
}

// LeaseCheckpoint is the remaining TTL of a lease to persist: one element
// of etcd's LeaseCheckpointRequest.
type LeaseCheckpoint struct {
	ID           ID
	RemainingTTL int64
}

// Checkpointer proposes checkpoints through raft (as an
// InternalRaftRequest with a LeaseCheckpointRequest, applied with
// Lessor.Checkpoint on every member) and returns once they are applied
// locally, or with an error (ErrNotPrimary if this member is no longer
// the leader, or ctx's). It must not call the lessor except through the
// apply path.
type Checkpointer func(ctx context.Context, cps []LeaseCheckpoint) error

// Lessor owns the leases; see the package documentation.
type Lessor struct {
	minTTL             int64
	checkpointInterval time.Duration
	retryInterval      time.Duration
	revokeRate         int
	clock              Clock
	lg                 Logger

	expiredC chan []*Lease
	// ctx is cancelled by Stop: checkpointer calls made by the lessor use
	// it.
	ctx    context.Context
	cancel context.CancelFunc
	stopc  chan struct{}
	donec  chan struct{}
	once   sync.Once

	mu struct {
		sync.RWMutex
		leases map[ID]*Lease
		// items maps each attached key to its lease.
		items map[LeaseItem]ID
		// demotec is non-nil while the lessor is primary, and closed when
		// it is demoted.
		demotec         chan struct{}
		checkpointer    Checkpointer
		expiryQueue     leaseQueue
		checkpointQueue leaseQueue
	}
}

// New returns a lessor with no leases, not primary, and starts its loop;
// Stop it when done. Load the persisted leases with Recover.
func New(cfg Config) *Lessor {
	le := &Lessor{
		minTTL:             max(cfg.MinLeaseTTL, 1),
		checkpointInterval: cfg.CheckpointInterval,
		retryInterval:      cfg.ExpiredLeasesRetryInterval,
		revokeRate:         cfg.LeaseRevokeRate,
		clock:              cfg.Clock,
		lg:                 cfg.Logger,
		// A small buffer so that a busy receiver rarely makes the lessor
		// skip a tick's batch (skipped leases are re-sent after the retry
		// interval anyway).
		expiredC: make(chan []*Lease, 16),
		stopc:    make(chan struct{}),
		donec:    make(chan struct{}),
	}
	if le.checkpointInterval <= 0 {
		le.checkpointInterval = DefaultCheckpointInterval
	}
	if le.retryInterval <= 0 {
		le.retryInterval = DefaultExpiredLeasesRetryInterval
	}
	if le.revokeRate <= 0 {
		le.revokeRate = DefaultLeaseRevokeRate
	}
	if le.clock == nil {
		le.clock = realClock{}
	}
	if le.lg == nil {
		le.lg = nopLogger{}
	}
	le.ctx, le.cancel = context.WithCancel(context.Background())
	le.mu.leases = make(map[ID]*Lease)
	le.mu.items = make(map[LeaseItem]ID)
	go le.run(cfg.Ticks)
	return le
}

// Stop stops the lessor's loop and wakes blocked renewals; it is
// idempotent.
func (le *Lessor) Stop() {
	le.once.Do(func() {
		le.cancel()
		close(le.stopc)
	})
	<-le.donec
}

// Grant creates lease id with ttl seconds (raised to the minimum TTL) and
// persists it in tx. On the primary the lease starts expiring at once;
// elsewhere it waits for a promotion.
func (le *Lessor) Grant(tx Tx, id ID, ttl int64) (*Lease, error) {
	if id == NoLease {
		return nil, ErrLeaseNotFound
	}
	if ttl > MaxLeaseTTL {
		return nil, ErrLeaseTTLTooLarge
	}
	ttl = max(ttl, le.minTTL)

	le.mu.Lock()
	defer le.mu.Unlock()
	if _, ok := le.mu.leases[id]; ok {
		return nil, ErrLeaseExists
	}
	l := newLease(id, ttl, 0, le.clock)
	if err := putRecord(tx, l.record()); err != nil {
		return nil, err
	}
	le.mu.leases[id] = l
	if le.isPrimaryLocked() {
		now := le.clock.Now()
		le.startExpiryLocked(l, now.Add(ttlDuration(ttl)))
		le.scheduleCheckpointLocked(l, now)
	}
	ttlHist.Observe(float64(ttl))
	grantedCounter.Inc()
	return l, nil
}

// Revoke deletes lease id: each attached key with tx.DeleteRange(key,
// nil), in key order (so that every member writes the same revisions),
// then the lease record. A Renew waiting on the expired lease returns
// ErrLeaseNotFound. Should the record's deletion fail, the lease is gone
// from memory all the same (its keys are), and the error says the batch
// is broken.
func (le *Lessor) Revoke(tx Tx, id ID) error {
	le.mu.RLock()
	l := le.mu.leases[id]
	le.mu.RUnlock()
	if l == nil {
		return ErrLeaseNotFound
	}
	// Without the lock: mvcc detaches each key it deletes (Detach). No
	// other call can change this lease meanwhile: changes to it arrive,
	// like this one, through the single apply goroutine.
	for _, k := range l.Keys() {
		tx.DeleteRange([]byte(k), nil)
	}

	le.mu.Lock()
	defer le.mu.Unlock()
	if le.mu.leases[id] != l {
		// Only a broken caller revokes concurrently with another apply.
		return fmt.Errorf("revoke lease %v: %w meanwhile", id, ErrLeaseNotFound)
	}
	delete(le.mu.leases, id)
	l.mu.Lock()
	for it := range l.mu.items {
		// Keys the Tx did not detach (it is not mvcc in tests).
		if le.mu.items[it] == id {
			delete(le.mu.items, it)
		}
	}
	l.mu.items = make(map[LeaseItem]struct{})
	l.mu.Unlock()
	close(l.revoked)
	revokedCounter.Inc()
	if err := tx.UnsafeDelete(bucket, leaseKey(id)); err != nil {
		return fmt.Errorf("revoke lease %v: delete record: %w", id, err)
	}
	return nil
}

// Checkpoint applies a checkpoint: it persists the lease's remaining TTL
// (0 clears it), which a future Promote starts the lease from. Its expiry
// here is unchanged. A checkpoint for a lease revoked since it was
// proposed is ignored, as in etcd.
func (le *Lessor) Checkpoint(tx Tx, id ID, remainingTTL int64) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.mu.leases[id]
	if l == nil {
		return nil
	}
	l.mu.Lock()
	l.mu.remainingTTL = max(remainingTTL, 0)
	l.mu.Unlock()
	if err := putRecord(tx, l.record()); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if le.isPrimaryLocked() {
		le.scheduleCheckpointLocked(l, le.clock.Now())
	}
	return nil
}

// Renew extends lease id to its full TTL from now and returns the TTL. It
// works only on the primary (ErrNotPrimary elsewhere: the server forwards
// renewals to the leader). A lease that has expired cannot be renewed:
// Renew waits until the leader revokes it (ErrLeaseNotFound) or the lessor
// is demoted or stopped (ErrNotPrimary), as etcd does, so that a client
// never sees a renewal succeed on a lease about to vanish.
//
// With a checkpointer set, renewing a lease that has a checkpointed
// remaining TTL first clears it through raft (a checkpoint of 0) and waits
// for that: otherwise a new leader would start the lease from the stale,
// shorter TTL. Only the first renewal after each checkpoint pays for that
// round trip.
func (le *Lessor) Renew(id ID) (int64, error) {
	for {
		le.mu.RLock()
		if !le.isPrimaryLocked() {
			le.mu.RUnlock()
			return -1, ErrNotPrimary
		}
		demotec, cp := le.mu.demotec, le.mu.checkpointer
		l := le.mu.leases[id]
		le.mu.RUnlock()
		if l == nil {
			return -1, ErrLeaseNotFound
		}
		if l.expiredAt(le.clock.Now()) {
			select {
			case <-l.revoked:
				continue // gone, or replaced by Recover: look again
			case <-demotec:
				return -1, ErrNotPrimary
			case <-le.stopc:
				return -1, ErrNotPrimary
			}
		}

		if cp != nil && l.CheckpointedTTL() > 0 {
			if err := cp(le.ctx, []LeaseCheckpoint{{ID: id, RemainingTTL: 0}}); err != nil {
				return -1, fmt.Errorf("renew lease %v: clear checkpointed TTL: %w", id, err)
			}
		}

		le.mu.Lock()
		if !le.isPrimaryLocked() {
			le.mu.Unlock()
			return -1, ErrNotPrimary
		}
		if le.mu.leases[id] != l {
			le.mu.Unlock()
			continue // revoked or replaced while we cleared its checkpoint
		}
		le.startExpiryLocked(l, le.clock.Now().Add(ttlDuration(l.ttl)))
		le.mu.Unlock()
		renewedCounter.Inc()
		return l.ttl, nil
	}
}

// Lookup returns lease id, or nil.
func (le *Lessor) Lookup(id ID) *Lease {
	le.mu.RLock()
	defer le.mu.RUnlock()
	return le.mu.leases[id]
}

// Leases returns every lease, sorted by ID. (etcd's LeaseLeases lists them
// by remaining time; the API layer may re-sort.)
func (le *Lessor) Leases() []*Lease {
	le.mu.RLock()
	ls := make([]*Lease, 0, len(le.mu.leases))
	for _, l := range le.mu.leases {
		ls = append(ls, l)
	}
	le.mu.RUnlock()
	slices.SortFunc(ls, func(a, b *Lease) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return ls
}

// Attach attaches items to lease id (ErrLeaseNotFound if none), so that
// revoking it deletes them. The cost is O(1) per item, whatever the
// number of keys on the lease. An item attached to another lease moves.
func (le *Lessor) Attach(id ID, items []LeaseItem) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.mu.leases[id]
	if l == nil {
		return ErrLeaseNotFound
	}
	for _, it := range items {
		if old, ok := le.mu.items[it]; ok && old != id {
			// mvcc detaches a key from its old lease before attaching it
			// to a new one; should it not, revoking the old lease must
			// still not delete the key.
			if ol := le.mu.leases[old]; ol != nil {
				ol.mu.Lock()
				delete(ol.mu.items, it)
				ol.mu.Unlock()
			}
		}
		le.mu.items[it] = id
	}
	l.mu.Lock()
	for _, it := range items {
		l.mu.items[it] = struct{}{}
	}
	l.mu.Unlock()
	return nil
}

// Detach detaches items from lease id (ErrLeaseNotFound if none); O(1)
// per item.
func (le *Lessor) Detach(id ID, items []LeaseItem) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.mu.leases[id]
	if l == nil {
		return ErrLeaseNotFound
	}
	l.mu.Lock()
	for _, it := range items {
		delete(l.mu.items, it)
		if le.mu.items[it] == id {
			delete(le.mu.items, it)
		}
	}
	l.mu.Unlock()
	return nil
}

// GetLease returns the lease item is attached to, or NoLease.
func (le *Lessor) GetLease(item LeaseItem) ID {
	le.mu.RLock()
	defer le.mu.RUnlock()
	return le.mu.items[item]
}

// Recover replaces the lessor's leases with those persisted in rt's lease
// bucket: at start, and after the backend is replaced by a snapshot. The
// leases have no keys attached (mvcc re-attaches them as it rebuilds its
// index) and do not expire, unless the lessor is primary, when they start
// as after a promotion. TTLs below the minimum are raised to it. On a
// corrupt record Recover returns an error and changes nothing. The caller
// ends rt (a backend read view left open blocks the backend's remaps).
func (le *Lessor) Recover(rt ReadTx) error {
	leases := make(map[ID]*Lease)
	err := rt.ForEach(bucket, func(k, v []byte) error {
		r, err := decodeRecord(k, v)
		if err != nil {
			return err
		}
		leases[ID(r.ID)] = newLease(ID(r.ID), max(r.TTL, le.minTTL), max(r.RemainingTTL, 0), le.clock)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover leases: %w", err)
	}

	le.mu.Lock()
	defer le.mu.Unlock()
	for _, l := range le.mu.leases {
		close(l.revoked) // wakes renewals waiting on the old objects
	}
	le.mu.leases = leases
	le.mu.items = make(map[LeaseItem]ID)
	le.mu.expiryQueue = nil
	le.mu.checkpointQueue = nil
	if le.isPrimaryLocked() {
		le.refreshAllLocked(0)
	}
	le.lg.Info("recovered leases", "count", len(leases))
	return nil
}

// ExpiredLeasesC delivers, on the primary, batches of expired leases for
// the server to revoke through raft. A lease still not revoked
// ExpiredLeasesRetryInterval after it was delivered is delivered again.
func (le *Lessor) ExpiredLeasesC() <-chan []*Lease { return le.expiredC }
