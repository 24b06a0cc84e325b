package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/v2store"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// BackupConfig describes `basaltutl backup`: a copy of a stopped member's
// data dir prepared to start, with --force-new-cluster, as the one member
// of a new cluster.
type BackupConfig struct {
	// DataDir is the member's data dir; WALDir its WAL if not in DataDir.
	DataDir, WALDir string
	// BackupDir is created; BackupWALDir, if set, holds the backup's WAL.
	BackupDir, BackupWALDir string
	// WithV3 copies the database. Without it the backup holds what etcd's
	// v2 store would: for basalt, no keys at all.
	WithV3 bool
	// LockTimeout bounds the wait for the database's file lock (a running
	// member holds it); 0 waits as long as it takes.
	LockTimeout time.Duration
	Logger      *zap.Logger
}

// BackupResult is the identity the backup was given.
type BackupResult struct {
	MemberID, ClusterID uint64
	// SnapshotIndex is the raft snapshot copied (0: none).
	SnapshotIndex uint64
	// Entries is the number of WAL entries copied, of which Dropped were
	// replaced by empty entries.
	Entries, Dropped int
}

// BackupError is a failed step of a backup: Msg is etcdutl's message for
// the step (it logs it at fatal level), Fields its log fields.
type BackupError struct {
	Msg    string
	Fields []zap.Field
	Err    error
}

func (e *BackupError) Error() string { return e.Msg + ": " + e.Err.Error() }
func (e *BackupError) Unwrap() error { return e.Err }

func backupErr(msg string, err error, fields ...zap.Field) error {
	return &BackupError{Msg: msg, Fields: append(fields, zap.Error(err)), Err: err}
}

// The member a backup holds, as etcdutl 3.5 names it: its peer URL says
// how to start it.
const (
	backupMemberName    = "etcdctl-v2-backup"
	backupMemberPeerURL = "http://use-flag--force-new-cluster:2080"
)

// Backup copies the newest raft snapshot, the WAL after it and the
// database of a stopped member into a new data dir, as etcdutl 3.5's
// backup does: the copy belongs to a new member ID and cluster ID, its
// snapshot's configuration and its database's membership hold that member
// alone, and the WAL keeps every entry's index and term but empties
// conf changes and member attribute updates (and, without WithV3, every
// v3 request), so the consistent index of the copied database still
// points into the same log. Started with --force-new-cluster it serves the
// same keys at the same revision.
//
// Unlike etcdutl 3.5, which kept the source's IDs in the WAL metadata, the
// WAL records the new IDs (as etcdctl 3.4 did): the copy cannot pass for
// the original member to its old peers.
func Backup(cfg BackupConfig) (BackupResult, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	src := Layout{DataDir: cfg.DataDir, WALDir: cfg.WALDir}
	dst := Layout{DataDir: cfg.BackupDir, WALDir: cfg.BackupWALDir}
	if err := createEmptyDir(dst.SnapDir()); err != nil {
		return BackupResult{}, backupErr("failed creating backup snapshot dir", err, zap.String("dest-snap", dst.SnapDir()))
	}
	res := BackupResult{}
	res.MemberID, res.ClusterID = newBackupIDs(time.Now())
	self := &membership.Member{ID: res.MemberID, Name: backupMemberName, PeerURLs: []string{backupMemberPeerURL}}

	// Opened only if it exists: a Snapshotter creates its directory.
	if _, err := os.ReadDir(src.SnapDir()); err != nil {
		return res, backupErr("saveSnap(Snapshoter.Load) failed", unwrapPathError(err))
	}
	// The database's lock, held to the end, keeps the member from running
	// meanwhile (and a running member makes the backup wait or fail) before
	// anything of the data dir is read.
	var srcDB *bolt.DB
	if _, err := os.Stat(src.BackendPath()); err == nil {
		if srcDB, err = openSourceDB(src.BackendPath(), cfg.LockTimeout); err != nil {
			return res, err
		}
		defer srcDB.Close()
	}
	snapshot, err := copyNewestSnapshot(src, dst, res.MemberID)
	if err != nil {
		return res, err
	}
	var marker wal.Marker
	if snapshot != nil {
		marker = wal.Marker{Index: snapshot.Metadata.Index, Term: snapshot.Metadata.Term}
		res.SnapshotIndex = marker.Index
	}
	hs, ents, err := readBackupWAL(lg, src.WALPath(), marker, cfg.WithV3)
	if err != nil {
		return res, err
	}
	res.Entries = len(ents)
	for _, e := range ents {
		if e.Type == raftpb.EntryNormal && len(e.Data) == 0 {
			res.Dropped++
		}
	}
	if cfg.WithV3 {
		if srcDB == nil {
			// Fails as etcdutl does.
			if srcDB, err = openSourceDB(src.BackendPath(), cfg.LockTimeout); err != nil {
				return res, err
			}
			defer srcDB.Close()
		}
		if err := copyBackupDB(srcDB, dst.BackendPath()); err != nil {
			return res, err
		}
	}
	var setIndex func(*mvcc.WriteTxn)
	if !cfg.WithV3 {
		// Nothing of the log is in the empty database: it stands for
		// everything committed.
		setIndex = func(tx *mvcc.WriteTxn) { tx.SetConsistentIndex(hs.Commit, hs.Term) }
	}
	if err := rewriteMembershipDB(dst.BackendPath(), 0, []*membership.Member{self}, setIndex); err != nil {
		return res, backupErr("bbolt tx.Membership failed", err)
	}

	meta, err := proto.Marshal(&pb.Metadata{NodeID: proto.Uint64(res.MemberID), ClusterID: proto.Uint64(res.ClusterID)})
	if err != nil {
		return res, backupErr("wal.Create failed", err)
	}
	w, err := wal.Create(vfs.OS, dst.WALPath(), meta)
	if err != nil {
		return res, backupErr("wal.Create failed", err)
	}
	defer w.Close()
	if err := w.Save(hs, ents); err != nil {
		return res, backupErr("wal.Save failed ", err)
	}
	if snapshot != nil {
		if err := w.SaveSnapshot(snapshot.Metadata); err != nil {
			return res, backupErr("SaveSnapshot", err)
		}
	}
	return res, nil
}

