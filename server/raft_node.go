package server

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/rafthttp"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// raftNode drives raft: it ticks, takes each Ready, persists it in the
// order doc.go gives, sends its messages, hands its snapshot and committed
// entries to the applier, and advances. It owns the raft node, the
// in-memory log, the WAL, the snapshot files and the transport; the
// applier uses them to apply conf changes and to save and install
// snapshots (which the raft loop then waits for).
type raftNode struct {
	lg   *zap.Logger
	id   uint64
	tick time.Duration

	node        raft.Node
	storage     *raft.MemoryStorage
	wal         *wal.WAL
	snapshotter *snap.Snapshotter
	transport   *rafthttp.Transport
	// cluster tells which members were removed: messages to them are
	// dropped, and from them refused.
	cluster *membership.Cluster
	// onRole is told of every Ready's soft state: the leader, whether
	// this member leads, and whether the leader changed.
	onRole func(lead uint64, isLeader, changed bool)
	// heartbeats tracks a leader's heartbeats, whose lateness metrics
	// counts.
	heartbeats heartbeatTracker
	// stats are the v2 API's statistics of raft traffic (v2_stats.go).
	stats   *raftStats
	metrics *metrics

	// Published to every goroutine.
	term, lead, committed atomic.Uint64
	leaderChanged         broadcast

	// readStates carries ReadIndex answers to the read loop; applyc each
	// Ready's work to the applier; purgec asks the purge loop to run now.
	readStates chan raft.ReadState
	applyc     chan toApply
	purgec     chan struct{}
}

// run is the dispatcher over Ready until stopping closes; it returns the
// error that must stop the member.
func (r *raftNode) run(stopping <-chan struct{}) error {
	ticker := time.NewTicker(r.tick)
	defer ticker.Stop()
	var islead bool
	for {
		select {
		case <-ticker.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handleReady(rd, &islead, stopping); err != nil {
				return err
			}
		case <-stopping:
			return nil
		}
	}
}

// handleReady carries out one Ready, in this order (doc.go explains it):
//
//  1. publish the term and commit index, then the soft state (a leader
//     change is announced with its term), and the ReadIndex answers;
//  2. hand the snapshot and committed entries to the applier (it applies
//     entries made durable by earlier Readies at once, the rest once step
//     5 is done);
//  3. a leader sends what may go before its own disk write (MsgApp,
//     MsgSnap, heartbeats: Raft thesis §10.2.1);
//  4. persist: the snapshot file, then its WAL marker, then the hard
//     state and entries (fsynced as raft's MustSync says), then, with a
//     snapshot, an fsync, so the hard state's commit covers the marker;
//  5. with a snapshot, give it to the in-memory log; append the entries
//     to the in-memory log; tell the applier the Ready is durable (it may
//     take a snapshot of what this Ready commits, which the in-memory log
//     must hold); with a snapshot, release the WAL before it;
//  6. send the other messages (votes, answers: they promise what is now
//     on disk);
//  7. with a snapshot or a conf change, wait for the applier (raft must
//     know the new configuration before its next Ready); advance.
func (r *raftNode) handleReady(rd raft.Ready, islead *bool, stopping <-chan struct{}) error {
	if !raft.IsEmptyHardState(rd.HardState) {
		r.term.Store(rd.Term)
		r.committed.Store(rd.Commit)
	}
	if rd.SoftState != nil {
		*islead = r.updateSoftState(rd.SoftState)
	}
	r.publishReadStates(rd.ReadStates)

	hasSnap := !raft.IsEmptySnap(rd.Snapshot)
	ap := toApply{
		entries:   rd.CommittedEntries,
		snapshot:  rd.Snapshot,
		persisted: make(chan struct{}),
		applied:   make(chan struct{}),
		early:     applyEarly(rd),
	}
	select {
	case r.applyc <- ap:
	case <-stopping:
		return nil
	}

	later := rd.Messages
	if *islead {
		r.noteLateHeartbeats(rd.Messages)
		var now []raftpb.Message
		now, later = splitBeforePersist(rd.Messages)
		fpRaftBeforeLeaderSend.Hit()
		r.stats.sent(now)
		r.transport.Send(r.dropRemoved(now))
	}

	if hasSnap {
		fpRaftBeforeSaveSnap.Hit()
		if err := r.snapshotter.SaveSnap(rd.Snapshot); err != nil {
			return fmt.Errorf("save the snapshot file at %d: %w", rd.Snapshot.Metadata.Index, err)
		}
		fpRaftBeforeWALSaveSnapshot.Hit()
		if err := r.wal.SaveSnapshot(rd.Snapshot.Metadata); err != nil {
			return fmt.Errorf("save the snapshot marker at %d: %w", rd.Snapshot.Metadata.Index, err)
		}
		fpRaftAfterSaveSnap.Hit()
	}
	fpRaftBeforeSave.Hit()
	if err := r.wal.Save(rd.HardState, rd.Entries); err != nil {
		return fmt.Errorf("save raft hard state and entries: %w", err)
	}
	fpRaftAfterSave.Hit()
	if hasSnap {
		// A commit-only hard state is written without an fsync; the
		// snapshot's must be on disk before the applier installs it.
		if err := r.wal.Sync(); err != nil {
			return fmt.Errorf("sync the WAL after a snapshot: %w", err)
		}
		fpRaftAfterSync.Hit()
		fpRaftBeforeApplySnap.Hit()
		if err := r.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("apply the snapshot at %d to the raft log: %w", rd.Snapshot.Metadata.Index, err)
		}
		fpRaftAfterApplySnap.Hit()
	}
	// The applier may take a snapshot at an index this Ready commits as
	// soon as it hears the Ready is durable: the in-memory log must hold
	// the entries by then.
	if err := r.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("append to the raft log: %w", err)
	}
	close(ap.persisted)
	fpRaftAfterPersistNotify.Hit()
	if hasSnap {
		if err := r.wal.ReleaseLockTo(rd.Snapshot.Metadata.Index); err != nil {
			r.lg.Warn("failed to release WAL", zap.Error(err))
		}
		fpRaftAfterWALRelease.Hit()
	}
	fpRaftBeforeFollowerSend.Hit()
	r.stats.sent(later)
	r.transport.Send(r.dropRemoved(later))

	if hasSnap || hasConfChange(rd.CommittedEntries) {
		if !waitClosed(ap.applied, stopping) {
			return nil
		}
	}
	fpRaftBeforeAdvance.Hit()
	r.node.Advance()
	return nil
}

