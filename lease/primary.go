package lease

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"time"
)

// Checkpoint batching, as etcd's: at most maxCheckpointBatch checkpoints
// per proposal, and at most maxCheckpointBatchesPerTick proposals per
// tick.
const (
	maxCheckpointBatch          = 1000
	maxCheckpointBatchesPerTick = 500
)

// isPrimaryLocked reports whether the lessor is primary: between Promote
// and Demote. Two lessors may briefly both be primary around a leader
// change; that is harmless, since only the real leader's proposals (the
// revokes and checkpoints they cause) commit.
func (le *Lessor) isPrimaryLocked() bool { return le.mu.demotec != nil }

// SetCheckpointer enables checkpoints: on the primary, every
// CheckpointInterval each lease whose TTL is longer than the interval has
// its remaining TTL proposed through cp (batched), and renewals clear a
// checkpointed TTL through it; see Renew. A nil cp disables them, which is
// etcd's default (its LeaseCheckpoint feature gate). The server sets it
// once it can propose, which is after the lessor exists.
func (le *Lessor) SetCheckpointer(cp Checkpointer) {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.mu.checkpointer = cp
	le.mu.checkpointQueue = nil
	if cp != nil && le.isPrimaryLocked() {
		now := le.clock.Now()
		for _, l := range le.mu.leases {
			le.scheduleCheckpointLocked(l, now)
		}
	}
}

// Promote makes the lessor primary, when its member has become the leader
// and applied every entry of earlier terms. Every lease expires anew
// extend (the election timeout) plus its TTL from now — its checkpointed
// remaining TTL if it has one — so that no client loses a lease it kept
// alive through the old leader. When that would make more leases expire
// in some second than the revoke rate allows, the later ones are pushed
// back, so that a pile-up is revoked gradually instead of dropped on raft
// at once.
func (le *Lessor) Promote(extend time.Duration) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.mu.demotec == nil {
		le.mu.demotec = make(chan struct{})
	}
	le.refreshAllLocked(extend)
	le.lg.Info("promoted lessor", "leases", len(le.mu.leases), "extend", extend)
}

// refreshAllLocked restarts the expiry of every lease, as Promote
// describes, and rebuilds both queues.
func (le *Lessor) refreshAllLocked(extend time.Duration) {
	now := le.clock.Now()
	type start struct {
		l      *Lease
		expiry time.Time
	}
	starts := make([]start, 0, len(le.mu.leases))
	for _, l := range le.mu.leases {
		starts = append(starts, start{l, now.Add(extend + ttlDuration(l.startTTL()))})
	}
	if len(starts) >= le.revokeRate {
		slices.SortFunc(starts, func(a, b start) int {
			return cmp.Or(a.expiry.Compare(b.expiry), cmp.Compare(a.l.ID, b.l.ID))
		})
		// Keep below the revoke rate, leaving room for leases that expire
		// normally meanwhile. Taking expiry[i] no earlier than one second
		// after expiry[i-perSecond] allows at most perSecond expiries in
		// any second, keeps the order, and moves no lease earlier.
		perSecond := max(3*le.revokeRate/4, 1)
		for i := perSecond; i < len(starts); i++ {
			if floor := starts[i-perSecond].expiry.Add(time.Second); starts[i].expiry.Before(floor) {
				starts[i].expiry = floor
			}
		}
	}

	le.mu.expiryQueue = make(leaseQueue, 0, len(starts))
	le.mu.checkpointQueue = nil
	for _, s := range starts {
		s.l.setExpiry(s.expiry)
		s.l.expirySeq++
		le.mu.expiryQueue = append(le.mu.expiryQueue, queueEntry{lease: s.l, seq: s.l.expirySeq, time: s.expiry})
		le.scheduleCheckpointLocked(s.l, now)
	}
	heap.Init(&le.mu.expiryQueue)
}

// Demote makes the lessor a follower's: leases stop expiring, nothing is
// handed out or checkpointed, and renewals waiting on expired leases
// return ErrNotPrimary.
func (le *Lessor) Demote() {
	le.mu.Lock()
	defer le.mu.Unlock()
	for _, l := range le.mu.leases {
		l.setExpiry(forever)
	}
	le.mu.expiryQueue = nil
	le.mu.checkpointQueue = nil
	if le.mu.demotec != nil {
		close(le.mu.demotec)
		le.mu.demotec = nil
	}
}

func (le *Lessor) liveExpiryLocked(e queueEntry) bool {
	return le.mu.leases[e.lease.ID] == e.lease && e.seq == e.lease.expirySeq
}

func (le *Lessor) liveCheckpointLocked(e queueEntry) bool {
	return le.mu.leases[e.lease.ID] == e.lease && e.seq == e.lease.checkpointSeq
}

// startExpiryLocked sets l's expiry and queues it, superseding its earlier
// entry. Only the primary calls it.
func (le *Lessor) startExpiryLocked(l *Lease, expiry time.Time) {
	l.setExpiry(expiry)
	l.expirySeq++
	le.mu.expiryQueue.push(queueEntry{lease: l, seq: l.expirySeq, time: expiry},
		len(le.mu.leases), le.liveExpiryLocked)
}

