package server

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// maybeTriggerSnapshot takes a raft snapshot every SnapshotCount applied
// entries and compacts the raft log behind it, keeping
// SnapshotCatchUpEntries for slow followers.
func (m *Member) maybeTriggerSnapshot() {
	applied := m.appliedIndex.Load()
	if applied-m.snapshotIndex <= m.cfg.SnapshotCount {
		return
	}
	m.lg.Info("triggering snapshot", zap.String("local-member-id", idString(m.id)),
		zap.Uint64("local-member-applied-index", applied), zap.Uint64("local-member-snapshot-index", m.snapshotIndex),
		zap.Uint64("local-member-snapshot-count", m.cfg.SnapshotCount))
	// The WAL before the snapshot will be released: everything it holds
	// must be in the backend on disk first.
	if err := m.backend().ForceCommit(); err != nil {
		m.fatal("failed to commit backend before snapshot", err)
		return
	}
	cs := m.confState
	snapshot, err := m.raftStorage.CreateSnapshot(applied, &cs, nil)
	if err != nil {
		if err == raft.ErrSnapOutOfDate {
			return
		}
		m.fatal("failed to create snapshot", err)
		return
	}
	if err := m.snapshotter.SaveSnap(snapshot); err != nil {
		m.fatal("failed to save snapshot", err)
		return
	}
	if err := m.wal.SaveSnapshot(walMarker(snapshot)); err != nil {
		m.fatal("failed to save snapshot marker", err)
		return
	}
	if err := m.wal.ReleaseLockTo(snapshot.Metadata.Index); err != nil {
		m.lg.Warn("failed to release WAL", zap.Error(err))
	}
	m.snapshotIndex = applied
	m.releaseSnapDBs(applied)
	compactIndex := uint64(1)
	if applied > m.cfg.SnapshotCatchUpEntries {
		compactIndex = applied - m.cfg.SnapshotCatchUpEntries
	}
	if err := m.raftStorage.Compact(compactIndex); err != nil && err != raft.ErrCompacted {
		m.lg.Warn("failed to compact raft log", zap.Error(err))
	}
	m.lg.Info("saved snapshot", zap.Uint64("snapshot-index", snapshot.Metadata.Index), zap.Uint64("compact-index", compactIndex))
}

// applySnapshot replaces the member's state with a snapshot from the
// leader: its database arrived with the MsgSnap and was saved by the
// transport.
func (m *Member) applySnapshot(s raftpb.Snapshot) {
	index := s.Metadata.Index
	if index <= m.appliedIndex.Load() {
		return
	}
	m.lg.Info("applying snapshot", zap.String("local-member-id", idString(m.id)), zap.Uint64("incoming-snapshot-index", index))
	path, err := m.snapshotter.DBFilePath(index)
	if err != nil {
		m.fatal("no database for the received snapshot", err)
		return
	}
	// Close the old backend before taking its file name: nothing else
	// writes while the applier is here, and readers get the new one.
	newPath := m.cfg.BackendPath()
	old := m.backend()
	if err := old.ForceCommit(); err != nil {
		m.lg.Warn("failed to commit old backend", zap.Error(err))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := old.Close(); err != nil {
		m.lg.Warn("failed to close old backend", zap.Error(err))
	}
	if err := os.Rename(path, newPath); err != nil {
		m.fatal("failed to move snapshot database into place", err)
		return
	}
	be, err := backend.Open(backend.Config{
		Path:          newPath,
		BatchInterval: m.cfg.BackendBatchInterval,
		BatchLimit:    m.cfg.BackendBatchLimit,
		OnCommit:      m.metrics.observeBackendCommit,
	})
	if err != nil {
		m.fatal("failed to open snapshot database", err)
		return
	}
	m.be = be
	if err := initBuckets(be); err != nil {
		m.fatal("failed to prepare snapshot database", err)
		return
	}
	if err := recoverLeases(m.lessor, be); err != nil {
		m.fatal("failed to recover leases from snapshot", err)
		return
	}
	// Stop-gap until the member's backend swaps its file in place
	// (mvcc.Store.Restore's contract): the store still holds the backend
	// it was opened with, closed above, so rebuilding fails and the member
	// stops here.
	if err := m.store.Restore(func(*backend.Backend) error { return nil }); err != nil {
		m.fatal("failed to restore store from snapshot", err)
		return
	}
	m.consistIndex, _ = m.store.ConsistentIndex()
	if m.alarms, err = loadAlarms(be); err != nil {
		m.fatal("failed to load alarms from snapshot", err)
		return
	}
	if err := m.cluster.load(m.store); err != nil {
		m.fatal("failed to load membership from snapshot", err)
		return
	}
	for _, mem := range m.cluster.list() {
		if mem.ID != m.id {
			m.transport.AddPeer(mem.ID, mem.PeerURLs)
		}
	}
	m.confState = s.Metadata.ConfState
	m.snapshotIndex = index
	m.appliedIndex.Store(index)
	m.appliedTerm.Store(s.Metadata.Term)
	m.appliedWait.trigger(index)
	m.snapshotApplied.fire()
	m.releaseSnapDBs(index)
	m.lg.Info("applied snapshot", zap.Uint64("snapshot-index", index), zap.Uint64("consistent-index", m.consistIndex))
}

// raftGlue is the member as the transport's Raft.
type raftGlue Member

func (g *raftGlue) Process(ctx context.Context, msg raftpb.Message) error {
	m := (*Member)(g)
	if m.cluster.isRemoved(msg.From) {
		return fmt.Errorf("member %s was removed from the cluster", idString(msg.From))
	}
	return m.node.Step(ctx, msg)
}

func (g *raftGlue) IsIDRemoved(id uint64) bool { return (*Member)(g).cluster.isRemoved(id) }

func (g *raftGlue) ReportUnreachable(id uint64) { (*Member)(g).node.ReportUnreachable(id) }

func (g *raftGlue) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	(*Member)(g).node.ReportSnapshot(id, status)
}

// snapshotGlue gives the transport the database that goes with a
// snapshot, and stores the one that comes with a received snapshot.
type snapshotGlue Member

func (g *snapshotGlue) OpenSnapshotDB(index uint64) (int64, io.ReadCloser, error) {
	m := (*Member)(g)
	snap, err := m.backend().Snapshot()
	if err != nil {
		return 0, nil, err
	}
	size := snap.Size()
	pr, pw := io.Pipe()
	go func() {
		_, err := snap.WriteTo(pw)
		snap.Close()
		pw.CloseWithError(err)
	}()
	return size, pr, nil
}

func walMarker(s raftpb.Snapshot) wal.Marker {
	return wal.Marker{Index: s.Metadata.Index, Term: s.Metadata.Term}
}

func (g *snapshotGlue) SaveSnapshotDB(index uint64, r io.Reader) (int64, error) {
	return (*Member)(g).snapshotter.SaveDBFrom(r, index)
}

// releaseSnapDBs removes received database snapshots older than index:
// the backend holds at least as much (one left by a crash, or a transfer
// superseded by a newer one).
func (m *Member) releaseSnapDBs(index uint64) {
	removed, err := m.snapshotter.ReleaseSnapDBs(index)
	if err != nil {
		m.lg.Warn("failed to release old database snapshots", zap.Error(err))
	}
	for _, path := range removed {
		m.lg.Info("removed old database snapshot", zap.String("path", path))
	}
}
