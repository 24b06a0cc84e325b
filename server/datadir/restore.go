package datadir

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// RestoreConfig describes a member of a new cluster to create from a
// database snapshot (the file `snapshot save` writes).
type RestoreConfig struct {
	// SnapshotPath is the snapshot file.
	SnapshotPath string
	// Name, InitialCluster, InitialClusterToken and PeerURLs are the new
	// member's --name, --initial-cluster, --initial-cluster-token and
	// --initial-advertise-peer-urls; the member and cluster IDs follow
	// from them as at a bootstrap.
	Name                string
	InitialCluster      map[string][]url.URL
	InitialClusterToken string
	PeerURLs            []url.URL
	// DataDir is created (it must not exist or be empty); WALDir, if set,
	// holds the WAL instead of DataDir/member/wal (it must not exist).
	DataDir string
	WALDir  string
	// SkipHashCheck accepts a file without the SHA-256 that `snapshot save`
	// appends (a database file copied from a data dir).
	SkipHashCheck bool
	// InitialMmapSize is bbolt's initial memory map size while the
	// restored database is rewritten (0: the backend's default, etcd's 10 GiB).
	InitialMmapSize uint64
	Logger          *zap.Logger
}

// snapshotHasHash reports whether a snapshot file of size n ends with the
// SHA-256 of what precedes it: bbolt files are a whole number of pages,
// so a remainder of 32 modulo 512 is the hash.
func snapshotHasHash(n int64) bool { return n%512 == sha256.Size }

// RestoreSnapshot creates the data dir of one member of a new cluster
// holding the snapshot's keys, leases and alarms. Every member of the new
// cluster is restored from the same file with its own name; started with
// the same --initial-cluster and token, they form the cluster.
//
// The database keeps its revisions; its membership is replaced by the new
// cluster's, and its consistent index set to the end of a raft log of one
// entry per member (term 1), which a raft snapshot at that index stands
// for, as etcd's restore does.
func RestoreSnapshot(cfg RestoreConfig) error {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Name + ".etcd"
	}
	sc := Layout{DataDir: cfg.DataDir, WALDir: cfg.WALDir}
	members, self, err := membership.InitialMembers(cfg.InitialCluster, cfg.InitialClusterToken, cfg.Name, cfg.PeerURLs)
	if err != nil {
		return err
	}
	if names, err := os.ReadDir(cfg.DataDir); err == nil && len(names) > 0 {
		return fmt.Errorf("data-dir %q not empty or could not be read", cfg.DataDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data-dir %q not empty or could not be read", cfg.DataDir)
	}
	if cfg.WALDir != "" {
		if _, err := os.Stat(cfg.WALDir); err == nil {
			return fmt.Errorf("wal-dir %q exists", cfg.WALDir)
		}
	}
	// A missing or unreadable snapshot must not leave a data dir behind
	// that a corrected retry would find not empty.
	src, err := os.Open(cfg.SnapshotPath)
	if err != nil {
		return err
	}
	src.Close()
	// etcdutl's log lines: these two around the restore, and its
	// membership's as it replaces the database's members.
	logFields := []zap.Field{zap.String("path", cfg.SnapshotPath), zap.String("wal-dir", sc.WALPath()),
		zap.String("data-dir", cfg.DataDir), zap.String("snap-dir", sc.SnapDir()),
		zap.Uint64("initial-memory-map-size", cfg.InitialMmapSize)}
	lg.Info("restoring snapshot", logFields...)
	if err := os.MkdirAll(sc.SnapDir(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", sc.SnapDir(), err)
	}
	if err := copySnapshotDB(cfg.SnapshotPath, sc.BackendPath(), cfg.SkipHashCheck); err != nil {
		return err
	}
	if err := backend.Verify(sc.BackendPath()); err != nil {
		return fmt.Errorf("snapshot %s: %w", cfg.SnapshotPath, err)
	}

	ids := membership.IDs(members)
	clusterID := membership.ClusterIDFor(ids)
	// The log the raft snapshot stands for: one conf change per member.
	const term = 1
	index := uint64(len(members))
	lg.Info("Trimming membership information from the backend...")
	if err := rewriteRestoredDB(sc.BackendPath(), int(cfg.InitialMmapSize), members, index, term); err != nil {
		return err
	}
	for _, m := range members {
		lg.Info("added member", zap.String("cluster-id", membership.IDString(clusterID)), zap.String("local-member-id", "0"),
			zap.String("added-peer-id", membership.IDString(m.ID)), zap.Strings("added-peer-peer-urls", m.PeerURLs),
			zap.Bool("added-peer-is-learner", m.IsLearner))
	}

	meta, err := proto.Marshal(&pb.Metadata{NodeID: proto.Uint64(self.ID), ClusterID: proto.Uint64(clusterID)})
	if err != nil {
		return err
	}
	w, err := wal.Create(vfs.OS, sc.WALPath(), meta)
	if err != nil {
		return fmt.Errorf("create WAL: %w", err)
	}
	defer w.Close()
	ents := make([]raftpb.Entry, len(members))
	for i, mem := range members {
		ctx, err := json.Marshal(mem)
		if err != nil {
			return err
		}
		cc := raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: mem.ID, Context: ctx}
		data, err := cc.Marshal()
		if err != nil {
			return err
		}
		ents[i] = raftpb.Entry{Type: raftpb.EntryConfChange, Term: term, Index: uint64(i + 1), Data: data}
	}
	if err := w.Save(raftpb.HardState{Term: term, Vote: members[0].ID, Commit: index}, ents); err != nil {
		return fmt.Errorf("write WAL: %w", err)
	}
	snapshotter, err := snap.New(vfs.OS, sc.SnapDir())
	if err != nil {
		return err
	}
	// The membership as v2 store JSON, as etcdutl writes it: etcd 3.5 and
	// 3.6 read it when they start on the restored data dir.
	data, err := membership.V2StoreJSON(members, nil, "")
	if err != nil {
		return fmt.Errorf("encode the membership: %w", err)
	}
	rs := raftpb.Snapshot{Data: data, Metadata: raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: raftpb.ConfState{Voters: slices.Clone(ids)}}}
	if err := snapshotter.SaveSnap(rs); err != nil {
		return fmt.Errorf("write raft snapshot: %w", err)
	}
	if err := w.SaveSnapshot(rs.Metadata); err != nil {
		return fmt.Errorf("write WAL snapshot marker: %w", err)
	}
	lg.Info("restored snapshot", logFields...)
	return nil
}

