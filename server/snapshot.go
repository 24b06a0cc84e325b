package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// maybeTriggerSnapshot takes a raft snapshot every snapshotCount applied
// entries and compacts the raft log behind it, keeping catchUpEntries for
// slow followers. It also takes one as soon as a member was added: a
// leader sends a new member whose log is empty its newest snapshot, and
// raft refuses a snapshot whose configuration does not hold it (the
// member would be sent the same snapshot forever). etcd rewrites the
// snapshot message instead; basalt's snapshots are small (the database
// stays in the backend), so it takes a new one. The steps, and why in
// this order (doc.go):
//
//  1. commit the backend: the WAL before the snapshot will be released,
//     so everything it holds must be in the backend on disk first;
//  2. save the snapshot file, then its marker in the WAL (never a marker
//     without its file);
//  3. release the WAL before it and compact the in-memory log;
//  4. let the purge loop remove what is now unneeded.
func (a *applier) maybeTriggerSnapshot() error {
	applied := a.appliedIndex.Load()
	if applied-a.snapshotIndex <= a.snapshotCount && !a.memberAdded {
		return nil
	}
	a.memberAdded = false
	a.lg.Info("triggering snapshot", zap.String("local-member-id", idString(a.id)),
		zap.Uint64("local-member-applied-index", applied), zap.Uint64("local-member-snapshot-index", a.snapshotIndex),
		zap.Uint64("local-member-snapshot-count", a.snapshotCount))
	if err := a.st.be.ForceCommit(); err != nil {
		return fmt.Errorf("commit the backend before a snapshot: %w", err)
	}
	cs := a.confState
	data, err := a.snapshotData()
	if err != nil {
		return fmt.Errorf("encode the data of the snapshot at %d: %w", applied, err)
	}
	snapshot, err := a.raft.storage.CreateSnapshot(applied, &cs, data)
	if err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("create snapshot at %d: %w", applied, err)
	}
	fpSnapshotBeforeSaveSnap.Hit()
	if err := a.raft.snapshotter.SaveSnap(snapshot); err != nil {
		return fmt.Errorf("save snapshot at %d: %w", applied, err)
	}
	fpSnapshotBeforeWALSaveSnapshot.Hit()
	if err := a.raft.wal.SaveSnapshot(snapshot.Metadata); err != nil {
		return fmt.Errorf("save snapshot marker at %d: %w", applied, err)
	}
	fpSnapshotAfterWALSaveSnapshot.Hit()
	if err := a.raft.wal.ReleaseLockTo(snapshot.Metadata.Index); err != nil {
		a.lg.Warn("failed to release WAL", zap.Error(err))
	}
	a.snapshotIndex = applied
	a.releaseSnapDBs(applied)
	compactIndex := uint64(1)
	if applied > a.catchUpEntries {
		compactIndex = applied - a.catchUpEntries
	}
	if err := a.raft.storage.Compact(compactIndex); err != nil && !errors.Is(err, raft.ErrCompacted) {
		a.lg.Warn("failed to compact raft log", zap.Error(err))
	}
	a.lg.Info("saved snapshot", zap.Uint64("snapshot-index", snapshot.Metadata.Index), zap.Uint64("compact-index", compactIndex))
	a.raft.purgeNow()
	return nil
}

// snapshotData is a snapshot's data, etcd's: the v2 store, its /0 the
// membership (which etcd 3.5 and 3.6 read when they start on this data
// dir).
func (a *applier) snapshotData() ([]byte, error) {
	ms, err := membership.V2StoreJSON(a.st.cluster.Members(), a.st.cluster.RemovedIDs(), a.st.clusterVersion())
	if err != nil {
		return nil, err
	}
	return a.st.v2.SaveWith(ms, v2MembershipPrefix)
}

