package vfs

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"slices"
)

// memFile is an open CrashFS file.
type memFile struct {
	fs       *CrashFS
	node     *memNode
	name     string
	epoch    uint64
	writable bool
	closed   bool
	pos      int64
}

var errReadOnly = errors.New("file opened read-only")

// checkLocked validates the handle for op; write says whether op changes
// the file.
func (f *memFile) checkLocked(op string, write bool) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case f.epoch != f.fs.epoch:
		return &fs.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	case write && !f.writable:
		return &fs.PathError{Op: op, Path: f.name, Err: errReadOnly}
	case f.node.dir && op != "sync" && op != "stat" && op != "close":
		return &fs.PathError{Op: op, Path: f.name, Err: errIsDir}
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.readAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.readAtLocked(p, off)
}

func (f *memFile) readAtLocked(p []byte, off int64) (int, error) {
	if err := f.checkLocked("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if err := f.fs.faultLocked(OpRead, f.name); err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.writeAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if err := f.checkLocked("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	if err := f.fs.faultLocked(OpWrite, f.name); err != nil {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := pendingChange{write: true, off: off, data: slices.Clone(p)}
	f.node.data = c.apply(f.node.data)
	f.node.pending = append(f.node.pending, c)
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	if err := f.fs.faultLocked(OpTruncate, f.name); err != nil {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	c := pendingChange{size: size}
	f.node.data = c.apply(f.node.data)
	f.node.pending = append(f.node.pending, c)
	return nil
}

func (f *memFile) Preallocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("preallocate", true); err != nil {
		return err
	}
	if err := f.fs.faultLocked(OpPreallocate, f.name); err != nil {
		return &fs.PathError{Op: "preallocate", Path: f.name, Err: err}
	}
	if size <= int64(len(f.node.data)) {
		return nil
	}
	c := pendingChange{size: size, grow: true}
	f.node.data = c.apply(f.node.data)
	f.node.pending = append(f.node.pending, c)
	return nil
}

// Sync makes the file's contents durable. Syncing a directory opened with
// Open is SyncDir.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("sync", false); err != nil {
		return err
	}
	if err := f.fs.faultLocked(OpSync, f.name); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	if f.node.dir {
		f.node.durableChildren = maps.Clone(f.node.children)
		return nil
	}
	f.node.syncLocked()
	return nil
}

// syncLocked replays the pending changes onto the durable contents, so a
// sync costs what was written since the last one, not the file's size.
func (n *memNode) syncLocked() {
	for _, c := range n.pending {
		n.synced = c.apply(n.synced)
	}
	n.pending = nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("stat", false); err != nil {
		return nil, err
	}
	return f.node.infoLocked(f.name), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}
