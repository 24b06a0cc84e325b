package mvcc

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// WatchID identifies a watcher within its stream.
type WatchID int64

// AutoWatchID asks Watch to pick the ID.
const AutoWatchID WatchID = -1

// chanBufLen is a stream's channel capacity: a receiver this far behind
// makes its watchers victims instead of growing memory.
const chanBufLen = 128

// maxWatchersPerSync bounds the lagging watchers caught up in one round,
// so one round never holds up writes for long.
const maxWatchersPerSync = 512

// WatchResponse carries events to one watcher.
type WatchResponse struct {
	WatchID WatchID
	// Events, in revision order. Empty for a progress notification.
	Events []*mvccpb.Event
	// Revision is the store's revision the response is current to.
	Revision int64
	// CompactRevision is set, and the watcher cancelled, when the watcher
	// asked for history that compaction removed.
	CompactRevision int64
}

// FilterFunc drops an event from a watcher when it returns true.
type FilterFunc func(e *mvccpb.Event) bool

// FilterNoPut and FilterNoDelete are the filters of etcd's WatchCreateRequest.
func FilterNoPut(e *mvccpb.Event) bool    { return e.Type == mvccpb.Event_PUT }
func FilterNoDelete(e *mvccpb.Event) bool { return e.Type == mvccpb.Event_DELETE }

type watcher struct {
	key, end []byte // end nil: one key; empty: every key from key on
	id       WatchID
	// minRev is the next revision this watcher must receive.
	minRev  int64
	filters []FilterFunc
	stream  *WatchStream
	// victimBatch holds events that could not be delivered; the watcher
	// is a victim while it is set.
	victimBatch *WatchResponse
}

func (w *watcher) contains(key []byte) bool {
	if w.end == nil {
		return bytes.Equal(w.key, key)
	}
	if bytes.Compare(key, w.key) < 0 {
		return false
	}
	return len(w.end) == 0 || bytes.Compare(key, w.end) < 0
}