// newBackupIDs are the backup's member and cluster IDs, made as etcdutl
// makes them (its ID generator for member 0): the time in milliseconds,
// shifted past a counter of 8 bits, in 48 bits, plus 1 and 2.
func newBackupIDs(now time.Time) (member, cluster uint64) {
	base := (uint64(now.UnixMilli()) << 8) & (1<<48 - 1)
	return base + 1, base + 2
}

// createEmptyDir creates dir and its parents, and fails if dir exists
// with anything in it (etcd's fileutil.CreateDirAll).
func createEmptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		list := make([]string, len(names))
		for i, n := range names {
			list[i] = n.Name()
		}
		return fmt.Errorf("expected %q to be empty, got %q", dir, list)
	}
	return nil
}

// copyNewestSnapshot copies the newest raft snapshot the source WAL can
// be opened at (the newest intact one if the WAL cannot be read: reading
// it then fails next) with a configuration of member alone. It returns nil
// if there is none.
func copyNewestSnapshot(src, dst Layout, member uint64) (*raftpb.Snapshot, error) {
	const loadFailed = "saveSnap(Snapshoter.Load) failed"
	ss, err := snap.New(vfs.OS, src.SnapDir())
	if err != nil {
		return nil, backupErr(loadFailed, err)
	}
	var snapshot *raftpb.Snapshot
	if markers, merr := wal.ValidSnapshotMarkers(vfs.OS, src.WALPath()); merr == nil {
		snapshot, err = ss.LoadNewestAvailable(markers)
	} else {
		snapshot, err = ss.Load()
	}
	if errors.Is(err, snap.ErrNoSnapshot) {
		return nil, nil
	}
	if err != nil {
		return nil, backupErr(loadFailed, err)
	}
	snapshot.Metadata.ConfState = raftpb.ConfState{Voters: []uint64{member}}
	dss, err := snap.New(vfs.OS, dst.SnapDir())
	if err == nil {
		err = dss.SaveSnap(*snapshot)
	}
	if err != nil {
		return nil, backupErr("saveSnap(Snapshoter.SaveSnap) failed", err)
	}
	return snapshot, nil
}

// unwrapPathError keeps an *fs.PathError as the os package words it
// ("open DIR: no such file or directory"), which is what etcd prints.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: "open", Path: pe.Path, Err: pe.Err}
	}
	return err
}

// readBackupWAL reads the source WAL after marker and empties the entries
// a backup drops, keeping their index and term.
func readBackupWAL(lg *zap.Logger, dir string, marker wal.Marker, withV3 bool) (raftpb.HardState, []raftpb.Entry, error) {
	w, err := wal.OpenForRead(vfs.OS, dir, marker)
	if errors.Is(err, wal.ErrNoWAL) {
		err = errors.New("wal: file not found") // etcd's wal.ErrFileNotFound
	}
	if err != nil {
		return raftpb.HardState{}, nil, backupErr("wal.OpenForRead failed", unwrapPathError(err))
	}
	defer w.Close()
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		return hs, nil, backupErr("unexpected error while reading WAL", err)
	}
	for i := range ents {
		e := &ents[i]
		if why := droppedByBackup(e, withV3); why != "" {
			lg.Info(why, zap.Uint64("index", e.Index), zap.Uint64("term", e.Term))
			*e = raftpb.Entry{Type: raftpb.EntryNormal, Term: e.Term, Index: e.Index}
		}
	}
	return hs, ents, nil
}

// droppedByBackup says why a backup empties e (etcdutl's log message), or
// "" if it keeps it. Emptied entries are what a new leader appends: they
// change nothing when applied.
func droppedByBackup(e *raftpb.Entry, withV3 bool) string {
	if e.Type == raftpb.EntryConfChange {
		return "ignoring EntryConfChange raft entry"
	}
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return ""
	}
	if v2, _ := v2store.RequestFromEntry(e.Data); v2 != nil {
		// v2 requests are what a backup keeps (etcd also empties the PUTs
		// of member attributes, which basalt never proposes).
		return ""
	}
	var r pb.InternalRaftRequest
	if proto.Unmarshal(e.Data, &r) != nil {
		return "" // not a request: the member logs and skips it
	}
	switch {
	case r.ClusterMemberAttrSet != nil:
		return "ignoring cluster_member_attr_set"
	case !withV3 && r.Header != nil:
		return "ignoring v3 raft entry"
	}
	return ""
}

// openSourceDB opens the database read-only, waiting at most lockTimeout
// (0: as long as it takes) for a running member to release it.
func openSourceDB(path string, lockTimeout time.Duration) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, backupErr("timed out waiting to acquire lock on", err, zap.String("srcDB", path))
	}
	if err != nil {
		return nil, backupErr("bolt.Open FAILED", err)
	}
	return db, nil
}

// copyBackupDB copies the database to the file to, read in one
// transaction.
func copyBackupDB(db *bolt.DB, to string) error {
	tx, err := db.Begin(false)
	if err != nil {
		return backupErr("bbolt.BeginTx failed", err)
	}
	defer tx.Rollback()
	dst, err := os.OpenFile(to, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return backupErr("creation of destination file failed", err, zap.String("dest", to))
	}
	_, err = tx.WriteTo(dst)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return backupErr("bbolt write to destination file failed", err, zap.String("dest", to))
	}
	return nil
}
