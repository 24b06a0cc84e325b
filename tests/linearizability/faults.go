package linearizability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
)

// fault is one kind of failure the schedule injects.
type fault int

const (
	faultKillRandom fault = iota
	faultKillLeader
	faultPauseRandom
	faultPauseLeader
	faultPartitionRandom    // both ways
	faultPartitionLeader    // both ways
	faultPartitionLeaderIn  // others → leader dropped
	faultPartitionLeaderOut // leader → others dropped
	faultMoveLeader
	faultSlowDisk    // restarted with every fsync 20–100 ms slower
	faultFailingDisk // restarted with fsyncs failing after a few dozen
)

var faultNames = [...]string{
	"kill-random", "kill-leader", "pause-random", "pause-leader",
	"partition-random", "partition-leader", "partition-leader-in", "partition-leader-out",
	"move-leader", "slow-disk", "failing-disk",
}

func (f fault) String() string { return faultNames[f] }

// multiMemberOnly are the faults that need peers.
func (f fault) multiMemberOnly() bool {
	return f >= faultPartitionRandom && f <= faultMoveLeader
}

// faultEvent is one injected fault, for the report and the visualization.
type faultEvent struct {
	Fault       fault
	Member      string
	Start, End  int64 // recorder time
	Description string
}

// schedule injects faults from a seeded sequence until ctx ends; the
// choice of fault, member and durations comes from the seed (the timing
// of the processes does not, so a replay is similar, not identical).
type schedule struct {
	c      *cluster
	rec    *recorder
	rng    *rand.Rand
	faults []fault

	mu     sync.Mutex
	events []faultEvent
	errs   []error
}

func newSchedule(c *cluster, rec *recorder, seed uint64, faults []fault) *schedule {
	var usable []fault
	for _, f := range faults {
		if c.size() > 1 || !f.multiMemberOnly() {
			usable = append(usable, f)
		}
	}
	return &schedule{c: c, rec: rec, rng: rand.New(rand.NewPCG(seed, 0xfa)), faults: usable}
}

// dur is a duration in [lo, hi) from the schedule's seed.
func (s *schedule) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

func (s *schedule) run(ctx context.Context) {
	if len(s.faults) == 0 {
		return
	}
	for {
		// Spacing between faults is part of the schedule.
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.dur(500*time.Millisecond, 1500*time.Millisecond)):
		}
		f := s.faults[s.rng.IntN(len(s.faults))]
		random := s.rng.IntN(s.c.size())
		hold := s.dur(500*time.Millisecond, 2500*time.Millisecond)
		s.inject(ctx, f, random, hold)
	}
}

func (s *schedule) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *schedule) errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *schedule) log() []faultEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// inject runs one fault to its end (the member back, the network healed).
func (s *schedule) inject(ctx context.Context, f fault, random int, hold time.Duration) {
	target := random
	switch f {
	case faultKillLeader, faultPauseLeader, faultPartitionLeader, faultPartitionLeaderIn, faultPartitionLeaderOut, faultMoveLeader:
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := s.c.waitLeader(lctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("%v: %w", f, err))
			}
			return
		}
		target = l
	}
	m := s.c.Members[target]
	ev := faultEvent{Fault: f, Member: m.Name, Start: s.rec.now()}
	switch f {
	case faultKillRandom, faultKillLeader:
		m.Kill()
		sleep(ctx, hold)
		restart := time.Now()
		if err := m.TryStart(); err != nil {
			s.fail(fmt.Errorf("%v: restart: %w", f, err))
		}
		ev.Description = fmt.Sprintf("SIGKILL %s, restart after %v (ready in %v)", m.Name, hold.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
	case faultPauseRandom, faultPauseLeader:
		if err := m.Pause(); err != nil {
			s.fail(fmt.Errorf("%v: %w", f, err))
		}
		sleep(ctx, hold)
		if err := m.Resume(); err != nil {
			s.fail(fmt.Errorf("%v: %w", f, err))
		}
		ev.Description = fmt.Sprintf("SIGSTOP %s for %v", m.Name, hold.Round(time.Millisecond))
	case faultPartitionRandom, faultPartitionLeader:
		s.c.isolate(target, true, true)
		sleep(ctx, hold)
		s.c.heal()
		ev.Description = fmt.Sprintf("partition %s both ways for %v", m.Name, hold.Round(time.Millisecond))
	case faultPartitionLeaderIn:
		s.c.isolate(target, true, false)
		sleep(ctx, hold)
		s.c.heal()
		ev.Description = fmt.Sprintf("drop peer traffic to %s for %v", m.Name, hold.Round(time.Millisecond))
	case faultPartitionLeaderOut:
		s.c.isolate(target, false, true)
		sleep(ctx, hold)
		s.c.heal()
		ev.Description = fmt.Sprintf("drop peer traffic from %s for %v", m.Name, hold.Round(time.Millisecond))
	case faultSlowDisk, faultFailingDisk:
		// The member restarts on a faulty disk (the server's test hooks),
		// runs on it for the hold (a failing one stops by itself), and
		// restarts on a sound one.
		env := fmt.Sprintf("BASALT_TEST_FSYNC_DELAY=%dms", 20+random*20)
		if f == faultFailingDisk {
			env = fmt.Sprintf("BASALT_TEST_FSYNC_FAIL_AFTER=%d", 20+s.rng.IntN(80))
		}
		killAndWait(m)
		m.Env = []string{env}
		err := m.TryStart()
		m.Env = nil
		if err != nil && f == faultSlowDisk {
			s.fail(fmt.Errorf("%v: start: %w", f, err))
		}
		sleep(ctx, hold)
		stopped := m.Process() != nil && m.Process().Exited()
		killAndWait(m)
		if err := m.TryStart(); err != nil {
			s.fail(fmt.Errorf("%v: restart: %w", f, err))
		}
		ev.Description = fmt.Sprintf("%s on %s for %v", env, m.Name, hold.Round(time.Millisecond))
		if stopped {
			ev.Description += " (it stopped)"
		}
	case faultMoveLeader:
		to := (target + 1 + random%(s.c.size()-1)) % s.c.size()
		mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.c.clients[target].MoveLeader(mctx, s.c.ids[to])
		cancel()
		ev.Description = fmt.Sprintf("move leader %s → %s", m.Name, s.c.Members[to].Name)
		if err != nil {
			// A leader that lost its role meanwhile refuses; not a bug.
			ev.Description += fmt.Sprintf(": %v", err)
		}
	}
	ev.End = s.rec.now()
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

// sleep waits d; a fault's hold is cut short only by the end of the test
// (ctx of the whole run, which is not the traffic's).
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// killAndWait sends SIGKILL and waits until the process is gone.
func killAndWait(m *e2e.Member) {
	m.Kill()
	if p := m.Process(); p != nil {
		_, _ = p.Wait(10 * time.Second)
	}
}
