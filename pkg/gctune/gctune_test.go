package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int64
	}{
		{live: 16 * mib, headroom: 64 * mib, want: 400},
		{live: 64 * mib, headroom: 64 * mib, want: 100},
		{live: 1024 * mib, headroom: 64 * mib, want: 100},
		{live: 0, headroom: 64 * mib, want: math.MaxInt32},
		{live: 3 * mib, headroom: 64 * mib, want: 2133},
	} {
		if got := PercentFor(tc.live, tc.headroom); got != tc.want {
			t.Errorf("PercentFor(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
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
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		if p := gcPercent(); ok(p) && tu.Percent() == p {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: GOGC is %d (tuner says %d)", what, gcPercent(), tu.Percent())
}
