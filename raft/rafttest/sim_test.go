package rafttest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// defaultSeeds is how many seeds TestSimulation runs; BASALT_SIM_SEEDS
// overrides it, BASALT_SIM_FIRST_SEED moves the range, BASALT_SIM_SEED
// replays one seed verbosely, and BASALT_SIM_PARANOID=1 re-checks the
// simulator's own shortcuts (Options.Paranoid).
const defaultSeeds = 2000

// simBatches splits the seeds into parallel subtests; at most -parallel
// (GOMAXPROCS by default) of them run at once.
const simBatches = 16

func envUint(t *testing.T, name string) (uint64, bool) {
	v := os.Getenv(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n, true
}

func replayCommand(seed uint64) string {
	return fmt.Sprintf("BASALT_SIM_SEED=%d go test -run TestSimulation -v ./raft/rafttest", seed)
}

// runSeed runs one seed and returns a complete failure report, or "",
// and what the run exercised.
func runSeed(seed uint64, logf func(string, ...any)) (string, Stats) {
	opts := RandomOptions(seed)
	opts.Logf = logf
	opts.Paranoid = os.Getenv("BASALT_SIM_PARANOID") != ""
	s, err := New(opts)
	if err == nil {
		err = s.Run()
	}
	if err == nil {
		return "", s.Stats()
	}
	report := fmt.Sprintf("%v\nreplay: %s\noptions: %s\n", err, replayCommand(seed), opts)
	var v *Violation
	if s != nil && errors.As(err, &v) {
		if v.Invariant != "liveness" {
			report += "state:\n" + s.Describe()
		}
		report += fmt.Sprintf("last %d events:\n%s", opts.TraceSize, s.Trace())
	}
	return report, Stats{}
}

func TestSimulation(t *testing.T) {
	if seed, ok := envUint(t, "BASALT_SIM_SEED"); ok {
		logf := func(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
		report, st := runSeed(seed, logf)
		if report != "" {
			t.Fatal(report)
		}
		t.Logf("seed %d: %s", seed, st)
		return
	}
	n := uint64(defaultSeeds)
	if testing.Short() {
		n = 200
	}
	if v, ok := envUint(t, "BASALT_SIM_SEEDS"); ok {
		n = v
	}
	first, ok := envUint(t, "BASALT_SIM_FIRST_SEED")
	if !ok {
		first = 1
	}
	start := time.Now()
	var mu sync.Mutex
	var total Stats
	t.Cleanup(func() {
		t.Logf("%d seeds from %d in %v; in all: %s", n, first, time.Since(start).Round(time.Millisecond), total)
	})
	for b := range uint64(simBatches) {
		t.Run(fmt.Sprintf("batch%02d", b), func(t *testing.T) {
			t.Parallel()
			failures := 0
			for seed := first + b; seed < first+n; seed += simBatches {
				report, st := runSeed(seed, nil)
				mu.Lock()
				total.Add(st)
				mu.Unlock()
				if report == "" {
					continue
				}
				t.Errorf("%s", report)
				if failures++; failures == 3 {
					t.Errorf("stopping this batch after %d failing seeds", failures)
					return
				}
			}
		})
	}
}

// TestParanoid runs seeds with the simulator's own shortcuts re-checked,
// so that a change in raft that invalidates one is noticed.
func TestParanoid(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		opts := RandomOptions(seed)
		opts.Paranoid = true
		s, err := New(opts)
		if err == nil {
			err = s.Run()
		}
		if err != nil {
			t.Fatalf("%v\nreplay: BASALT_SIM_PARANOID=1 %s", err, replayCommand(seed))
		}
	}
}

// TestDeterminism runs seeds twice and compares everything that happened,
// raft's own log included.
func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{7, 8, 1234} {
		var sums [2]uint64
		for i := range sums {
			h := fnv.New64a()
			logf := func(format string, args ...any) { fmt.Fprintf(h, format+"\n", args...) }
			if report, _ := runSeed(seed, logf); report != "" {
				t.Fatal(report)
			}
			sums[i] = h.Sum64()
		}
		if sums[0] != sums[1] {
			t.Fatalf("seed %d: two runs differ (trace hashes %x, %x)", seed, sums[0], sums[1])
		}
	}
}
