package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

// SegmentSizeBytes is the default size segments are preallocated to and
// cut at: etcd's 64 MB. Tests shrink it with WithSegmentSize rather than changing this.
var SegmentSizeBytes int64 = 64 * 1000 * 1000

// Option configures Create, Open and OpenForRead.
type Option func(*options)

type options struct {
	segmentSize int64
	onFsync     func(time.Duration)
	log         *slog.Logger
	noSync      bool
}

// WithSegmentSize sets the size segments are preallocated to and cut at
// (rounded up to a multiple of 8, at least 128 bytes).
func WithSegmentSize(n int64) Option {
	return func(o *options) { o.segmentSize = max(128, (n+recordAlign-1)&^(recordAlign-1)) }
}

// WithFsyncObserver has f called with the duration of every fsync of a
// segment, besides etcd_disk_wal_fsync_duration_seconds (tests count
// fsyncs with it). f runs on the saving goroutine and must be quick.
func WithFsyncObserver(f func(time.Duration)) Option {
	return func(o *options) { o.onFsync = f }
}

// WithUnsafeNoSync skips every fsync of a segment's data (etcd's
// --unsafe-no-fsync, for tests): a crash may lose what was acknowledged.
func WithUnsafeNoSync() Option {
	return func(o *options) { o.noSync = true }
}

// WithLogger sets the logger for warnings (ignored files, repaired tails).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

