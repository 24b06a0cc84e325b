package server

import (
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// raftLoop is the dispatcher over Ready: hand committed entries to the
// applier, send what may go before the persist, persist, send the rest,
// advance. Committed entries are applied only once the Ready that
// carried them is durable.
func (m *Member) raftLoop() {
	ticker := time.NewTicker(time.Duration(m.cfg.TickMs) * time.Millisecond)
	defer ticker.Stop()
	var islead bool
	for {
		select {
		case <-ticker.C:
			m.node.Tick()
		case rd := <-m.node.Ready():
			if rd.SoftState != nil {
				islead = m.updateSoftState(rd.SoftState)
			}
			if !raft.IsEmptyHardState(rd.HardState) {
				m.term.Store(rd.Term)
				m.committedIndex.Store(rd.Commit)
			}
			for _, rs := range rd.ReadStates {
				select {
				case m.readStateC <- rs:
				default:
					// The read loop takes the newest; an old one can go.
					select {
					case <-m.readStateC:
					default:
					}
					m.readStateC <- rs
				}
			}
			ap := toApply{
				entries:   rd.CommittedEntries,
				snapshot:  rd.Snapshot,
				persisted: make(chan struct{}),
				applied:   make(chan struct{}),
				early:     applyEarly(rd),
			}
			select {
			case m.applyc <- ap:
			case <-m.stopping:
				return
			}

			var later []raftpb.Message
			if islead {
				// The leader writes its log in parallel with replicating it
				// (Raft thesis §10.2.1); answers must wait for the disk.
				now := make([]raftpb.Message, 0, len(rd.Messages))
				for _, msg := range rd.Messages {
					if raft.CanSendBeforePersist(msg) {
						now = append(now, msg)
					} else {
						later = append(later, msg)
					}
				}
				m.transport.Send(m.processMessages(now))
			} else {
				later = rd.Messages
			}

			if !raft.IsEmptySnap(rd.Snapshot) {
				// The snapshot file first: the WAL's marker must never name a
				// snapshot that is not on disk.
				if err := m.snapshotter.SaveSnap(rd.Snapshot); err != nil {
					m.fatal("failed to save snapshot", err)
					return
				}
			}
			if err := m.wal.Save(rd.HardState, rd.Entries); err != nil {
				m.fatal("failed to save raft hard state and entries", err)
				return
			}
			if !raft.IsEmptySnap(rd.Snapshot) {
				mk := wal.Marker{Index: rd.Snapshot.Metadata.Index, Term: rd.Snapshot.Metadata.Term}
				if err := m.wal.SaveSnapshot(mk); err != nil {
					m.fatal("failed to save snapshot marker", err)
					return
				}
				if err := m.raftStorage.ApplySnapshot(rd.Snapshot); err != nil {
					m.fatal("failed to apply snapshot to raft storage", err)
					return
				}
				if err := m.wal.ReleaseLockTo(rd.Snapshot.Metadata.Index); err != nil {
					m.lg.Warn("failed to release WAL", zap.Error(err))
				}
			}
			if err := m.raftStorage.Append(rd.Entries); err != nil {
				m.fatal("failed to append to raft storage", err)
				return
			}
			m.transport.Send(m.processMessages(later))
			close(ap.persisted)

			// A conf change or a snapshot changes what raft must know
			// before its next Ready: wait for the applier.
			if !raft.IsEmptySnap(rd.Snapshot) || hasConfChange(rd.CommittedEntries) {
				select {
				case <-ap.applied:
				case <-m.stopping:
					return
				}
			}
			m.node.Advance()
		case <-m.stopping:
			return
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

// updateSoftState records a change of leader or role; it reports whether
// this member leads.
func (m *Member) updateSoftState(ss *raft.SoftState) bool {
	old := m.lead.Swap(ss.Lead)
	islead := ss.RaftState == raft.StateLeader
	if old != ss.Lead {
		m.metrics.leaderChanges.Inc()
		if ss.Lead != 0 {
			m.lg.Info("leader changed", zap.String("local-member-id", idString(m.id)),
				zap.String("leader", idString(ss.Lead)), zap.Uint64("term", m.term.Load()))
		} else {
			m.lg.Info("no leader", zap.String("local-member-id", idString(m.id)))
		}
		m.notifyLeaderChanged()
	}
	if ss.Lead != 0 {
		m.metrics.hasLeader.Set(1)
	} else {
		m.metrics.hasLeader.Set(0)
	}
	if islead {
		m.metrics.isLeader.Set(1)
		// Leases are owned by the leader: give them a fresh full TTL from
		// now, extended by an election timeout for the time the old
		// leader's keepalives may have been lost.
		m.lessor.Promote(m.cfg.ElectionTimeout())
	} else {
		m.metrics.isLeader.Set(0)
		m.lessor.Demote()
	}
	return islead
}

// processMessages drops messages to removed members and bounds what a
// follower needs to hear about a snapshot.
func (m *Member) processMessages(ms []raftpb.Message) []raftpb.Message {
	out := ms[:0]
	for _, msg := range ms {
		if m.cluster.isRemoved(msg.To) {
			continue
		}
		out = append(out, msg)
	}
	return out
}

// fatal stops the member after an unrecoverable storage error: the
// member must not go on with state it could not persist.
func (m *Member) fatal(msg string, err error) {
	m.lg.Error(msg, zap.Error(err))
	m.failed.Store(true)
	go m.Stop()
}
