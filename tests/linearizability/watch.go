package linearizability

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// event is one watch event as a watcher received it.
type event struct {
	Delete bool
	Key    int
	KV     kvState // ModRev is the event's revision
}

// watcher watches the whole key prefix from revision 1 and keeps every
// event. When its stream ends (the member it talks to restarts, loses its
// leader) it watches again from the revision after the last it saw, as a
// client that must not miss an event does.
type watcher struct {
	id  int
	cli *clientv3.Client

	lastRev atomic.Int64
	mu      sync.Mutex
	events  []event
	errs    []string
	rewatch int
}

func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		from := w.lastRev.Load() + 1
		// Require a leader: a watch served by a member cut off from the
		// others ends and moves on instead of going silent.
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := w.cli.Watch(wctx, keyPrefix, clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range wch {
			if resp.CompactRevision != 0 {
				w.fail(fmt.Sprintf("watch from %d: compacted at %d", from, resp.CompactRevision))
			}
			if err := resp.Err(); err != nil {
				break
			}
			w.mu.Lock()
			for _, ev := range resp.Events {
				k := keyIndex(string(ev.Kv.Key))
				if k < 0 {
					w.errs = append(w.errs, fmt.Sprintf("event of a key outside the key set: %q", ev.Kv.Key))
					continue
				}
				w.events = append(w.events, event{Delete: ev.Type == clientv3.EventTypeDelete, Key: k, KV: kvOf(ev.Kv)})
				w.lastRev.Store(max(w.lastRev.Load(), ev.Kv.ModRevision))
			}
			w.mu.Unlock()
		}
		cancel()
		w.mu.Lock()
		w.rewatch++
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *watcher) fail(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, msg)
}

// waitRev polls until the watcher has seen revision rev.
func (w *watcher) waitRev(ctx context.Context, rev int64) error {
	return testutil.PollContext(ctx, func() error {
		if seen := w.lastRev.Load(); seen < rev {
			return fmt.Errorf("watcher %d saw revision %d, not %d", w.id, seen, rev)
		}
		return nil
	})
}

// writeOf is what the history says about one value's put.
type writeOf struct {
	op      int // index in the history
	key     int
	lease   int64
	unknown bool
	rev     int64
}

// checkWatch checks one watcher's events against the history: events in
// revision order, each revision from the first write to finalRev present
// (every revision of this store is a write under the prefix), no event
// twice, each put's value written by a put of the history and at the
// revision that put was acknowledged with, each acknowledged write (and
// delete) present. It returns the store the events replay into.
func checkWatch(events []event, ops []porcupine.Operation, finalRev int64) (state, []string) {
	var errs []string
	failf := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	writes := map[string]writeOf{}
	// deletes: acknowledged deletes that deleted, by revision and key.
	type revKey struct {
		rev int64
		key int
	}
	ackedDeletes := map[revKey]int{}
	for i, op := range ops {
		in, out := op.Input.(input), op.Output.(output)
		if out.Err != "" {
			continue
		}
		switch in.Kind {
		case opPut, opCAS, opMultiTxn:
			if (in.Kind == opCAS || in.Kind == opMultiTxn) && !out.Unknown && !out.Succeeded {
				continue
			}
			for j, v := range in.Values {
				writes[v] = writeOf{op: i, key: in.Keys[j], lease: in.Lease, unknown: out.Unknown, rev: out.Rev}
			}
		case opDelete:
			if !out.Unknown && out.Deleted == 1 {
				ackedDeletes[revKey{out.Rev, in.Keys[0]}] = i
			}
		}
	}

	var s state
	seen := map[string]bool{}
	seenRK := map[revKey]bool{}
	s.Rev = 1 // a new store is at revision 1
	for _, ev := range events {
		rev := ev.KV.ModRev
		switch {
		case rev < s.Rev:
			failf("event %s at revision %d after revision %d", describeEvent(ev), rev, s.Rev)
			continue
		case rev > s.Rev+1:
			failf("revisions %d..%d missing before event %s", s.Rev+1, rev-1, describeEvent(ev))
		}
		if seenRK[revKey{rev, ev.Key}] {
			failf("key k%d twice at revision %d", ev.Key, rev)
		}
		seenRK[revKey{rev, ev.Key}] = true
		s.Rev = rev
		if ev.Delete {
			if !s.KVs[ev.Key].exists() {
				failf("delete event of absent key k%d at revision %d", ev.Key, rev)
			}
			s.KVs[ev.Key] = kvState{}
			delete(ackedDeletes, revKey{rev, ev.Key})
			continue
		}
		v := ev.KV.Value
		w, ok := writes[v]
		switch {
		case !ok:
			failf("event %s: no put of the history wrote %q", describeEvent(ev), v)
		case seen[v]:
			failf("event %s: value %q delivered twice", describeEvent(ev), v)
		case w.key != ev.Key:
			failf("event %s: %q was put in k%d", describeEvent(ev), v, w.key)
		case !w.unknown && w.rev != rev:
			failf("event %s: the put of %q was acknowledged at revision %d", describeEvent(ev), v, w.rev)
		}
		seen[v] = true
		want := kvState{Value: v, ModRev: rev, Create: rev, Version: 1, Lease: w.lease}
		if old := s.KVs[ev.Key]; old.exists() {
			want.Create, want.Version = old.Create, old.Version+1
		}
		if ev.KV != want {
			failf("event %s: want %+v from the events before it", describeEvent(ev), want)
		}
		s.KVs[ev.Key] = ev.KV
	}
	if s.Rev != finalRev {
		failf("events end at revision %d, the store is at %d", s.Rev, finalRev)
	}
	for v, w := range writes {
		if !w.unknown && w.rev <= finalRev && !seen[v] {
			failf("acknowledged put of %q to k%d at revision %d never delivered", v, w.key, w.rev)
		}
	}
	for rk := range ackedDeletes {
		if rk.rev <= finalRev {
			failf("acknowledged delete of k%d at revision %d never delivered", rk.key, rk.rev)
		}
	}
	return s, errs
}

func describeEvent(ev event) string {
	if ev.Delete {
		return fmt.Sprintf("DELETE k%d@%d", ev.Key, ev.KV.ModRev)
	}
	return fmt.Sprintf("PUT k%d=%s@%d", ev.Key, ev.KV.Value, ev.KV.ModRev)
}

// resolveUnknown uses a complete, checked watch stream to settle the
// writes of unknown outcome that carry values (puts and transactions):
// one whose value the stream delivered took effect at that event's
// revision; one whose values it never delivered had no effect by the
// final revision and is dropped (the same as the checker placing it last,
// since it constrains nothing). This only prunes the checker's search:
// deletes and revokes of unknown outcome stay unknown.
func resolveUnknown(ops []porcupine.Operation, events []event) (resolved []porcupine.Operation, settled, dropped int) {
	revOf := map[string]int64{}
	for _, ev := range events {
		if !ev.Delete {
			revOf[ev.KV.Value] = ev.KV.ModRev
		}
	}
	for _, op := range ops {
		in, out := op.Input.(input), op.Output.(output)
		if !out.Unknown || (in.Kind != opPut && in.Kind != opCAS && in.Kind != opMultiTxn) {
			resolved = append(resolved, op)
			continue
		}
		rev, ok := revOf[in.Values[0]]
		if !ok {
			dropped++
			continue
		}
		op.Output = output{Rev: rev, Succeeded: in.Kind != opPut}
		settled++
		resolved = append(resolved, op)
	}
	return resolved, settled, dropped
}