func buildOptions(opts []Option) options {
	o := options{segmentSize: SegmentSizeBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// WAL is a write-ahead log in one directory. Its methods are safe for
// concurrent use; see Save for how concurrent callers share fsyncs.
type WAL struct {
	fs       vfs.FS
	dir      string
	opts     options
	readOnly bool
	lock     io.Closer // nil when read-only

	// Set by Open for ReadAll.
	start  Marker
	toRead []segmentName

	// syncMu is held by the one goroutine fsyncing on behalf of all; it
	// is taken before mu, never while holding it.
	syncMu sync.Mutex

	mu struct {
		sync.Mutex
		ready  bool // appends allowed: created, or ReadAll done
		read   bool // ReadAll done (or Create)
		closed bool
		err    error // sticky: after a failed write or fsync nothing more is appended

		metadata  []byte
		state     raftpb.HardState // last hard state written
		lastIndex uint64           // last entry index written, raised by markers
		crc       uint32           // chained CRC of the last record encoded
		// writtenCRC is crc as of the last record written to the tail.
		writtenCRC uint32

		segments []segmentName // live segments, oldest first; the last is the tail
		released int           // segments[:released] may be purged
		tail     vfs.File
		tailOff  int64 // where the next record goes in the tail
		tailBase int64 // end of the tail's header records

		written uint64 // bytes appended since open, across segments
		synced  uint64 // of which known durable

		syncing bool       // an fsync outside mu is using tail
		retired []vfs.File // segments cut while syncing, closed after it
		buf     []byte
	}
}

// Create makes a new WAL in dir holding metadata (opaque to the WAL; the
// server stores member and cluster IDs there), ready to append. dir must
// not exist or be empty. The WAL is built in dir+".tmp" and renamed into
// place, so a crash leaves either no WAL or a complete one.
func Create(fsys vfs.FS, dir string, metadata []byte, opts ...Option) (*WAL, error) {
	o := buildOptions(opts)
	dir = filepath.Clean(dir)
	names, err := fsys.List(dir)
	switch {
	case err == nil && len(names) > 0:
		return nil, fmt.Errorf("create wal %s: %w", dir, ErrExist)
	case err == nil:
		// An empty directory: remove it, as rename will not replace it.
		if err := fsys.Remove(dir); err != nil {
			return nil, fmt.Errorf("create wal %s: %w", dir, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("create wal %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if err := vfs.MkdirAllSync(fsys, parent, 0o700); err != nil {
		return nil, fmt.Errorf("create wal parent directory %s: %w", parent, err)
	}
	tmp := dir + tmpExt
	if err := fsys.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	if err := fsys.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create wal: %w", err)
	}
	w := &WAL{fs: fsys, dir: tmp, opts: o}
	w.mu.metadata = append([]byte{}, metadata...)
	w.mu.ready, w.mu.read = true, true
	fail := func(err error) (*WAL, error) {
		w.closeFiles()
		fsys.RemoveAll(tmp)
		return nil, fmt.Errorf("create wal %s: %w", dir, err)
	}
	w.mu.Lock()
	err = w.newSegmentLocked(segmentName{})
	w.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	if err := fsys.SyncDir(tmp); err != nil {
		return fail(err)
	}
	// The lock is on the directory itself, so it moves with the rename.
	lock, err := fsys.Lock(tmp)
	if err != nil {
		return fail(err)
	}
	w.lock = lock
	if err := fsys.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	w.dir = dir
	if err := fsys.SyncDir(parent); err != nil {
		return fail(err)
	}
	return w, nil
}

// Open opens the WAL in dir for appending, positioned to read from the
// snapshot marker snap (the zero Marker reads from the beginning). It
// takes the WAL's lock: a second Open of the same directory, in any
// process, fails with ErrLocked until Close. Call ReadAll before Save.
// Leftover temporary files from an interrupted segment cut are removed.
func Open(fsys vfs.FS, dir string, snap Marker, opts ...Option) (*WAL, error) {
	return open(fsys, dir, snap, false, opts)
}

// OpenForRead opens the WAL in dir for reading only (tools, or reading
// markers), without the lock and without repairing a torn tail.
func OpenForRead(fsys vfs.FS, dir string, snap Marker, opts ...Option) (*WAL, error) {
	return open(fsys, dir, snap, true, opts)
}

func open(fsys vfs.FS, dir string, snap Marker, readOnly bool, opts []Option) (*WAL, error) {
	o := buildOptions(opts)
	dir = filepath.Clean(dir)
	w := &WAL{fs: fsys, dir: dir, opts: o, readOnly: readOnly, start: snap}
	if !readOnly {
		lock, err := fsys.Lock(dir)
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("open wal %s: %w", dir, ErrLocked)
		}
		if err != nil {
			return nil, fmt.Errorf("open wal %s: %w", dir, err)
		}
		w.lock = lock
	}
	segs, tmps, err := listSegments(fsys, dir, o.log)
	if err == nil && len(segs) == 0 {
		err = fmt.Errorf("open wal %s: %w", dir, ErrNoWAL)
	}
	if err != nil {
		w.closeFiles()
		return nil, err
	}
	if !readOnly {
		for _, name := range tmps {
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				w.closeFiles()
				return nil, fmt.Errorf("remove leftover %s: %w", filepath.Join(dir, name), err)
			}
		}
	}
	i := searchIndex(segs, snap.Index)
	if i < 0 {
		w.closeFiles()
		return nil, fmt.Errorf("open wal %s at %+v: oldest segment %s starts later: %w", dir, snap, segs[0], ErrSnapshotNotFound)
	}
	w.toRead = segs[i:]
	w.mu.segments = segs
	return w, nil
}

// ReadAll reads the WAL from Open's snapshot marker and returns the
// metadata, the last hard state, and every entry after the marker as raft
// last wrote it (an entry at index i replaces the one read earlier at i
// and everything after it). It fails with ErrSnapshotNotFound if the
// marker (other than the zero Marker) is not in the WAL, and with an error
// wrapping ErrCorrupt, naming the file and offset, if a segment is damaged
// anywhere but in its torn tail. On a WAL opened with Open, a torn tail is
// then truncated and re-zeroed and the WAL is ready to append after the
// last valid record. ReadAll may be called once.
func (w *WAL) ReadAll() (metadata []byte, st raftpb.HardState, ents []raftpb.Entry, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		return nil, st, nil, ErrClosed
	}
	if w.mu.read {
		return nil, st, nil, ErrReadAllDone
	}
	w.mu.read = true
	r := &replay{start: w.start, lastIndex: w.start.Index}
	if err := readSegments(w.fs, w.dir, w.toRead, r); err != nil {
		return nil, st, nil, err
	}
	last := w.toRead[len(w.toRead)-1]
	if !r.haveMetadata {
		return nil, st, nil, corruptf(last.path(w.dir), 0, "no metadata record")
	}
	if w.start != (Marker{}) && !r.found {
		return nil, st, nil, fmt.Errorf("read wal %s at %+v: %w", w.dir, w.start, ErrSnapshotNotFound)
	}
	if r.dirty && !w.readOnly {
		w.opts.log.Warn("repairing torn wal tail", "file", last.path(w.dir), "offset", r.end)
	}
	if !w.readOnly {
		if err := w.openTailLocked(last, r.end); err != nil {
			return nil, st, nil, err
		}
		w.mu.metadata, w.mu.state = r.metadata, r.state
		w.mu.lastIndex, w.mu.crc, w.mu.writtenCRC = r.lastIndex, r.crc, r.crc
		w.mu.ready = true
	}
	w.toRead = nil
	return r.metadata, r.state, r.ents, nil
}

// readSegments replays segs, oldest first, into r. Only the last may end
// in a torn record.
func readSegments(fsys vfs.FS, dir string, segs []segmentName, r *replay) error {
	for i, seg := range segs {
		path := seg.path(dir)
		f, err := fsys.Open(path)
		if err != nil {
			return fmt.Errorf("open wal segment %s: %w", path, err)
		}
		fi, err := f.Stat()
		if err == nil {
			err = r.segment(path, f, fi.Size(), i == len(segs)-1)
		} else {
			err = fmt.Errorf("stat wal segment %s: %w", path, err)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// openTailLocked opens the newest segment for appending at end. Whatever
// follows end (a torn record, or bytes of a batch whose first sectors a
// crash lost) is cut off and the segment preallocated again, zeros after
// end, as etcd zeroes a tail it opens: later records must never run into
// old bytes.
func (w *WAL) openTailLocked(seg segmentName, end int64) error {
	path := seg.path(w.dir)
	f, err := w.fs.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("open wal tail %s: %w", path, err)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return fmt.Errorf("truncate wal tail %s at offset %d: %w", path, end, err)
	}
	if err := f.Preallocate(w.opts.segmentSize); err != nil {
		f.Close()
		return fmt.Errorf("preallocate wal segment %s: %w", path, err)
	}
	if err := w.fsync(f); err != nil {
		f.Close()
		return fmt.Errorf("sync wal segment %s: %w", path, err)
	}
	w.mu.tail, w.mu.tailOff, w.mu.tailBase = f, end, end
	return nil
}

// Close syncs what was appended, closes the files and releases the lock.
func (w *WAL) Close() error {
	var err error
	if !w.readOnly {
		err = w.Sync()
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotReady) {
			err = nil
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed {
		return ErrClosed
	}
	w.mu.closed = true
	if cerr := w.closeFilesLocked(); err == nil {
		err = cerr
	}
	return err
}

func (w *WAL) closeFiles() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeFilesLocked()
}

func (w *WAL) closeFilesLocked() error {
	var err error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	if w.mu.tail != nil {
		keep(w.mu.tail.Close())
		w.mu.tail = nil
	}
	for _, f := range w.mu.retired {
		keep(f.Close())
	}
	w.mu.retired = nil
	if w.lock != nil {
		keep(w.lock.Close())
		w.lock = nil
	}
	return err
}

// fsync syncs f and reports the duration to the observer.
func (w *WAL) fsync(f vfs.File) error {
	if w.opts.noSync {
		return nil
	}
	start := time.Now()
	err := f.Sync()
	took := time.Since(start)
	fsyncSec.Observe(took.Seconds())
	if w.opts.onFsync != nil {
		w.opts.onFsync(took)
	}
	return err
}