// installSnapshot replaces the state with a snapshot from the leader. Its
// database arrived with the MsgSnap and was saved, verified, as
// %016x.snap.db; the raft loop has made the snapshot's marker and the
// hard state durable. The database is renamed over the backend, and the
// store, lessor, alarms and membership are recovered from it while
// readers of the key-value store are held off (mvcc.Store.Restore): no
// reader sees a closed backend or a half-replaced index. A crash at any
// step restarts into the snapshot (bootstrap swaps the received database
// in if the rename had not happened).
func (a *applier) installSnapshot(s raftpb.Snapshot) error {
	index := s.Metadata.Index
	if index <= a.appliedIndex.Load() {
		return nil
	}
	a.metrics.snapshotApplyInProgress.Inc()
	defer a.metrics.snapshotApplyInProgress.Dec()
	a.lg.Info("applying snapshot", zap.String("local-member-id", idString(a.id)), zap.Uint64("incoming-snapshot-index", index))
	path, err := a.raft.snapshotter.DBFilePath(index)
	if err != nil {
		return fmt.Errorf("find the database of the snapshot at %d: %w", index, err)
	}
	fpApplyBeforeOpenSnapshot.Hit()
	err = a.st.kv.Restore(func(be *backend.Backend) error {
		if err := be.ReplaceWith(path); err != nil {
			return err
		}
		fpApplyAfterOpenSnapshot.Hit()
		if err := schema.Create(be); err != nil {
			return err
		}
		view := be.ReadTx()
		defer view.End()
		if err := a.st.lessor.Recover(view); err != nil {
			return err
		}
		fpApplyAfterRestoreLeases.Hit()
		if err := a.st.alarms.recover(view); err != nil {
			return err
		}
		fpApplyAfterRestoreAlarms.Hit()
		if err := a.st.cluster.Recover(view); err != nil {
			return err
		}
		fpApplyAfterRestoreMembership.Hit()
		if err := a.st.auth.Recover(view); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("install the snapshot at %d: %w", index, err)
	}
	fpApplyAfterRestoreKV.Hit()
	if err := recoverV2Store(a.st.v2, &s); err != nil {
		return err
	}
	a.consistIndex, _ = a.st.kv.ConsistentIndex()
	// The membership may have changed in ways the log no longer tells
	// (members updated or removed): the transport follows it, as etcd's.
	peers := map[uint64][]string{}
	for _, mem := range a.st.cluster.Members() {
		if mem.ID != a.id {
			peers[mem.ID] = mem.PeerURLs
		}
	}
	a.raft.transport.SetPeers(peers)
	a.confState = s.Metadata.ConfState
	a.snapshotIndex = index
	a.appliedIndex.Store(index)
	a.appliedTerm.Store(s.Metadata.Term)
	a.appliedWait.trigger(index)
	a.snapshotInstalled.fire()
	fpApplyBeforeReleaseSnapDBs.Hit()
	a.releaseSnapDBs(index)
	a.lg.Info("applied snapshot", zap.Uint64("snapshot-index", index), zap.Uint64("consistent-index", a.consistIndex))
	return nil
}

// releaseSnapDBs removes received database snapshots older than index:
// the backend holds at least as much (one left by a crash, or a transfer
// superseded by a newer one).
func (a *applier) releaseSnapDBs(index uint64) {
	releaseSnapDBs(a.lg, a.raft.snapshotter, index)
}

func walMarker(s raftpb.Snapshot) wal.Marker {
	return wal.Marker{Index: s.Metadata.Index, Term: s.Metadata.Term}
}

// releaseSnapDBs removes the received databases older than index.
func releaseSnapDBs(lg *zap.Logger, ss *snap.Snapshotter, index uint64) {
	removed, err := ss.ReleaseSnapDBs(index)
	if err != nil {
		lg.Warn("failed to release old database snapshots", zap.Error(err))
	}
	for _, path := range removed {
		lg.Info("removed old database snapshot", zap.String("path", path))
	}
}

// snapshotGlue gives the transport the database that goes with a
// snapshot the leader sends, and stores the one that comes with a
// snapshot received.
type snapshotGlue struct {
	st   *state
	snap *snap.Snapshotter
}

// OpenSnapshotDB streams a consistent copy of the backend, whatever the
// index: the backend is at or past it, and the consistent index inside
// tells the receiver where it is.
func (g snapshotGlue) OpenSnapshotDB(uint64) (int64, io.ReadCloser, error) {
	snap, err := g.st.be.Snapshot()
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

func (g snapshotGlue) SaveSnapshotDB(index uint64, r io.Reader) (int64, error) {
	return g.snap.SaveDBFrom(r, index)
}

// raftGlue is the raft node as the transport's Raft.
type raftGlue struct{ r *raftNode }

func (g raftGlue) Process(ctx context.Context, msg raftpb.Message) error {
	if g.r.cluster.IsRemoved(msg.From) {
		return fmt.Errorf("member %s was removed from the cluster", idString(msg.From))
	}
	g.r.stats.received(&msg)
	return g.r.node.Step(ctx, msg)
}

func (g raftGlue) IsIDRemoved(id uint64) bool { return g.r.cluster.IsRemoved(id) }

func (g raftGlue) ReportUnreachable(id uint64) {
	g.r.stats.unreachable(id)
	g.r.node.ReportUnreachable(id)
}

func (g raftGlue) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	g.r.node.ReportSnapshot(id, status)
}
