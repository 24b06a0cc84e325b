package rafttest

import (
	"fmt"
	"strings"

	"github.com/basaltkv/basalt/raft"
)

// markerPrefix marks the proposals that AwaitLiveness waits for.
const markerPrefix = "live-"

// Heal ends the faults: partitions are removed, members removed from the
// cluster are shut down (as soon as the rest have applied their removal),
// every crashed member restarts, and from now on the network is sound: no
// message is lost, duplicated, delayed or reordered (those already delayed
// still arrive late), and no new fault or membership change is started.
func (s *Sim) Heal() error {
	return s.do(func() {
		s.healing = true
		s.healPartitions()
		s.destroyRemoved(true)
		for _, m := range s.members {
			if m.rn == nil && !m.destroyed {
				s.restart(m)
			}
		}
		s.note(0, "HEALED: no more faults")
	})
}

// AwaitLiveness heals the cluster and then requires that, within
// LivenessElectionTimeouts election timeouts, a leader is elected and a
// proposal is applied by every member of that leader's membership. A
// proposal may be lost when leadership changes, so one is made again
// every election timeout until one is applied, as a client would retry.
func (s *Sim) AwaitLiveness() error {
	if err := s.Heal(); err != nil {
		return err
	}
	et := s.opts.Raft.ElectionTick
	start, healStep := s.ticks, s.step
	deadline := start + LivenessElectionTimeouts*et
	nextMarker := start
	// Time passes slowly while messages flow; a cluster that chatters
	// forever without progress is caught by a step limit too.
	stepLimit := s.step + deadline*1000
	for {
		if s.livenessDone() {
			s.stats.RecoveryTicks = s.ticks - start
			s.note(0, fmt.Sprintf("recovered in %d ticks", s.ticks-start))
			return nil
		}
		if s.ticks >= deadline || s.step >= stepLimit {
			err := s.do(func() {
				s.fail("liveness", "%d ticks, %d steps after healing (limit: %d election timeouts), no leader has "+
					"a proposal applied by all its members\n%s", s.ticks-start, s.step-healStep, LivenessElectionTimeouts, s.Describe())
			})
			return err
		}
		if s.markerIndex == 0 && s.ticks >= nextMarker {
			nextMarker = s.ticks + et
			if err := s.do(s.proposeMarker); err != nil {
				return err
			}
		}
		if err := s.Step(); err != nil {
			return err
		}
	}
}

func (s *Sim) proposeMarker() {
	m := s.leader()
	if m == nil {
		live := s.liveMembers()
		if len(live) == 0 {
			return
		}
		m = live[s.rng.IntN(len(live))]
	}
	s.markers++
	s.propose(m, markerPrefix+itoa(uint64(s.markers)))
}

// livenessDone: a leader exists, and every member of its membership is up
// and has applied the first marker that was applied anywhere.
func (s *Sim) livenessDone() bool {
	if s.markerIndex == 0 {
		return false
	}
	lead := s.leader()
	if lead == nil {
		return false
	}
	for _, ids := range [][]uint64{lead.confState.Voters, lead.confState.Learners} {
		for _, id := range ids {
			m := s.byID[id]
			if m == nil || m.rn == nil || m.sm.applied < s.markerIndex {
				return false
			}
		}
	}
	return true
}

// Describe summarizes every member's state, for failure reports.
func (s *Sim) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d, tick %d, %d messages in flight, applied anywhere up to %d, liveness marker at %d\n",
		s.step, s.ticks, len(s.net.queue), len(s.hist)-1, s.markerIndex)
	for _, m := range s.members {
		fmt.Fprintf(&b, "  member %d: ", m.id)
		switch {
		case m.destroyed:
			b.WriteString("removed and shut down; ")
		case m.rn == nil:
			b.WriteString("DOWN; ")
		default:
			st := m.rn.Status()
			fmt.Fprintf(&b, "%s term %d lead %d commit %d; ", st.RaftState, st.Term, st.Lead, st.Commit)
			if st.RaftState == raft.StateLeader {
				for _, id := range sortedKeys(st.Progress) {
					pr := st.Progress[id]
					fmt.Fprintf(&b, "[%d: %s] ", id, pr.String())
				}
			}
		}
		fmt.Fprintf(&b, "disk (%d..%d] snapshot@%d hs{term:%d vote:%d commit:%d}; applied %d; membership %v learners %v\n",
			m.disk.base, m.disk.lastIndex(), m.disk.snapshotIndex(), m.disk.hs.Term, m.disk.hs.Vote, m.disk.hs.Commit,
			m.sm.applied, m.confState.Voters, m.confState.Learners)
	}
	return b.String()
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j-1] > ids[j]; j-- {
			ids[j-1], ids[j] = ids[j], ids[j-1]
		}
	}
	return ids
}