// scheduleCheckpointLocked queues l's next checkpoint one interval from
// now, superseding any earlier one, if checkpoints are on and l lives long
// enough to need one. Only the primary calls it.
func (le *Lessor) scheduleCheckpointLocked(l *Lease, now time.Time) {
	if le.mu.checkpointer == nil || l.startTTL() <= int64(le.checkpointInterval.Seconds()) {
		return
	}
	l.checkpointSeq++
	le.mu.checkpointQueue.push(queueEntry{lease: l, seq: l.checkpointSeq, time: now.Add(le.checkpointInterval)},
		len(le.mu.leases), le.liveCheckpointLocked)
}

func (le *Lessor) run(ticks <-chan time.Time) {
	defer close(le.donec)
	if ticks == nil {
		t := time.NewTicker(TickInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ticks:
		case <-le.stopc:
			return
		}
		le.RunOnce()
	}
}

// RunOnce does one tick of the primary's periodic work: it hands out the
// leases that have expired and proposes the checkpoints that are due. The
// lessor's loop calls it every TickInterval; tests call it directly. It
// does nothing unless the lessor is primary.
func (le *Lessor) RunOnce() {
	le.handOutExpired()
	le.checkpointDue()
}

// handOutExpired sends the expired leases, at most half the revoke rate
// of them per (half-second) tick, on ExpiredLeasesC. It does not wait for
// a busy receiver: whatever it could not send goes out again after the
// retry interval, like a lease whose revocation got lost.
func (le *Lessor) handOutExpired() {
	le.mu.Lock()
	var ls []*Lease
	if le.isPrimaryLocked() {
		ls = le.findExpiredLocked(le.clock.Now(), max(le.revokeRate/2, 1))
	}
	le.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	select {
	case le.expiredC <- ls:
	default:
	}
}

// findExpiredLocked returns up to limit leases whose expiry (or
// re-delivery time) has come, and schedules their re-delivery.
func (le *Lessor) findExpiredLocked(now time.Time, limit int) []*Lease {
	var ls []*Lease
	q := &le.mu.expiryQueue
	for len(ls) < limit {
		e, ok := q.peekLive(le.liveExpiryLocked)
		if !ok || now.Before(e.time) {
			break
		}
		// Keep the live entry, due again if the lease outlives the retry
		// interval: the revoke may be lost (a leader change, a full
		// channel).
		(*q)[0].time = now.Add(le.retryInterval)
		heap.Fix(q, 0)
		if e.lease.expiredAt(now) {
			ls = append(ls, e.lease)
		}
	}
	return ls
}

// checkpointDue proposes the due checkpoints, in batches. The
// checkpointer is called without the lock: it waits for raft to apply
// the checkpoints, which calls Checkpoint.
func (le *Lessor) checkpointDue() {
	for range maxCheckpointBatchesPerTick {
		le.mu.Lock()
		cp := le.mu.checkpointer
		var cps []LeaseCheckpoint
		if cp != nil && le.isPrimaryLocked() {
			cps = le.findDueCheckpointsLocked(le.clock.Now(), maxCheckpointBatch)
		}
		le.mu.Unlock()
		if len(cps) == 0 {
			return
		}
		if err := cp(le.ctx, cps); err != nil {
			le.lg.Warn("failed to checkpoint leases", "count", len(cps), "error", err)
			// Try again next interval rather than never (etcd drops them
			// until the next promotion).
			le.rescheduleCheckpoints(cps)
			return
		}
		if len(cps) < maxCheckpointBatch {
			return
		}
	}
}

// findDueCheckpointsLocked pops up to limit due checkpoints. A lease whose
// remaining TTL is still its full TTL (just renewed) has nothing worth
// saving; it is looked at again next interval.
func (le *Lessor) findDueCheckpointsLocked(now time.Time, limit int) []LeaseCheckpoint {
	var cps []LeaseCheckpoint
	q := &le.mu.checkpointQueue
	for len(cps) < limit {
		e, ok := q.peekLive(le.liveCheckpointLocked)
		if !ok || e.time.After(now) {
			break
		}
		heap.Pop(q)
		l := e.lease
		expiry := l.expiry()
		if expiry.IsZero() || !now.Before(expiry) {
			continue // expired: it is about to be revoked
		}
		remaining := int64(math.Ceil(expiry.Sub(now).Seconds()))
		if remaining >= l.ttl {
			le.scheduleCheckpointLocked(l, now)
			continue
		}
		cps = append(cps, LeaseCheckpoint{ID: l.ID, RemainingTTL: remaining})
	}
	return cps
}

func (le *Lessor) rescheduleCheckpoints(cps []LeaseCheckpoint) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.isPrimaryLocked() {
		return
	}
	now := le.clock.Now()
	for _, c := range cps {
		if l := le.mu.leases[c.ID]; l != nil {
			le.scheduleCheckpointLocked(l, now)
		}
	}
}
