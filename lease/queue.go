package lease

import (
	"container/heap"
	"time"
)

// queueEntry schedules something for a lease at a time: its expiry (or
// the re-delivery of an expired lease) in the expiry queue, its next
// checkpoint in the checkpoint queue.
type queueEntry struct {
	lease *Lease
	// seq is the lease's sequence number for this queue when the entry was
	// pushed. Rescheduling a lease bumps its number and pushes a new entry
	// instead of finding the old one (lazy deletion): an entry whose seq
	// no longer matches, or whose lease has been revoked, is stale and
	// skipped when it reaches the top. That keeps a renewal O(log n).
	seq  uint64
	time time.Time
}

// leaseQueue is a min-heap of entries by time (container/heap).
type leaseQueue []queueEntry

func (q leaseQueue) Len() int           { return len(q) }
func (q leaseQueue) Less(i, j int) bool { return q[i].time.Before(q[j].time) }
func (q leaseQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *leaseQueue) Push(x any)        { *q = append(*q, x.(queueEntry)) }
func (q *leaseQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = queueEntry{} // drop the *Lease for the collector
	*q = old[:len(old)-1]
	return e
}

// compactQueueSlack is how many stale entries a queue may hold beyond
// twice the number of leases before it is compacted.
const compactQueueSlack = 64

// push schedules e, compacting the queue first if stale entries (left by
// renewals of leases with long TTLs) outnumber the live ones: the queue
// stays O(leases) in size, and since a compaction happens only after
// O(leases) pushes, a push stays O(log n) amortized.
func (q *leaseQueue) push(e queueEntry, nLeases int, live func(queueEntry) bool) {
	if len(*q) > 2*nLeases+compactQueueSlack {
		q.compact(live)
	}
	heap.Push(q, e)
}

// compact drops the stale entries and restores the heap order.
func (q *leaseQueue) compact(live func(queueEntry) bool) {
	kept := (*q)[:0]
	for _, e := range *q {
		if live(e) {
			kept = append(kept, e)
		}
	}
	clear((*q)[len(kept):])
	*q = kept
	heap.Init(q)
}

// peekLive drops stale entries from the top and returns the first live
// one, if any.
func (q *leaseQueue) peekLive(live func(queueEntry) bool) (queueEntry, bool) {
	for len(*q) > 0 {
		if e := (*q)[0]; live(e) {
			return e, true
		}
		heap.Pop(q)
	}
	return queueEntry{}, false
}
