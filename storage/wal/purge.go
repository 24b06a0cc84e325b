package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/basaltkv/basalt/storage/vfs"
)

// ReleaseLockTo lets Purge remove the segments that a reader opening at a
// snapshot marker with an index at or above index will not need: every
// segment before the one a reader at index starts from (that one, which
// may hold entries after index, is kept). Call it after a snapshot at
// index is saved and recorded with SaveSnapshot.
func (w *WAL) ReleaseLockTo(index uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		return ErrClosed
	}
	if w.readOnly {
		return ErrReadOnly
	}
	if i := searchIndex(w.mu.segments, index); i > w.mu.released {
		w.mu.released = i
	}
	return nil
}

// Purge removes released segments, oldest first, while more than maxWALs
// segments remain (maxWALs <= 0 keeps all, like etcd's --max-wals=0). A
// segment not released by ReleaseLockTo is never removed, so the WAL may
// keep more than maxWALs. It returns the paths removed.
func (w *WAL) Purge(maxWALs int) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		return nil, ErrClosed
	}
	if w.readOnly {
		return nil, ErrReadOnly
	}
	if maxWALs <= 0 {
		return nil, nil
	}
	var removed []string
	for w.mu.released > 0 && len(w.mu.segments) > maxWALs {
		path := w.mu.segments[0].path(w.dir)
		fpBeforePurgeSegment.Hit()
		if err := w.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("purge wal segment %s: %w", path, err)
		}
		fpAfterPurgeSegment.Hit()
		removed = append(removed, path)
		w.mu.segments = w.mu.segments[1:]
		w.mu.released--
	}
	if len(removed) > 0 {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return removed, fmt.Errorf("sync wal directory %s: %w", w.dir, err)
		}
		w.opts.log.Info("purged wal segments", "dir", w.dir, "count", len(removed))
	}
	return removed, nil
}

// Exist reports whether dir holds a WAL segment.
func Exist(fsys vfs.FS, dir string) bool {
	segs, _, err := listSegments(fsys, dir, slog.New(slog.DiscardHandler))
	return err == nil && len(segs) > 0
}

// ValidSnapshotMarkers reads the whole WAL in dir (without locking or
// repairing it) and returns the zero Marker followed by every snapshot
// marker at or below the last hard state's commit index: the snapshots
// the WAL can be opened at. Pass them to snap.Snapshotter's
// LoadNewestAvailable.
func ValidSnapshotMarkers(fsys vfs.FS, dir string, opts ...Option) ([]Marker, error) {
	o := buildOptions(opts)
	segs, _, err := listSegments(fsys, dir, o.log)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("read wal %s: %w", dir, ErrNoWAL)
	}
	r := &replay{skipEntries: true}
	if err := readSegments(fsys, dir, segs, r); err != nil {
		return nil, err
	}
	markers := []Marker{{}}
	for _, m := range r.markers {
		// The first segment's zero record is the zero Marker, listed first.
		if m != (Marker{}) && m.Index <= r.state.Commit {
			markers = append(markers, m)
		}
	}
	return markers, nil
}