// noteLateHeartbeats warns of, and counts, the heartbeats among a
// leader's messages that go out late (etcd's check and message).
func (r *raftNode) noteLateHeartbeats(msgs []raftpb.Message) {
	now := time.Now()
	for i := range msgs {
		if msgs[i].Type != raftpb.MsgHeartbeat {
			continue
		}
		if late := r.heartbeats.observe(msgs[i].To, now); late > 0 {
			r.lg.Warn("leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk",
				zap.String("to", idString(msgs[i].To)), zap.Duration("heartbeat-interval", r.tick),
				zap.Duration("expected-duration", 2*r.tick), zap.Duration("exceeded-duration", late))
			r.metrics.heartbeatSendFailures.Inc()
		}
	}
}

// splitBeforePersist separates the messages a leader may send while its
// Ready is being written from those that must wait for the disk.
func splitBeforePersist(msgs []raftpb.Message) (now, later []raftpb.Message) {
	for _, msg := range msgs {
		if raft.CanSendBeforePersist(msg) {
			now = append(now, msg)
		} else {
			later = append(later, msg)
		}
	}
	return now, later
}

func (r *raftNode) publishReadStates(rss []raft.ReadState) {
	for _, rs := range rss {
		select {
		case r.readStates <- rs:
		default:
			// The read loop takes the newest; an old one can go.
			select {
			case <-r.readStates:
			default:
			}
			r.readStates <- rs
		}
	}
}

// applyEarly reports whether a Ready's committed entries may be applied
// while the Ready is being written: they were all written durably by
// earlier Readies (none is among this Ready's entries, which a follower
// may be told are committed in the same message that carries them), and
// no snapshot comes with them. Such entries are committed by a quorum and
// durable here, so applying (and answering) does not wait for this
// Ready's fsync of newer entries, as etcd does not. Only the commit index
// in this Ready's hard state may lag on disk: after a crash the member
// finds those entries in its log, raft commits them again, and the
// backend's consistent index skips them.
func applyEarly(rd raft.Ready) bool {
	n := len(rd.CommittedEntries)
	if n == 0 || !raft.IsEmptySnap(rd.Snapshot) {
		return false
	}
	return len(rd.Entries) == 0 || rd.CommittedEntries[n-1].Index < rd.Entries[0].Index
}

func hasConfChange(ents []raftpb.Entry) bool {
	for i := range ents {
		if ents[i].Type == raftpb.EntryConfChange {
			return true
		}
	}
	return false
}

// updateSoftState records a change of leader or role and reports whether
// this member leads.
func (r *raftNode) updateSoftState(ss *raft.SoftState) bool {
	islead := ss.RaftState == raft.StateLeader
	changed := r.lead.Swap(ss.Lead) != ss.Lead
	if changed {
		if ss.Lead != 0 {
			r.lg.Info("leader changed", zap.String("local-member-id", idString(r.id)),
				zap.String("leader", idString(ss.Lead)), zap.Uint64("term", r.term.Load()))
		} else {
			r.lg.Info("no leader", zap.String("local-member-id", idString(r.id)))
		}
		r.leaderChanged.fire()
		r.heartbeats.reset()
		if islead {
			r.stats.becomeLeader()
		}
	}
	r.onRole(ss.Lead, islead, changed)
	return islead
}

// dropRemoved drops messages to removed members.
func (r *raftNode) dropRemoved(ms []raftpb.Message) []raftpb.Message {
	out := ms[:0]
	for _, msg := range ms {
		if !r.cluster.IsRemoved(msg.To) {
			out = append(out, msg)
		}
	}
	return out
}

// purgeNow asks the purge loop to run at once (a snapshot released WAL
// segments and older snapshot files).
func (r *raftNode) purgeNow() {
	select {
	case r.purgec <- struct{}{}:
	default:
	}
}
