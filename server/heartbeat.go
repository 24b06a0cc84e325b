package server

import "time"

// heartbeatTracker notices a leader's heartbeats going out late: more
// than two heartbeat intervals after the previous one to the same
// follower, as a leader whose loop is held up (by a slow disk, mostly)
// sends them. etcd counts these as heartbeat send failures.
type heartbeatTracker struct {
	limit time.Duration
	last  map[uint64]time.Time
}

func newHeartbeatTracker(interval time.Duration) heartbeatTracker {
	return heartbeatTracker{limit: 2 * interval}
}

// observe records a heartbeat to follower to at now, and returns by how
// much it exceeded the limit since the previous one (0 if it did not, or
// if it is the first).
func (t *heartbeatTracker) observe(to uint64, now time.Time) time.Duration {
	if t.last == nil {
		t.last = map[uint64]time.Time{}
	}
	prev, ok := t.last[to]
	t.last[to] = now
	if !ok {
		return 0
	}
	if gap := now.Sub(prev); gap > t.limit {
		return gap - t.limit
	}
	return 0
}

// reset forgets every follower: a new leadership starts afresh.
func (t *heartbeatTracker) reset() { clear(t.last) }