func (w *watcher) filter(evs []*mvccpb.Event) []*mvccpb.Event {
	if len(w.filters) == 0 {
		return evs
	}
	out := make([]*mvccpb.Event, 0, len(evs))
next:
	for _, e := range evs {
		for _, f := range w.filters {
			if f(e) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// send delivers without blocking; false means the receiver is full.
func (w *watcher) send(wr WatchResponse) bool {
	wr.Events = w.filter(wr.Events)
	if len(wr.Events) == 0 && wr.CompactRevision == 0 {
		return true // nothing for this watcher after filtering
	}
	wr.WatchID = w.id
	select {
	case w.stream.ch <- wr:
		if n := len(wr.Events); n > 0 {
			pendingEventsGauge.Add(float64(n))
		}
		return true
	default:
		return false
	}
}

// watcherGroup indexes watchers for matching events: single-key watchers
// by key, range watchers in a list.
type watcherGroup struct {
	keys   map[string]map[*watcher]struct{}
	ranges map[*watcher]struct{}
	size   int
}

func newWatcherGroup() *watcherGroup {
	return &watcherGroup{keys: map[string]map[*watcher]struct{}{}, ranges: map[*watcher]struct{}{}}
}

func (g *watcherGroup) add(w *watcher) {
	g.size++
	if w.end == nil {
		set := g.keys[string(w.key)]
		if set == nil {
			set = map[*watcher]struct{}{}
			g.keys[string(w.key)] = set
		}
		set[w] = struct{}{}
		return
	}
	g.ranges[w] = struct{}{}
}

func (g *watcherGroup) delete(w *watcher) bool {
	if w.end == nil {
		set := g.keys[string(w.key)]
		if _, ok := set[w]; !ok {
			return false
		}
		delete(set, w)
		if len(set) == 0 {
			delete(g.keys, string(w.key))
		}
	} else {
		if _, ok := g.ranges[w]; !ok {
			return false
		}
		delete(g.ranges, w)
	}
	g.size--
	return true
}

func (g *watcherGroup) contains(w *watcher) bool {
	if w.end == nil {
		_, ok := g.keys[string(w.key)][w]
		return ok
	}
	_, ok := g.ranges[w]
	return ok
}

// match groups events by the watchers they concern. A watcher that
// matches every event so far gets a prefix of evs itself, not a copy:
// watchers told of the same events share one slice, which the API
// encodes once for all of them.
func (g *watcherGroup) match(evs []*mvccpb.Event) map[*watcher][]*mvccpb.Event {
	out := map[*watcher][]*mvccpb.Event{}
	add := func(w *watcher, i int) {
		cur := out[w]
		switch {
		case len(cur) == i: // each event adds at most one: all so far
			out[w] = evs[:i+1]
		case len(cur) > 0 && &cur[0] == &evs[0]:
			// Shared until this gap: copy before appending.
			out[w] = append(slices.Clip(cur), evs[i])
		default:
			out[w] = append(cur, evs[i])
		}
	}
	for i, e := range evs {
		for w := range g.keys[string(e.Kv.Key)] {
			add(w, i)
		}
		for w := range g.ranges {
			if w.contains(e.Kv.Key) {
				add(w, i)
			}
		}
	}
	return out
}

func (g *watcherGroup) all() []*watcher {
	out := make([]*watcher, 0, g.size)
	for _, set := range g.keys {
		for w := range set {
			out = append(out, w)
		}
	}
	for w := range g.ranges {
		out = append(out, w)
	}
	return out
}

// watchState holds every watcher of a store in one of three groups:
// synced (caught up: told of each write as it happens), unsynced (behind:
// caught up from the backend by run), and victims (their receiver was
// full: their undelivered batch is retried by run).
type watchState struct {
	s  *Store
	mu sync.Mutex
	// notifiedRev is the last revision handed to synced watchers; every
	// revision up to it is readable from the backend.
	notifiedRev int64
	synced      *watcherGroup
	unsynced    *watcherGroup
	victims     map[*watcher]struct{}
	kick        chan struct{}
}

func newWatchState(s *Store) *watchState {
	return &watchState{
		s:        s,
		synced:   newWatcherGroup(),
		unsynced: newWatcherGroup(),
		victims:  map[*watcher]struct{}{},
		kick:     make(chan struct{}, 1),
	}
}

func (ws *watchState) wake() {
	select {
	case ws.kick <- struct{}{}:
	default:
	}
}

// notify hands a write's events to the synced watchers. Called in
// revision order, after the events are readable from the backend.
func (ws *watchState) notify(rev int64, evs []*mvccpb.Event) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.notifiedRev = rev
	if ws.synced.size == 0 {
		return
	}
	for w, wevs := range ws.synced.match(evs) {
		if rev < w.minRev {
			continue // already delivered while catching up
		}
		wr := WatchResponse{Events: wevs, Revision: rev}
		if !w.send(wr) {
			// The receiver is full: park the batch and stop notifying.
			w.victimBatch = &wr
			ws.synced.delete(w)
			ws.victims[w] = struct{}{}
		}
		w.minRev = rev + 1
	}
}

// add registers a watcher wanting events from startRev on (0: from the
// next write).
func (ws *watchState) add(w *watcher, startRev int64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	cur := ws.currentRevLocked()
	if startRev <= 0 || startRev > cur {
		w.minRev = cur + 1
		if startRev > cur {
			w.minRev = startRev
		}
		ws.synced.add(w)
		return
	}
	w.minRev = startRev
	ws.unsynced.add(w)
	ws.wake()
}

// currentRevLocked is the revision watchers are current to.
func (ws *watchState) currentRevLocked() int64 { return ws.notifiedRev }

func (ws *watchState) remove(w *watcher) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.removeLocked(w)
}

func (ws *watchState) removeLocked(w *watcher) bool {
	if ws.synced.delete(w) || ws.unsynced.delete(w) {
		return true
	}
	if _, ok := ws.victims[w]; ok {
		delete(ws.victims, w)
		return true
	}
	return false
}

// compacted wakes the catch-up loop so that watchers behind rev learn it.
func (ws *watchState) compacted(int64) { ws.wake() }

// restart puts every watcher behind after the store's backend was
// replaced: each catches up from the new backend from where it was.
func (ws *watchState) restart(rev int64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.notifiedRev = rev
	for _, w := range ws.synced.all() {
		ws.synced.delete(w)
		ws.unsynced.add(w)
	}
	ws.wake()
}

func (ws *watchState) closeAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.synced = newWatcherGroup()
	ws.unsynced = newWatcherGroup()
	ws.victims = map[*watcher]struct{}{}
}

// run catches up unsynced watchers and retries victims until stopc
// closes.
func (ws *watchState) run(stopc <-chan struct{}) {
	t := time.NewTicker(ws.s.cfg.SyncWatchersInterval)
	defer t.Stop()
	for {
		select {
		case <-stopc:
			return
		case <-t.C:
		case <-ws.kick:
		}
		ws.retryVictims()
		if ws.syncWatchers() {
			ws.wake() // more to do
		}
	}
}

