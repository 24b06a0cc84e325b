// Package tracker keeps the leader's view of each follower: how much of
// the log it holds, how replication to it is flowing, and the membership
// (voters and learners) that the leader counts on.
package tracker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/basaltkv/basalt/raft/quorum"
	"github.com/basaltkv/basalt/raft/raftpb"
)

// StateType is the replication state of a follower, seen from the leader.
type StateType uint8

const (
	// StateProbe: the leader does not know where the follower's log
	// matches; it sends one MsgApp per heartbeat interval until it finds out.
	StateProbe StateType = iota
	// StateReplicate: the logs match up to Match; MsgApps stream optimistically
	// within the inflights window.
	StateReplicate
	// StateSnapshot: the follower needs entries the leader has compacted; a
	// snapshot is on its way and nothing else is sent until it is reported.
	StateSnapshot
)

func (s StateType) String() string {
	switch s {
	case StateProbe:
		return "StateProbe"
	case StateReplicate:
		return "StateReplicate"
	case StateSnapshot:
		return "StateSnapshot"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// Progress is the leader's view of one follower.
type Progress struct {
	// Match is the highest index known to be in the follower's log.
	Match uint64
	// Next is the next index to send.
	Next  uint64
	State StateType
	// PendingSnapshot is the index of the snapshot in flight (StateSnapshot).
	PendingSnapshot uint64
	// RecentActive: the follower was heard from since the last quorum check.
	RecentActive bool
	// MsgAppProbesPaused: in StateProbe, a MsgApp went out this heartbeat
	// interval; no other until the next heartbeat or a response.
	MsgAppProbesPaused bool
	Inflights          *Inflights
	IsLearner          bool
}

// ResetState moves to state, forgetting flow-control history.
func (pr *Progress) ResetState(state StateType) {
	pr.MsgAppProbesPaused = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.Inflights.Reset()
}

// BecomeProbe starts probing from just past what the follower is known to hold.
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.ResetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.ResetState(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate streams entries after Match.
func (pr *Progress) BecomeReplicate() {
	pr.ResetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot waits for the snapshot at index to be applied.
func (pr *Progress) BecomeSnapshot(index uint64) {
	pr.ResetState(StateSnapshot)
	pr.PendingSnapshot = index
}

// SentEntries records that a MsgApp carrying entries up to lastIndex, of
// the given size, went out.
func (pr *Progress) SentEntries(lastIndex, bytes uint64, numEntries int) {
	switch pr.State {
	case StateReplicate:
		if numEntries > 0 {
			pr.Next = lastIndex + 1
			pr.Inflights.Add(lastIndex, bytes)
		}
	case StateProbe:
		// One probe per heartbeat interval, empty or not.
		pr.MsgAppProbesPaused = true
	}
}

// MaybeUpdate raises Match (and Next) to n; it reports whether Match grew.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.MsgAppProbesPaused = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// MaybeDecrTo handles a rejected MsgApp for index rejected: the follower's
// log matches at most up to matchHint. It reports whether Next moved (false
// for a stale rejection).
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// Only a rejection of the entry just past Match is news; others
		// are out of order.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe state only the last probe's rejection counts.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.MsgAppProbesPaused = false
	return true
}

// IsPaused reports whether the leader should hold MsgApps to this follower.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.MsgAppProbesPaused
	case StateReplicate:
		return pr.Inflights.Full()
	case StateSnapshot:
		return true
	}
	return true
}

func (pr *Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.IsLearner {
		b.WriteString(" learner")
	}
	if pr.IsPaused() {
		b.WriteString(" paused")
	}
	if pr.PendingSnapshot > 0 {
		fmt.Fprintf(&b, " pendingSnap=%d", pr.PendingSnapshot)
	}
	if !pr.RecentActive {
		b.WriteString(" inactive")
	}
	if n := pr.Inflights.Count(); n > 0 {
		fmt.Fprintf(&b, " inflight=%d", n)
		if pr.Inflights.Full() {
			b.WriteString("[full]")
		}
	}
	return b.String()
}

// ProgressMap maps member IDs to their progress.
type ProgressMap map[uint64]*Progress

// Tracker holds the membership and each member's progress.
type Tracker struct {
	Voters   quorum.MajorityConfig
	Learners map[uint64]struct{}
	Progress ProgressMap
	Votes    map[uint64]bool

	MaxInflight      int
	MaxInflightBytes uint64
}

// MakeTracker returns an empty tracker with the given flow-control window.
func MakeTracker(maxInflight int, maxBytes uint64) Tracker {
	return Tracker{
		Voters:           quorum.MajorityConfig{},
		Learners:         map[uint64]struct{}{},
		Progress:         ProgressMap{},
		Votes:            map[uint64]bool{},
		MaxInflight:      maxInflight,
		MaxInflightBytes: maxBytes,
	}
}

// ConfState returns the membership as raftpb describes it.
func (t *Tracker) ConfState() raftpb.ConfState {
	learners := make([]uint64, 0, len(t.Learners))
	for id := range t.Learners {
		learners = append(learners, id)
	}
	slices.Sort(learners)
	cs := raftpb.ConfState{Voters: t.Voters.Slice()}
	if len(learners) > 0 {
		cs.Learners = learners
	}
	return cs
}

// IsSingleton reports whether the only voter is one member.
func (t *Tracker) IsSingleton() bool { return len(t.Voters) == 1 }

// Committed is the largest index a quorum of voters holds.
func (t *Tracker) Committed() uint64 {
	return t.Voters.CommittedIndex(matchAckIndexer(t.Progress))
}

type matchAckIndexer ProgressMap

func (m matchAckIndexer) AckedIndex(id uint64) (uint64, bool) {
	pr, ok := m[id]
	if !ok {
		return 0, false
	}
	return pr.Match, true
}

// Visit calls f for each member in ascending ID order, so that the
// messages a leader sends come out in a deterministic order.
func (t *Tracker) Visit(f func(id uint64, pr *Progress)) {
	ids := make([]uint64, 0, len(t.Progress))
	for id := range t.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f(id, t.Progress[id])
	}
}

// QuorumActive reports whether a quorum of voters was recently active.
func (t *Tracker) QuorumActive() bool {
	votes := map[uint64]bool{}
	for id, pr := range t.Progress {
		if !pr.IsLearner {
			votes[id] = pr.RecentActive
		}
	}
	return t.Voters.VoteResult(votes) == quorum.VoteWon
}

// VoterIDs returns the voters in ascending order.
func (t *Tracker) VoterIDs() []uint64 { return t.Voters.Slice() }

// ResetVotes forgets the votes of the last election.
func (t *Tracker) ResetVotes() { t.Votes = map[uint64]bool{} }

// RecordVote records id's vote, the first one only.
func (t *Tracker) RecordVote(id uint64, granted bool) {
	if _, ok := t.Votes[id]; !ok {
		t.Votes[id] = granted
	}
}

// TallyVotes counts granted and rejected votes among voters and returns
// the election's state.
func (t *Tracker) TallyVotes() (granted, rejected int, result quorum.VoteResult) {
	for id := range t.Voters {
		v, voted := t.Votes[id]
		if !voted {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	return granted, rejected, t.Voters.VoteResult(t.Votes)
}

// NewProgress returns the progress of a member just added, probing from next.
func (t *Tracker) NewProgress(next uint64, learner bool) *Progress {
	return &Progress{
		Next:         next,
		Inflights:    NewInflights(t.MaxInflight, t.MaxInflightBytes),
		IsLearner:    learner,
		RecentActive: true,
	}
}
