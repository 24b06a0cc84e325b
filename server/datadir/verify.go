package datadir

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// VerifyEnv is etcd's ETCD_VERIFY: "all" (or "storage_wal") verifies a
// member's persisted state when it stops (Verify); "" or anything else
// verifies nothing.
const VerifyEnv = "ETCD_VERIFY"

// VerifyStorageEnabled reports whether ETCD_VERIFY asks for the
// persisted state to be verified.
func VerifyStorageEnabled() bool {
	v := strings.ToLower(os.Getenv(VerifyEnv))
	return v == "all" || v == "storage_wal"
}

// Verify checks a stopped member's data dir as etcd's ETCD_VERIFY does:
// the backend's consistent index and term are not ahead of the WAL's hard
// state, and the index is not behind the newest snapshot the WAL opens
// at. It logs etcd's lines; a data dir without a backend is skipped.
func Verify(lg *zap.Logger, l Layout) (err error) {
	if _, serr := os.Stat(l.BackendPath()); errors.Is(serr, os.ErrNotExist) {
		lg.Info("verification skipped due to non exist db file")
		return nil
	}
	lg.Info("verification of persisted state", zap.String("data-dir", l.DataDir))
	defer func() {
		if err != nil {
			lg.Error("verification of persisted state failed", zap.String("data-dir", l.DataDir), zap.Error(err))
			return
		}
		lg.Info("verification of persisted state successful", zap.String("data-dir", l.DataDir))
	}()
	markers, err := wal.ValidSnapshotMarkers(vfs.OS, l.WALPath())
	if err != nil {
		return fmt.Errorf("list the WAL's snapshots: %w", err)
	}
	var newest wal.Marker
	if len(markers) > 0 {
		newest = markers[len(markers)-1]
	}
	w, err := wal.OpenForRead(vfs.OS, l.WALPath(), newest)
	if err != nil {
		return fmt.Errorf("open the WAL: %w", err)
	}
	_, hs, _, err := w.ReadAll()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read the WAL: %w", err)
	}
	be, err := backend.Open(backend.Config{Path: l.BackendPath()})
	if err != nil {
		return fmt.Errorf("open the backend: %w", err)
	}
	view := be.ReadTx()
	index, term := mvcc.ReadConsistentIndex(view)
	view.End()
	if err := be.Close(); err != nil {
		return fmt.Errorf("close the backend: %w", err)
	}
	switch {
	case index > hs.Commit:
		return fmt.Errorf("backend.ConsistentIndex (%v) must be <= WAL.HardState.commit (%v)", index, hs.Commit)
	case term > hs.Term:
		return fmt.Errorf("backend.Term (%v) must be <= WAL.HardState.term, (%v)", term, hs.Term)
	case index < newest.Index:
		return fmt.Errorf("backend.ConsistentIndex (%v) must be >= last snapshot index (%v)", index, newest.Index)
	}
	lg.Info("verification: consistentIndex OK", zap.Uint64("backend-consistent-index", index), zap.Uint64("hardstate-commit", hs.Commit))
	return nil
}
