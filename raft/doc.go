// Package raft is basalt's Raft consensus algorithm as a deterministic
// state machine.
//
// The core (RawNode, and raft inside it) starts no goroutine, reads no
// clock and does no IO: time enters only as Tick, randomness only through
// Config.Rand, and everything raft wants done comes out as data in a Ready
// (entries and hard state to persist, a snapshot to install, committed
// entries to apply, messages to send, read states to serve), which the
// application acknowledges with Advance. The order the application must
// follow is written on Ready. Node runs a RawNode in one goroutine for
// applications that prefer channels.
//
// # What it implements
//
//   - Leader election with randomized timeouts in [ElectionTick,
//     2*ElectionTick), the election restriction (§5.4.1), optional PreVote
//     (a pre-election that does not bump terms) and CheckQuorum (a leader
//     that has not heard from a quorum within an election timeout steps
//     down, and followers that hear from a leader ignore vote requests).
//   - Log replication with the consistency check, fast backtracking (a
//     rejection carries the index and term of the follower's last entry at
//     or below the probe, and the leader skips every entry of a later
//     term), commitment only by counting replicas of a current-term entry
//     (§5.4.2), and per-follower flow control: probe, replicate and
//     snapshot states, a window of in-flight messages and bytes, a size
//     cap per message. Proposals that arrive together share one MsgApp.
//   - Linearizable reads by ReadIndex (§8). Requests that arrive between
//     two Readys share one heartbeat round whose context is a round number;
//     a round is confirmed when a quorum has answered it or a later one.
//     A leader serves reads only once it has committed an entry of its own
//     term. Followers forward requests to the leader.
//   - Leadership transfer: the leader stops accepting proposals, catches
//     the transferee up and sends it MsgTimeoutNow; the transfer is
//     abandoned after an election timeout.
//   - Membership changes, one member at a time (add voter, remove voter,
//     add learner, promote learner). A change takes effect on each member
//     when it applies the committed entry. Safety: a leader accepts a new
//     change only when the previous one is applied, and a new leader only
//     after everything in its log at election time is applied, so two
//     configurations in force never differ by more than one member; a
//     member does not campaign while a committed change is unapplied.
//     Learners receive the log but never vote or count for quorum.
//     A leader that removes itself leads on, refusing proposals, until
//     every remaining voter holds its whole log, then steps down. The
//     removed member of a two-voter membership may campaign, counting the
//     survivor's vote alone: the survivor may not know the removal
//     committed, and cannot be elected without the removed member's vote,
//     which a longer log refuses. A survivor that applied the removal
//     ignores those requests (they are marked CampaignRemoved).
//   - Snapshots: a follower whose next entry the leader has compacted gets
//     the snapshot from Storage; the transport reports the outcome with
//     ReportSnapshot.
//   - Bad input from the network (unknown senders, stale terms, indexes out
//     of range, malformed messages) is ignored or rejected, never trusted
//     and never a panic.
//
// # Persistence rule
//
// Hard state and entries must be durable before any message that depends
// on them is sent; see Ready and CanSendBeforePersist. A leader counts its
// own entries as replicated when it appends them: the commit that allows
// leaves the member only in a later Ready, which is produced only after
// Advance, hence after the persist; or, when the leader alone is a
// quorum, in the same Ready, whose MsgApps therefore carry a commit index
// no further than what was persisted before it.
package raft