// copySnapshotDB copies the snapshot file to the backend path, checking
// and removing the SHA-256 that `snapshot save` appends.
func copySnapshotDB(from, to string, skipHashCheck bool) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	hasHash := snapshotHasHash(size)
	if !hasHash && !skipHashCheck {
		return errors.New("snapshot missing hash but --skip-hash-check=false")
	}
	dbSize := size
	if hasHash {
		dbSize -= sha256.Size
	}
	dst, err := os.OpenFile(to, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer dst.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), io.LimitReader(src, dbSize)); err != nil {
		return fmt.Errorf("copy snapshot %s: %w", from, err)
	}
	if hasHash && !skipHashCheck {
		want := make([]byte, sha256.Size)
		if _, err := io.ReadFull(src, want); err != nil {
			return fmt.Errorf("read snapshot hash: %w", err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, want) {
			return fmt.Errorf("expected sha256 %v, got %v", want, got)
		}
	}
	return dst.Sync()
}

// rewriteRestoredDB replaces the database's membership with members and
// sets its consistent index, in one transaction.
func rewriteRestoredDB(path string, mmapSize int, members []*membership.Member, index, term uint64) error {
	return rewriteMembershipDB(path, mmapSize, members, func(tx *mvcc.WriteTxn) { tx.SetConsistentIndex(index, term) })
}

// rewriteMembershipDB replaces the database's membership (members and
// removed members) with members and calls also, if not nil, in the same
// transaction.
func rewriteMembershipDB(path string, mmapSize int, members []*membership.Member, also func(*mvcc.WriteTxn)) error {
	be, err := backend.Open(backend.Config{Path: path, MmapSize: mmapSize})
	if err != nil {
		return err
	}
	defer be.Close()
	if err := schema.Create(be); err != nil {
		return err
	}
	store, err := mvcc.NewStore(be, nil, mvcc.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	var old [][2][]byte
	view := be.ReadTx()
	for _, b := range [][]byte{schema.Members, schema.MembersRemoved, schema.RefusedConfChanges} {
		err := view.ForEach(b, func(k, _ []byte) error {
			old = append(old, [2][]byte{b, bytes.Clone(k)})
			return nil
		})
		if err != nil {
			view.End()
			return err
		}
	}
	view.End()
	tx := store.Write()
	for _, bk := range old {
		if err := tx.UnsafeDelete(bk[0], bk[1]); err != nil {
			tx.End()
			return err
		}
	}
	for _, mem := range members {
		if err := membership.Save(tx, mem); err != nil {
			tx.End()
			return err
		}
	}
	if also != nil {
		also(tx)
	}
	if err := tx.End(); err != nil {
		return err
	}
	return be.ForceCommit()
}
