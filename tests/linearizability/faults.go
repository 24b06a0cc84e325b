package linearizability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	faultCrashPoint  // killed by a crash point on its way (a persist step, a compaction...)
	faultInstall     // a follower down long enough to be sent a snapshot, maybe killed installing it
	faultReplace     // removed from the cluster, its data wiped, added back as a new member that joins
	faultSwapBinary  // stopped and restarted on its data dir as the other server (etcd ↔ basalt), members in turn
)

var faultNames = [...]string{
	"kill-random", "kill-leader", "pause-random", "pause-leader",
	"partition-random", "partition-leader", "partition-leader-in", "partition-leader-out",
	"move-leader", "slow-disk", "failing-disk", "crash-point", "install-snapshot", "replace-member",
	"swap-binary",
}

func (f fault) String() string { return faultNames[f] }

// multiMemberOnly are the faults that need peers.
func (f fault) multiMemberOnly() bool {
	return f >= faultPartitionRandom && f <= faultMoveLeader || f == faultInstall || f == faultReplace
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
	// compact: the scenario compacts, so compaction's crash points are
	// reached.
	compact bool
	// nextSwap is the member faultSwapBinary swaps next: members go in
	// turn, as in an operator's rolling migration (all to basalt, then all
	// back to etcd, and so on).
	nextSwap int

	mu     sync.Mutex
	events []faultEvent
	errs   []error
}

