// Package gctune keeps a small heap from being collected too often.
//
// Go's default (GOGC=100) starts a collection when the heap has grown by
// as much as was live after the last one. A member holding little data
// has a small live heap but serves requests that allocate quickly, so it
// collects many times a second, and its CPU goes to the collector
// instead of to requests. Start lets the heap grow by at least a fixed
// headroom between collections: GOGC is raised while the live heap is
// smaller than the headroom and is back at 100 once it is larger, so a
// member holding much data uses no more memory than with the default.
package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// basePercent is Go's default GOGC.
const basePercent = 100

// Tuner adjusts GOGC after every collection; see Start.
type Tuner struct {
	headroom uint64
	stopped  atomic.Bool
	percent  atomic.Int64
	sample   []metrics.Sample
}

// Start makes every collection leave room for the heap to grow by at
// least headroom bytes before the next. It sets GOGC itself, so callers
// leave it alone when the user set GOGC.
func Start(headroom uint64) *Tuner {
	t := &Tuner{headroom: headroom, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	t.percent.Store(basePercent)
	t.adjust()
	t.arm()
	return t
}

// Percent is the GOGC the tuner set last.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// Stop puts GOGC back to Go's default; the tuner acts no more.
func (t *Tuner) Stop() {
	if !t.stopped.Swap(true) {
		debug.SetGCPercent(basePercent)
		t.percent.Store(basePercent)
	}
}

// sentinel is garbage from birth: its finalizer runs after the next
// collection, adjusts GOGC and arms a new one.
type sentinel struct{ t *Tuner }

func (t *Tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.adjust()
		s.t.arm()
	})
}

// adjust sets GOGC from what the last collection found.
func (t *Tuner) adjust() {
	metrics.Read(t.sample)
	var v [3]uint64
	for i, smp := range t.sample {
		if smp.Value.Kind() != metrics.KindUint64 {
			return
		}
		v[i] = smp.Value.Uint64()
	}
	if v[0] == 0 {
		// No collection yet: nothing to go by, and a GOGC computed
		// from nothing would put the first collection off for ever.
		return
	}
	p := PercentFor(v[0]+v[1]+v[2], t.headroom)
	old := t.percent.Load()
	// Small changes are not worth a new pacing target.
	if p == old || (p > old && p < old+old/20) || (p < old && p > old-old/20) {
		return
	}
	if t.stopped.Load() {
		return
	}
	t.percent.Store(p)
	debug.SetGCPercent(int(p))
}

// PercentFor is the GOGC that lets the heap grow by at least headroom
// bytes after a collection that scanned roots bytes, and never less than
// Go's default. The collector's goal for the next collection is the live
// heap plus GOGC percent of the live heap, the stacks and the globals it
// scanned: roots are the sum of those three.
//
// The collector also never aims below a minimum heap of 4 MiB scaled by
// GOGC/100, so GOGC stays below the value at which that minimum would
// exceed the headroom.
func PercentFor(roots, headroom uint64) int64 {
	p := float64(headroom) * 100 / float64(max(roots, 1))
	p = min(p, float64(headroom)*100/minHeap)
	return int64(min(max(p, basePercent), math.MaxInt32))
}

// minHeap is the Go collector's minimum heap goal at GOGC=100.
const minHeap = 4 << 20
