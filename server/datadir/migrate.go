package datadir

import (
	"errors"
	"fmt"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	"github.com/coreos/go-semver/semver"
	"go.etcd.io/etcd/api/v3/version"
	"go.uber.org/zap"
)

// MigrateConfig describes `basaltutl migrate`: the storage version of a
// stopped member's data dir changed to Target's major.minor.
type MigrateConfig struct {
	DataDir string
	Target  semver.Version
	// Force records Target as the storage version when the migration
	// refuses (the plan or the WAL): not recommended.
	Force  bool
	Logger *zap.Logger
}

// Migrate changes the storage version of a stopped member's backend as
// etcdutl's migrate does, with its log lines: nothing if the backend
// already has Target ("storage version up-to-date"), else, after reading
// the WAL from its newest snapshot, schema.Migrate's steps, refusing a
// downgrade below the etcd version the WAL's entries need. With Force, a
// refusal is logged and Target is recorded anyway (below 3.6: the storage
// version removed). The caller checks that the backend exists and waits
// for its lock.
func Migrate(cfg MigrateConfig) error {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	l := Layout{DataDir: cfg.DataDir}
	be, err := backend.Open(backend.Config{Path: l.BackendPath()})
	if err != nil {
		return err
	}
	tx := be.BatchTx()
	tx.Lock()
	err = migrateLocked(lg, l, tx, cfg)
	if uerr := tx.Unlock(); err == nil {
		err = uerr
	}
	if err == nil {
		err = be.ForceCommit()
	}
	if cerr := be.Close(); err == nil {
		err = cerr
	}
	return err
}

func migrateLocked(lg *zap.Logger, l Layout, tx *backend.BatchTx, cfg MigrateConfig) error {
	current, err := schema.DetectBatchStorageVersion(tx)
	if err != nil {
		lg.Error("failed to detect storage version. Please make sure you are using data dir from etcd v3.5 and older")
		return err
	}
	if current == cfg.Target {
		lg.Info("storage version up-to-date", zap.String("storage-version", MajorMinor(current)))
		return nil
	}
	ents, err := readEntriesAfterNewestSnapshot(l.WALPath())
	if err != nil {
		lg.Error("Failed to finalize config", zap.Error(err))
		return err
	}
	walVersion := func() (*semver.Version, error) { return schema.MinimalEtcdVersion(ents) }
	err = schema.Migrate(lg, tx, walVersion, cfg.Target)
	if err == nil {
		return nil
	}
	if !cfg.Force {
		return err
	}
	lg.Info("normal migrate failed, trying with force", zap.Error(err))
	// The storage version exists from 3.6 on.
	if cfg.Target.LessThan(version.V3_6) {
		if err := schema.ClearStorageVersion(tx); err != nil {
			return err
		}
		lg.Warn("forcefully cleared storage version")
		return nil
	}
	if err := schema.SetStorageVersion(tx, cfg.Target); err != nil {
		return err
	}
	lg.Warn("forcefully set storage version", zap.String("storage-version", MajorMinor(cfg.Target)))
	return nil
}

// readEntriesAfterNewestSnapshot reads the WAL from the newest snapshot
// it can be opened at (the one etcd would restart from), with etcdutl's
// error messages.
func readEntriesAfterNewestSnapshot(dir string) ([]raftpb.Entry, error) {
	markers, err := wal.ValidSnapshotMarkers(vfs.OS, dir)
	if err != nil {
		return nil, fmt.Errorf("failed to get the lastest snapshot: %w", etcdWALError(err))
	}
	w, err := wal.OpenForRead(vfs.OS, dir, markers[len(markers)-1])
	if err != nil {
		return nil, fmt.Errorf("failed to open wal: %w", etcdWALError(err))
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("failed to read wal: %w", etcdWALError(err))
	}
	return ents, nil
}

// etcdWALError words err as etcd's WAL does where the two differ in words
// only: a directory without segments, a missing directory.
func etcdWALError(err error) error {
	if errors.Is(err, wal.ErrNoWAL) {
		return errors.New("wal: file not found") // etcd's wal.ErrFileNotFound
	}
	return unwrapPathError(err)
}

// MajorMinor is "X.Y" of v, as etcdutl prints a storage version.
func MajorMinor(v semver.Version) string {
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}