func newSchedule(c *cluster, rec *recorder, seed uint64, faults []fault, compact bool) *schedule {
	var usable []fault
	for _, f := range faults {
		if c.size() > 1 || !f.multiMemberOnly() {
			usable = append(usable, f)
		}
	}
	return &schedule{c: c, rec: rec, rng: rand.New(rand.NewPCG(seed, 0xfa)), faults: usable, compact: compact}
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
	case faultInstall, faultKillLeader, faultPauseLeader, faultPartitionLeader, faultPartitionLeaderIn, faultPartitionLeaderOut, faultMoveLeader:
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
		if f == faultInstall {
			// A follower: the leader must send it a snapshot.
			target = (l + 1 + random%(s.c.size()-1)) % s.c.size()
		}
	}
	if f == faultSwapBinary {
		target = s.nextSwap
		s.nextSwap = (s.nextSwap + 1) % s.c.size()
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
	case faultCrashPoint:
		ev.Description = s.crashAtPoint(ctx, m, hold)
	case faultInstall:
		ev.Description = s.installSnapshot(ctx, m, hold)
	case faultReplace:
		ev.Description = s.replaceMember(target)
	case faultSwapBinary:
		ev.Description = s.swapBinary(m)
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

// crashPoints are the crash points traffic reaches (TriggerWrite and
// TriggerSnapshot), with those of compaction when the scenario compacts
// and those of defragmentation, which the fault starts itself.
func crashPoints(compact bool) []e2e.CrashPoint {
	var out []e2e.CrashPoint
	for _, cp := range e2e.CrashPoints {
		switch cp.Trigger {
		case e2e.TriggerWrite, e2e.TriggerSnapshot, e2e.TriggerDefrag:
			out = append(out, cp)
		case e2e.TriggerCompact:
			if compact {
				out = append(out, cp)
			}
		}
	}
	return out
}

// installPoints are the crash points of installing a leader's snapshot.
func installPoints() []string {
	var out []string
	for _, cp := range e2e.CrashPoints {
		if cp.Trigger == e2e.TriggerInstall {
			out = append(out, cp.Name)
		}
	}
	return out
}

// crashAtPoint arms a crash point of the schedule's choice on m for up to
// hold+2s: if traffic takes m past it, m dies there and is restarted; if
// not, the point is disarmed.
func (s *schedule) crashAtPoint(ctx context.Context, m *e2e.Member, hold time.Duration) string {
	points := crashPoints(s.compact)
	cp := points[s.rng.IntN(len(points))]
	if err := m.SetFailpoint(cp.Name, "kill"); err != nil {
		// A busy member can reach the point, and die of it, before it
		// answers the request that armed it (found by the rounds: EOF).
		if p := m.Process(); p != nil {
			_, _ = p.Wait(5 * time.Second)
		}
		if !m.KilledAt(cp.Name) {
			s.fail(fmt.Errorf("%v: %w", faultCrashPoint, err))
			if p := m.Process(); p != nil && p.Exited() {
				_ = m.TryStart()
			}
			return fmt.Sprintf("arming %s on %s failed", cp.Name, m.Name)
		}
	}
	if cp.Trigger == e2e.TriggerDefrag {
		go func() {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, _ = s.c.clients[s.c.indexOf(m)].Defragment(dctx, m.ClientURL())
		}()
	}
	pctx, cancel := context.WithTimeout(ctx, hold+2*time.Second)
	_ = testutil.PollContext(pctx, func() error {
		if !m.KilledAt(cp.Name) {
			return errors.New("not reached")
		}
		return nil
	})
	cancel()
	if !m.KilledAt(cp.Name) {
		// Not reached: disarm. The member may die between the check and
		// the disarm; then it is restarted below.
		_ = m.SetFailpoint(cp.Name, "off")
		if p := m.Process(); p == nil || !p.Exited() {
			return fmt.Sprintf("%s armed on %s, not reached in %v", cp.Name, m.Name, (hold + 2*time.Second).Round(time.Millisecond))
		}
	}
	killAndWait(m)
	restart := time.Now()
	if err := m.TryStart(); err != nil {
		s.fail(fmt.Errorf("%v at %s: restart: %w", faultCrashPoint, cp.Name, err))
	}
	return fmt.Sprintf("killed at %s on %s, restarted (ready in %v)", cp.Name, m.Name, time.Since(restart).Round(time.Millisecond))
}

// installSnapshot kills follower m for hold, long enough for the leader
// to compact its log past m under traffic (--snapshot-count=50,
// --snapshot-catchup-entries=10), and restarts it: it installs the
// leader's snapshot while traffic goes on. Half the time m restarts with
// an installation crash point armed; killed there, it restarts again.
func (s *schedule) installSnapshot(ctx context.Context, m *e2e.Member, hold time.Duration) string {
	killAndWait(m)
	sleep(ctx, hold)
	desc := fmt.Sprintf("%s down for %v, restarted", m.Name, hold.Round(time.Millisecond))
	if s.rng.IntN(2) == 0 {
		points := installPoints()
		point := points[s.rng.IntN(len(points))]
		m.Env = []string{e2e.ArmEnv(point, "kill")}
		err := m.StartNoWait()
		m.Env = nil
		if err != nil {
			s.fail(fmt.Errorf("%v: start armed: %w", faultInstall, err))
			return desc
		}
		// Until it dies (at the point, or of something the restart below
		// reports) or is ready (the point was not on its way: a catch-up
		// by log).
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_ = testutil.PollContext(pctx, func() error {
			if p := m.Process(); p.Exited() || e2e.LogContains(p.Output(), e2e.ReadyLine) {
				return nil
			}
			return errors.New("installing")
		})
		cancel()
		if !m.KilledAt(point) {
			// Still running (or died of something else, which the restart
			// below reports): it stays armed, so restart it unarmed.
			killAndWait(m)
			desc += fmt.Sprintf(" with %s armed, not reached", point)
		} else {
			desc += fmt.Sprintf(", killed installing at %s, restarted", point)
		}
	}
	restart := time.Now()
	if err := m.TryStart(); err != nil {
		s.fail(fmt.Errorf("%v: restart: %w", faultInstall, err))
	}
	return desc + fmt.Sprintf(" (ready in %v)", time.Since(restart).Round(time.Millisecond))
}

// replaceMember removes a member, wipes its data dir and adds it back at
// the same URLs as a new member, which joins (--initial-cluster-state
// existing) and catches up: runtime reconfiguration under traffic. It is
// not cut short by the end of traffic, since the checks need every member.
func (s *schedule) replaceMember(target int) string {
	m := s.c.Members[target]
	other := s.c.clients[(target+1)%s.c.size()]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := s.c.ids[target]
	desc := fmt.Sprintf("replace %s (%x)", m.Name, old)
	err := retryReconfig(ctx, func(ctx context.Context) error {
		_, err := other.MemberRemove(ctx, old)
		if errors.Is(err, rpctypes.ErrMemberNotFound) {
			return nil // an earlier attempt, cut off, was applied
		}
		return err
	})
	if err != nil {
		s.fail(fmt.Errorf("%v: remove %s: %w", faultReplace, m.Name, err))
		return desc
	}
	// A removed member stops by itself.
	if p := m.Process(); p != nil {
		if _, err := p.Wait(15 * time.Second); err != nil {
			s.fail(fmt.Errorf("%v: %s did not stop once removed: %w", faultReplace, m.Name, err))
		}
	}
	killAndWait(m)
	if err := m.WipeData(); err != nil {
		s.fail(fmt.Errorf("%v: %w", faultReplace, err))
		return desc
	}
	err = retryReconfig(ctx, func(ctx context.Context) error {
		_, err := other.MemberAdd(ctx, []string{m.PeerURL()})
		if errors.Is(err, rpctypes.ErrPeerURLExist) {
			return nil // an earlier attempt, cut off, was applied
		}
		return err
	})
	if err != nil {
		s.fail(fmt.Errorf("%v: add %s back: %w", faultReplace, m.Name, err))
		return desc
	}
	list, err := other.MemberList(ctx)
	if err != nil {
		s.fail(fmt.Errorf("%v: member list: %w", faultReplace, err))
		return desc
	}
	for _, mem := range list.Members {
		if slices.Equal(mem.PeerURLs, []string{m.PeerURL()}) {
			s.c.ids[target] = mem.ID
		}
	}
	start := time.Now()
	if err := s.c.Join(m); err != nil {
		s.fail(fmt.Errorf("%v: %s joining: %w", faultReplace, m.Name, err))
	}
	return desc + fmt.Sprintf(", added back as %x (ready in %v)", s.c.ids[target], time.Since(start).Round(time.Millisecond))
}

// swapBinary stops m (SIGTERM) and starts it on its data dir and ports as
// the other server: etcd 3.7.3 becomes basalt, basalt becomes etcd. It is
// the rolling migration an operator runs, one member at a time.
func (s *schedule) swapBinary(m *e2e.Member) string {
	from := "etcd"
	if m.Bin == e2e.Binary() || m.Bin == "" && s.c.bin == "" {
		from = "basalt"
	}
	if p := m.Process(); p != nil && !p.Exited() {
		if _, err := p.Stop(30 * time.Second); err != nil {
			s.fail(fmt.Errorf("%v: stop %s: %w", faultSwapBinary, m.Name, err))
		}
	}
	to := "basalt"
	m.Bin = e2e.Binary()
	if from == "basalt" {
		to, m.Bin = "etcd", s.c.bin
	}
	start := time.Now()
	if err := m.TryStart(); err != nil {
		s.fail(fmt.Errorf("%v: start %s as %s: %w", faultSwapBinary, m.Name, to, err))
	}
	return fmt.Sprintf("%s: %s → %s on its data dir (ready in %v)", m.Name, from, to, time.Since(start).Round(time.Millisecond))
}

// retryReconfig repeats a membership change while the cluster refuses it
// for now (not connected to a quorum for long enough, no leader, a
// timeout during an election), until ctx ends.
func retryReconfig(ctx context.Context, change func(context.Context) error) error {
	var permanent error
	err := testutil.PollContext(ctx, func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := change(cctx)
		if err == nil || retryableReconfig(err) {
			return err
		}
		permanent = err
		return nil
	})
	if permanent != nil {
		return permanent
	}
	return err
}

func retryableReconfig(err error) bool {
	for _, retry := range []error{rpctypes.ErrUnhealthy, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrNoLeader, rpctypes.ErrStopped, context.DeadlineExceeded} {
		if errors.Is(err, retry) {
			return true
		}
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable
}
