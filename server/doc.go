// Package server is the basalt member: it runs raft over the write-ahead
// log, applies what raft commits to the replicated state (the backend,
// the key-value store with its watches, the lessor, alarms and
// membership), and serves the client calls the API layer (api/v3rpc,
// api/httpapi) makes. It speaks no client protocol itself.
//
// # Parts
//
// NewMember (bootstrap.go) opens the data dir and wires each part once:
//
//   - state (state.go): the replicated state; the handle readers use.
//   - raftNode (raft_node.go): the raft node, the in-memory log, the WAL,
//     the snapshot files and the peer transport; its loop handles Readys.
//   - applier (applier.go, snapshot.go): applies committed entries,
//     installs the leader's snapshots, takes the member's own.
//   - readIndexer (read_index.go): linearizable read rounds.
//   - leaseForwarder (lease_glue.go, lease_batch.go): a follower's lease
//     requests to the leader.
//   - compactor (compactor.go): auto compaction's schedules.
//   - Member (member.go, v3_server.go, alarms.go, loops.go): the client
//     calls, and the loops that propose on the member's own behalf
//     (publishing its attributes, lease expiry, auto compaction, purging).
//
// # A Ready's steps, in order
//
// The raft loop (raftNode.handleReady) carries out each Ready so that a
// process killed between any two steps restarts (crash points, package
// failpoint, sit between them):
//
//  1. Publish the term and commit index, then the soft state, so that a
//     leader change is announced with its new term; pass ReadIndex
//     answers to the read loop.
//  2. Hand the snapshot and committed entries to the applier. Entries that
//     earlier Readies made durable are applied at once; a snapshot, and
//     entries this Ready carries, wait for step 5.
//  3. A leader sends MsgApp, MsgSnap and heartbeats now: it may write its
//     log in parallel with replicating it (Raft thesis §10.2.1).
//  4. Persist: the snapshot file; then its marker in the WAL (a marker
//     never names a missing file); then the hard state and entries, the
//     WAL fsyncing as raft's MustSync says; with a snapshot, an fsync, so
//     the hard state whose commit index covers the snapshot is on disk.
//     The marker comes before the hard state: killed between the two, the
//     WAL's newest valid marker (markers above the last hard state's
//     commit are ignored) is the older snapshot, whose log the old hard
//     state fits. The other way round, the member would restart from the
//     older snapshot with a commit index past the end of its log.
//  5. With a snapshot, give it to the in-memory log. Append the entries
//     to the in-memory log, and only then tell the applier the Ready is
//     durable: it may take a snapshot at an index this Ready commits,
//     which the in-memory log must hold (the other way round, a member
//     stopped with "requested entry at index is unavailable", found by the
//     linearizability rounds). With a snapshot, release the WAL before it.
//  6. Send the other messages (votes and answers promise what is now on
//     disk).
//  7. With a snapshot or a conf change, wait for the applier: raft must
//     know the new configuration before its next Ready. Advance.
//
// Installing the leader's snapshot (applier.installSnapshot): the
// database arrived before raft saw the MsgSnap, saved under a temporary
// name, fsynced, verified and renamed to %016x.snap.db; once step 5 is
// done the applier renames it over the backend (backend.ReplaceWith) and
// recovers the lessor, alarms, membership and key index from it, then
// removes older received databases. Killed before the rename, the member
// restarts at the snapshot and bootstrap renames the database then; after
// it, the backend is at the snapshot (its consistent index at or past the
// snapshot's index). A data dir whose backend is older than its newest
// snapshot and has no database for it is refused: the entries between
// the two are no longer in the log.
//
// Taking a snapshot (applier.maybeTriggerSnapshot, every --snapshot-count
// entries and after a conf change that adds a member, whose empty log a
// leader fills from a snapshot that must name it; once the Ready that
// applied them is durable): commit the
// backend, save the snapshot file, its WAL marker, release the WAL before
// it, compact the in-memory log, and ask the purge loop to run.
//
// # Durability invariant
//
// The backend stores the consistent index, the last entry whose effects
// it holds, in the same batch as those effects (one write transaction per
// entry: applier.commitIndex). A batch commit keeps both or neither. On
// restart the member loads the newest valid snapshot, replays the WAL
// after it, and the applier skips entries at or below the consistent
// index, so every committed entry is applied exactly once. An entry is
// acknowledged only once applied, and applied only once committed by a
// quorum and durable here, so an acknowledged write survives while a
// quorum keeps its disks.
//
// # Goroutines and what they own
//
//   - raft loop (raftNode.run): the raft node's Ready/Advance, the WAL's
//     appends, the in-memory log's appends and snapshots; publishes term,
//     leader and commit index (atomics) and fires leaderChanged.
//   - apply loop (applier.run): every change to the state's replicated
//     contents, the consistent index, conf state and snapshot index;
//     taking snapshots (the WAL's markers and releases, the in-memory
//     log's compaction); publishes the applied index (atomic, appliedWait)
//     and fires snapshotInstalled.
//   - read loop (readIndexer.run): ReadIndex rounds.
//   - lease loop, renewal forwarders, attribute publisher, compactors,
//     purge loop, tick adjuster: they propose, forward or purge, and own
//     nothing.
//   - client calls (any goroutine): read the state through its handle,
//     propose and wait (waitRegistry, by request ID), renew leases.
//
// Readers never see a closed backend or a half-replaced index: the
// state's objects live as long as the member and each replaces its
// contents atomically for its readers (see state). A client call takes
// what it needs from the handle once.
//
// # Lock order
//
// Locks are taken in this order, never the other way:
//
//	mvcc.Store's compaction lock (Compact, Restore, Close)
//	  → the store lock (held shared by every read and write transaction
//	    and HashKV, exclusively by Restore)
//	  → backend batch (BatchTx Lock) → backend readMu
//	  → lessor, alarms, membership, mvcc revision and index locks (leaves)
//
// The applier calls mvcc.Store.Restore, which holds the store lock while
// the replacement swaps the backend's file (taking the batch and readMu)
// and recovers the lessor, alarms and membership. No code takes a second
// transaction of the store while holding one (with Restore waiting, it
// would deadlock). The wait registry, appliedWait, broadcast and notifier
// locks are leaves held for a few lines.
//
// # Where client calls enter
//
//   - Range, and read-only Txn: a linearizable read round
//     (LinearizableReadNotify) unless serializable, then a read
//     transaction of the store (v3_server.go).
//   - Put, DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke, Alarm
//     (activate, deactivate): propose (v3_server.go): a request ID, a
//     waiter, raft.ProposeAsync, then the applier's result.
//   - LeaseRenew, LeaseTimeToLive: on the leader, its lessor after its
//     applied index reaches its commit index; on a follower, forwarded to
//     the leader's peer URL (leaseForwarder; the leader answers in
//     lease_glue.go and lease_batch.go).
//   - Watch: the API layer's streams over Store().
//   - MemberList, Status, Hash, HashKV, Snapshot, Defragment, MoveLeader,
//     Alarm GET: v3_server.go and alarms.go, over the state's handle.
//   - The peer URL (PeerHandler, peer.go): the raft transport, forwarded
//     lease requests, /members and /version.
package server
