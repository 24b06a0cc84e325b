package rafttest

import (
	"fmt"
	"math/rand/v2"
)

// LivenessElectionTimeouts bounds recovery: once every fault is healed, a
// leader must be elected and a proposal applied on every member of its
// configuration within this many election timeouts (ElectionTick ticks
// each), or the run fails.
//
// Raft's liveness is only probable. Without PreVote, a member whose log
// is behind can time out first and disrupt the one that can win, which
// then waits out a fresh random timeout: each round goes wrong with
// probability about 1/2. Twenty election timeouts (about 13 rounds) failed
// one seed of 100,000 (75,675) that was a round away from electing; fifty
// (about 33 rounds) leave that at about 1e-10, and a real liveness bug
// never recovers at all.
const LivenessElectionTimeouts = 50

// Options configure one simulation. RandomOptions derives a varied set
// from a seed; scripted tests build them by hand.
type Options struct {
	// Seed drives every random choice of the run, the members' election
	// timeouts included.
	Seed uint64
	// Voters is the number of founding members, IDs 1..Voters.
	Voters int
	// Steps is the number of chaos steps Run takes before healing.
	Steps  int
	Raft   RaftOptions
	Faults Faults
	// TraceSize is how many recent events a failure report shows.
	TraceSize int
	// Paranoid re-checks the simulator's own shortcuts: that a delivery
	// it judged unable to change a member's role or term did not.
	Paranoid bool
	// Logf, if set, receives every event (and raft's own log) as it
	// happens: the verbose replay of a seed.
	Logf func(format string, args ...any)
}

// RaftOptions are passed to each member's raft.Config.
type RaftOptions struct {
	ElectionTick, HeartbeatTick int
	PreVote, CheckQuorum        bool
	DisableProposalForwarding   bool
	MaxSizePerMsg               uint64
	MaxCommittedSizePerReady    uint64
	MaxUncommittedEntriesSize   uint64
	MaxInflightMsgs             int
	MaxInflightBytes            uint64
}

// Faults sets how often each fault and each operation happens. Rates
// named "per step" are the chance that a chaos step is that action.
type Faults struct {
	// Drop and Duplicate are per sent message.
	Drop, Duplicate float64
	// Delay is the chance a message is held back 1..MaxDelay steps.
	Delay    float64
	MaxDelay int
	// Reorder is the chance a delivery picks any deliverable message
	// rather than the oldest.
	Reorder float64
	// Partition starts a new partition (isolation, split or one-way cut);
	// HealPartition removes them all. Per step.
	Partition, HealPartition float64
	// Crash stops a member, losing whatever it had not persisted; Restart
	// brings a crashed member back from its disk. Per step.
	Crash, Restart float64
	// SplitReady is the chance that handling a Ready stops after taking it
	// or after persisting it, leaving the rest to a later step: a crash in
	// between loses what was not yet persisted.
	SplitReady float64
	// SendBeforePersist sends the messages raft.CanSendBeforePersist
	// allows as soon as a Ready is taken, before it is persisted.
	SendBeforePersist bool
	// Per step: a client proposal, a ReadIndex request, a leadership
	// transfer, a membership change, a snapshot of a random member.
	Propose, ReadIndex, TransferLeader, ConfChange, Snapshot float64
	// SnapshotEvery makes a member snapshot once it has applied this many
	// entries past its last snapshot; CompactKeep is the most entries it
	// keeps in its log behind the snapshot.
	SnapshotEvery, CompactKeep int
	// MinVoters is the fewest voters a removal may leave; MaxMembers caps
	// voters plus learners.
	MinVoters, MaxMembers int
	// DurableStateMachine keeps a member's applied state across a crash
	// (restart with Config.Applied, re-applying conf changes when needed);
	// otherwise the state machine restarts from the disk's snapshot.
	DurableStateMachine bool
}

