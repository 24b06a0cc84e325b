package linearizability

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// snapshotArgs make members snapshot and compact their logs often, so that
// a member back from a fault catches up from a snapshot.
var snapshotArgs = []string{"--snapshot-count=50", "--snapshot-catchup-entries=10"}

var allFaults = []fault{
	faultKillRandom, faultKillLeader, faultPauseRandom, faultPauseLeader,
	faultPartitionRandom, faultPartitionLeader, faultPartitionLeaderIn, faultPartitionLeaderOut,
	faultMoveLeader, faultSlowDisk, faultFailingDisk, faultCrashPoint, faultInstall,
}

// scenarios: the first ones (short) run in CI; BASALT_LIN_SCENARIOS=all
// runs every one.
var scenarios = []struct {
	scenario
	short bool
}{
	{scenario{name: "1member-kill-pause", members: 1, clients: 4, faults: []fault{faultKillRandom, faultPauseRandom}}, true},
	{scenario{name: "3members-crash-points", members: 3, clients: 6, faults: []fault{faultCrashPoint, faultInstall}, args: snapshotArgs, compact: true}, true},
	{scenario{name: "3members-all-faults", members: 3, clients: 6, faults: allFaults, args: snapshotArgs, compact: true}, true},
	{scenario{name: "5members-partitions-kills", members: 5, clients: 6, faults: []fault{faultKillLeader, faultPartitionLeader, faultPartitionLeaderIn, faultPartitionLeaderOut, faultPartitionRandom, faultMoveLeader}, args: snapshotArgs, compact: true}, true},
	{scenario{name: "3members-reconfig", members: 3, clients: 6, faults: []fault{faultReplace, faultReplace, faultKillRandom, faultPartitionRandom, faultPauseLeader, faultMoveLeader}, args: snapshotArgs, compact: true}, true},
	{scenario{name: "3members-auth", members: 3, clients: 6, faults: []fault{faultKillRandom, faultKillLeader, faultPartitionRandom, faultMoveLeader, faultInstall}, args: snapshotArgs, compact: true, auth: true}, true},
	{scenario{name: "3members-etcd-migration", members: 3, clients: 6, faults: []fault{faultSwapBinary, faultSwapBinary, faultSwapBinary, faultSwapBinary, faultSwapBinary, faultKillRandom, faultMoveLeader}, args: snapshotArgs, compact: true, etcd: true}, true},
	{scenario{name: "3members-v2", members: 3, clients: 4, faults: []fault{faultKillRandom, faultKillLeader, faultPartitionRandom, faultMoveLeader, faultInstall}, args: snapshotArgs, compact: true, v2: true}, true},
	{scenario{name: "3members-kill", members: 3, clients: 6, faults: []fault{faultKillRandom, faultKillLeader}, args: snapshotArgs, compact: true}, false},
	{scenario{name: "3members-pause", members: 3, clients: 6, faults: []fault{faultPauseRandom, faultPauseLeader}}, false},
	{scenario{name: "3members-partition", members: 3, clients: 6, faults: []fault{faultPartitionRandom, faultPartitionLeader, faultPartitionLeaderIn, faultPartitionLeaderOut}, args: snapshotArgs, compact: true}, false},
	{scenario{name: "3members-move-leader", members: 3, clients: 6, faults: []fault{faultMoveLeader}}, false},
	{scenario{name: "3members-no-faults", members: 3, clients: 8}, false},
	{scenario{name: "3members-disk-faults", members: 3, clients: 6, faults: []fault{faultSlowDisk, faultFailingDisk}, args: snapshotArgs, compact: true}, false},
	{scenario{name: "5members-all-faults", members: 5, clients: 8, faults: allFaults, args: snapshotArgs, compact: true}, false},
	{scenario{name: "1member-crash-points", members: 1, clients: 4, faults: []fault{faultCrashPoint}, args: snapshotArgs, compact: true}, false},
}

func TestLinearizability(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes under faults")
	}
	duration := 12 * time.Second
	if d := os.Getenv("BASALT_LIN_DURATION"); d != "" {
		var err error
		if duration, err = time.ParseDuration(d); err != nil {
			t.Fatalf("BASALT_LIN_DURATION: %v", err)
		}
	}
	all := os.Getenv("BASALT_LIN_SCENARIOS") == "all"
	seed := rand.Uint64()
	if s := os.Getenv("BASALT_LIN_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("BASALT_LIN_SEED: %v", err)
		}
	}
	// BASALT_LIN_ROUNDS runs the scenarios that many times, round r with
	// seed+r (scripts/lin-rounds.sh runs it and tallies the results).
	rounds := 1
	if s := os.Getenv("BASALT_LIN_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			t.Fatalf("BASALT_LIN_ROUNDS: %q is not a positive number", s)
		}
	}
	runAll := func(t *testing.T, seed uint64) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				if !sc.short && !all {
					t.Skip("long profile: BASALT_LIN_SCENARIOS=all")
				}
				runScenario(t, sc.scenario, seed, duration)
			})
		}
	}
	if rounds == 1 {
		runAll(t, seed)
		return
	}
	for r := range rounds {
		t.Run(fmt.Sprintf("round%03d", r), func(t *testing.T) { runAll(t, seed+uint64(r)) })
	}
}
