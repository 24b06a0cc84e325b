package snap

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/basaltkv/basalt/storage/vfs"
)

func dbName(index uint64) string { return fmt.Sprintf("%016x%s", index, dbExt) }

func parseDBName(name string) (uint64, bool) {
	var index uint64
	if len(name) != 16+len(dbExt) || !strings.HasSuffix(name, dbExt) {
		return 0, false
	}
	if _, err := fmt.Sscanf(name, "%016x.snap.db", &index); err != nil {
		return 0, false
	}
	return index, dbName(index) == name
}

// SaveDBFrom writes a database snapshot received from the leader, for the
// raft snapshot at index, to %016x.snap.db. It copies r to a temporary
// file, fsyncs it, runs the WithDBVerifier check if one was given, and
// only then renames it into place and fsyncs the directory: the final
// name never refers to a partial or rejected file, even across a crash.
// It returns the bytes copied.
func (s *Snapshotter) SaveDBFrom(r io.Reader, index uint64) (n int64, err error) {
	start := time.Now()
	path := filepath.Join(s.dir, dbName(index))
	check := func(tmp string) error {
		fpDBAfterReceive.Hit()
		if s.verifyDB != nil {
			if err := s.verifyDB(s.fs, tmp); err != nil {
				return fmt.Errorf("verify database snapshot %s: %w", tmp, err)
			}
		}
		fpDBBeforeRename.Hit()
		return nil
	}
	err = s.writeAtomic(path, func(f vfs.File) error {
		n, err = io.Copy(f, r)
		return err
	}, check, dbFsyncSec)
	if err != nil {
		return n, fmt.Errorf("save database snapshot for index %d: %w", index, err)
	}
	dbSaveSec.Observe(time.Since(start).Seconds())
	return n, nil
}

// DBFilePath returns the path of the database snapshot for index, or an
// error wrapping ErrNoDBSnapshot if there is none.
func (s *Snapshotter) DBFilePath(index uint64) (string, error) {
	path := filepath.Join(s.dir, dbName(index))
	if _, err := s.fs.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s", ErrNoDBSnapshot, path)
		}
		return "", err
	}
	return path, nil
}

// ReleaseSnapDBs removes the database snapshot files for indexes below
// index (older than the snapshot the backend now holds) and returns the
// paths removed.
func (s *Snapshotter) ReleaseSnapDBs(index uint64) ([]string, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshot directory %s: %w", s.dir, err)
	}
	var removed []string
	for _, name := range names {
		i, ok := parseDBName(name)
		if !ok || i >= index {
			continue
		}
		path := filepath.Join(s.dir, name)
		if err := s.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("remove database snapshot %s: %w", path, err)
		}
		removed = append(removed, path)
	}
	if len(removed) > 0 {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return removed, fmt.Errorf("sync snapshot directory %s: %w", s.dir, err)
		}
	}
	return removed, nil
}
