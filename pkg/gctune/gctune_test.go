package gctune

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		roots, headroom uint64
		want            int64
	}{
		{roots: 16 * mib, headroom: 64 * mib, want: 400},
		{roots: 64 * mib, headroom: 64 * mib, want: 100},
		{roots: 1024 * mib, headroom: 64 * mib, want: 100},
		{roots: 8 * mib, headroom: 64 * mib, want: 800},
		// The collector's 4 MiB minimum, scaled by GOGC, bounds it.
		{roots: 3 * mib, headroom: 64 * mib, want: 1600},
		{roots: 0, headroom: 64 * mib, want: 1600},
		{roots: 0, headroom: 1 << 60, want: math.MaxInt32},
	} {
		if got := PercentFor(tc.roots, tc.headroom); got != tc.want {
			t.Errorf("PercentFor(%d, %d) = %d, want %d", tc.roots, tc.headroom, got, tc.want)
		}
	}
}

// gcPercent reads GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// After each collection the tuner follows the live heap: a small heap
// gets a large GOGC, a heap larger than the headroom gets Go's default,
// and Stop restores the default.
func TestTunerFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(gcPercent())
	const headroom = 256 << 20
	tu := Start(headroom)
	defer tu.Stop()

	waitPercent(t, tu, func(p int) bool { return p > 400 }, "small heap")

	big := make([]byte, 512<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	waitPercent(t, tu, func(p int) bool { return p == basePercent }, "heap larger than the headroom")
	runtime.KeepAlive(big)
	big = nil

	waitPercent(t, tu, func(p int) bool { return p > 400 }, "small heap again")
	tu.Stop()
	if p := gcPercent(); p != basePercent {
		t.Errorf("GOGC after Stop = %d, want %d", p, basePercent)
	}
}

// waitPercent collects until GOGC satisfies ok, or fails after a deadline.
func waitPercent(t *testing.T, tu *Tuner, ok func(int) bool, what string) {
	t.Helper()
	err := testutil.Poll(10*time.Second, func() error {
		runtime.GC()
		if p, tp := gcPercent(), tu.Percent(); !ok(p) || tp != p {
			return fmt.Errorf("GOGC is %d (tuner says %d)", p, tp)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// The collector keeps collecting on its own under the tuner: garbage
// well beyond the headroom brings collections without runtime.GC, and
// the heap stays near the headroom.
func TestTunerKeepsCollecting(t *testing.T) {
	defer debug.SetGCPercent(gcPercent())
	const headroom = 32 << 20
	tu := Start(headroom)
	defer tu.Stop()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	makeGarbage(400 << 20)
	runtime.ReadMemStats(&ms)
	if ms.NumGC-before < 3 {
		t.Errorf("%d collections while 400 MiB of garbage was made with a 32 MiB headroom", ms.NumGC-before)
	}
	// The tuner retunes from a finalizer, which a busy machine may run a
	// few collections late: the goal must come back near the headroom
	// while garbage keeps coming, within a deadline.
	err := testutil.Poll(10*time.Second, func() error {
		if runtime.ReadMemStats(&ms); ms.NextGC > 64<<20 {
			makeGarbage(64 << 20)
			return fmt.Errorf("next collection at %d MiB of heap with a 32 MiB headroom", ms.NextGC>>20)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// makeGarbage allocates n bytes of garbage, 10 KiB at a time.
func makeGarbage(n int) {
	for i := range n / (10 << 10) {
		b := make([]byte, 10<<10)
		b[0] = byte(i)
		sink = b
	}
}

// sink keeps the test's allocations on the heap.
var sink []byte
