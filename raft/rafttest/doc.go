// Package rafttest is a seeded, deterministic simulator of raft clusters
// with invariant checks.
//
// A Sim runs members 1..Voters of a new cluster, each a raft.RawNode over
// its own disk, and takes random steps drawn from one math/rand/v2 PCG
// source seeded by Options.Seed. It starts no goroutine, never sleeps and
// reads no clock: a given Options always produces the same run, so a
// failing seed is replayed exactly.
//
// # What it models
//
//   - Members. Each member's disk is a raft.MemoryStorage that raft reads
//     and that survives a crash. A member handles a Ready in the order
//     raft.Ready prescribes: take it, persist its snapshot, entries and
//     hard state, send its messages, apply its snapshot and committed
//     entries (ApplyConfChange for conf changes), then Advance. Handling
//     may stop between taking and persisting, or between persisting and
//     applying (Faults.SplitReady), so that messages arrive and crashes
//     happen in between. In some seeds the messages that
//     raft.CanSendBeforePersist allows are sent as soon as the Ready is
//     taken.
//   - Crash and restart. A crash loses the Ready being handled if it was
//     not yet persisted, and the state machine unless
//     Faults.DurableStateMachine. A restart builds a fresh RawNode from
//     the disk: a volatile state machine restarts from the disk's
//     snapshot and re-applies every committed entry after it (Applied is
//     the snapshot index);
//     a durable one passes Config.Applied, or re-applies conf changes only
//     when some lie between the snapshot and its applied index.
//   - The network. Messages may be lost, duplicated, delayed by a number
//     of steps and delivered out of order; links may be cut both ways
//     (isolation, a split into two groups) or one way. A delivered
//     MsgSnap is reported to its sender as finished and a lost one as
//     failed, as a transport would; other losses sometimes produce
//     ReportUnreachable.
//   - Time. A tick advances every live member's clock (now and then one
//     member's alone, so clocks drift). Each member draws its election
//     timeouts from its own raft.Rand derived from the seed.
//   - Operations, interleaved with the faults: proposals, ReadIndex
//     requests, leadership transfers, membership changes (add a learner
//     or a voter with an empty disk, promote a learner, remove a learner
//     or a voter, the leader included). As etcd does, a removed member is
//     shut down (some time after every remaining member applied its
//     removal) and its ID is never let back in. Snapshots: a member
//     snapshots its applied state into its
//     storage (CreateSnapshot, then Compact, keeping a few entries), every
//     few entries and at random, so lagging members receive MsgSnap.
//   - The state machine: the list of normal entries a member applied, and
//     the hash of the whole applied log prefix. Its snapshot data encodes
//     both, so a restored member is checked entry by entry.
//
// # What it checks
//
// After every step: one leader per term across the whole run; log
// matching on every persisted entry (equal index and term imply equal
// logs up to it); leader completeness (a new leader holds every entry
// applied anywhere before its election, unless compacted into its
// snapshot); state machine safety (every member applies a prefix of one
// global history, across snapshots and restarts, so no committed entry is
// ever lost or changed); every member reaching the same membership by
// applying a conf change; term, vote and commit never going back on disk;
// ReadIndex answers no lower than what was applied when the read was
// issued. After Run's chaos steps, every fault is healed and a leader must
// be elected and a proposal applied by all its members within
// LivenessElectionTimeouts election timeouts.
//
// A violation (or a panic inside raft) stops the run with a *Violation;
// Trace returns the last events leading to it and Describe each member's
// state.
package rafttest