func (o Options) String() string {
	r, f := o.Raft, o.Faults
	return fmt.Sprintf("voters=%d steps=%d election=%d heartbeat=%d prevote=%t checkquorum=%t noforward=%t "+
		"maxmsg=%d maxapply=%d maxuncommitted=%d inflight=%d/%dB | drop=%.3f dup=%.3f delay=%.2f/%d reorder=%.2f "+
		"partition=%.4f/%.3f crash=%.4f/%.3f split=%.2f early=%t propose=%.3f read=%.3f transfer=%.4f conf=%.4f "+
		"snap=%.4f every=%d keep=%d minvoters=%d maxmembers=%d durable=%t",
		o.Voters, o.Steps, r.ElectionTick, r.HeartbeatTick, r.PreVote, r.CheckQuorum, r.DisableProposalForwarding,
		r.MaxSizePerMsg, r.MaxCommittedSizePerReady, r.MaxUncommittedEntriesSize, r.MaxInflightMsgs, r.MaxInflightBytes,
		f.Drop, f.Duplicate, f.Delay, f.MaxDelay, f.Reorder, f.Partition, f.HealPartition, f.Crash, f.Restart,
		f.SplitReady, f.SendBeforePersist, f.Propose, f.ReadIndex, f.TransferLeader, f.ConfChange, f.Snapshot,
		f.SnapshotEvery, f.CompactKeep, f.MinVoters, f.MaxMembers, f.DurableStateMachine)
}

const noLimit = ^uint64(0)

// RandomOptions derives a run's shape from its seed: a 3- or 5-member
// cluster, a few hundred to two thousand steps, raft settings and fault
// rates drawn so that some seeds are calm and others hostile.
func RandomOptions(seed uint64) Options {
	r := rand.New(rand.NewPCG(seed, 0x6f7074696f6e73))
	pick := func(vs ...float64) float64 { return vs[r.IntN(len(vs))] }
	chance := func(p float64) bool { return r.Float64() < p }

	o := Options{Seed: seed, Voters: 3, Steps: 300 + r.IntN(1701), TraceSize: 300}
	if chance(0.5) {
		o.Voters = 5
	}
	rc := &o.Raft
	rc.ElectionTick = 4 + r.IntN(7)
	rc.HeartbeatTick = 1
	if rc.ElectionTick >= 8 && chance(0.3) {
		rc.HeartbeatTick = 2
	}
	rc.PreVote = chance(0.5)
	rc.CheckQuorum = chance(0.5)
	rc.DisableProposalForwarding = chance(0.1)
	rc.MaxSizePerMsg = []uint64{0, 64, 1024, noLimit}[r.IntN(4)]
	rc.MaxInflightMsgs = []int{1, 2, 8, 256}[r.IntN(4)]
	if rc.MaxSizePerMsg != noLimit && chance(0.3) {
		rc.MaxInflightBytes = max(4*rc.MaxSizePerMsg, 64)
	}
	if chance(0.3) {
		rc.MaxCommittedSizePerReady = 32
	}
	if chance(0.2) {
		rc.MaxUncommittedEntriesSize = 64
	}

	f := &o.Faults
	calm := chance(0.15)
	f.Drop = pick(0, 0.01, 0.05, 0.15)
	f.Duplicate = pick(0, 0.01, 0.05)
	f.Delay = pick(0, 0.1, 0.3)
	f.MaxDelay = 5 + r.IntN(36)
	f.Reorder = pick(0, 0.1, 0.5)
	f.Partition = pick(0, 0.002, 0.005)
	f.HealPartition = pick(0.01, 0.02, 0.04)
	f.Crash = pick(0, 0.001, 0.003, 0.006)
	f.Restart = pick(0.01, 0.03, 0.08)
	f.SplitReady = pick(0, 0.2, 0.5)
	f.SendBeforePersist = chance(0.5)
	f.Propose = pick(0.02, 0.05, 0.1)
	f.ReadIndex = pick(0, 0.01)
	f.TransferLeader = pick(0, 0.002, 0.005)
	f.ConfChange = pick(0, 0.002, 0.006)
	f.Snapshot = pick(0.002, 0.01)
	f.SnapshotEvery = 3 + r.IntN(38)
	f.CompactKeep = r.IntN(11)
	f.MinVoters = []int{1, 2, 3, 3}[r.IntN(4)]
	f.MaxMembers = o.Voters + 2
	f.DurableStateMachine = chance(0.5)
	if calm {
		f.Drop, f.Duplicate, f.Partition, f.Crash = 0, 0, 0, 0
	}
	return o
}