// retryVictims delivers victims' parked batches; delivered victims go on
// to catch up with what they missed.
func (ws *watchState) retryVictims() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.victims {
		if !w.send(*w.victimBatch) {
			continue
		}
		w.victimBatch = nil
		delete(ws.victims, w)
		ws.unsynced.add(w)
	}
}

// syncWatchers catches up a round of unsynced watchers from the backend;
// it reports whether some are still behind. The round holds the store
// lock shared, so that Restore does not replace the data it reads.
func (ws *watchState) syncWatchers() bool {
	ws.s.mu.RLock()
	defer ws.s.mu.RUnlock()
	ws.mu.Lock()
	if ws.unsynced.size == 0 {
		ws.mu.Unlock()
		return false
	}
	cur := ws.currentRevLocked()
	compactRev := ws.s.CompactRev()
	// Pick a round of watchers and the lowest revision they need.
	round := ws.unsynced.all()
	if len(round) > maxWatchersPerSync {
		round = round[:maxWatchersPerSync]
	}
	minRev := int64(-1)
	var live []*watcher
	for _, w := range round {
		if w.minRev < compactRev {
			// History it needs is gone: tell it and drop it. The
			// compaction revision itself is still readable, as in etcd.
			wr := WatchResponse{CompactRevision: compactRev, Revision: cur}
			if w.send(wr) {
				ws.unsynced.delete(w)
			}
			continue
		}
		if w.minRev > cur {
			ws.unsynced.delete(w)
			ws.synced.add(w)
			continue
		}
		live = append(live, w)
		if minRev < 0 || w.minRev < minRev {
			minRev = w.minRev
		}
	}
	ws.mu.Unlock()
	if len(live) == 0 {
		return ws.unsyncedSize() > 0
	}

	// Read the events they need without holding the lock: writes go on.
	evs, err := ws.s.eventsBetweenLocked(minRev, cur)
	if err != nil {
		return true
	}

	ws.mu.Lock()
	defer ws.mu.Unlock()
	// Writes made meanwhile went only to synced watchers; read them too,
	// now, under the lock — usually a few.
	if now := ws.notifiedRev; now > cur {
		more, err := ws.s.eventsBetweenLocked(cur+1, now)
		if err != nil {
			return true
		}
		evs = append(evs, more...)
		cur = now
	}
	for _, w := range live {
		if !ws.unsynced.contains(w) {
			continue // cancelled meanwhile
		}
		var wevs []*mvccpb.Event
		for _, e := range evs {
			if e.Kv.ModRevision >= w.minRev && w.contains(e.Kv.Key) {
				wevs = append(wevs, e)
			}
		}
		wr := WatchResponse{Events: wevs, Revision: cur}
		ws.unsynced.delete(w)
		if len(w.filter(wevs)) == 0 {
			w.minRev = cur + 1
			ws.synced.add(w)
			continue
		}
		if !w.send(wr) {
			w.victimBatch = &wr
			ws.victims[w] = struct{}{}
			w.minRev = cur + 1
			continue
		}
		w.minRev = cur + 1
		ws.synced.add(w)
	}
	return ws.unsynced.size > 0
}

// SlowWatchers is the number of watchers behind: catching up from the
// backend, or waiting for their receiver to make room.
func (s *Store) SlowWatchers() int {
	ws := s.watch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.unsynced.size + len(ws.victims)
}

func (ws *watchState) unsyncedSize() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.unsynced.size
}

// eventsBetweenLocked reads the events of revisions [from, to] from the
// backend. The store lock is held (shared).
func (s *Store) eventsBetweenLocked(from, to int64) ([]*mvccpb.Event, error) {
	if from > to {
		return nil, nil
	}
	view := s.b.ReadTx()
	defer view.End()
	start := revToBytes(Revision{Main: from}, false)
	end := revToBytes(Revision{Main: to + 1}, false)
	keys, vals := view.Range(KeyBucket, start, end, 0)
	evs := make([]*mvccpb.Event, 0, len(keys))
	for i, k := range keys {
		kv := &mvccpb.KeyValue{}
		if err := decodeKV(vals[i], kv); err != nil {
			return nil, err
		}
		e := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv}
		if isTombstone(k) {
			r, _ := bytesToRev(k)
			e.Type = mvccpb.Event_DELETE
			kv.ModRevision = r.Main
		}
		evs = append(evs, e)
	}
	return evs, nil
}
