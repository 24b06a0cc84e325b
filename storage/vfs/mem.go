package vfs

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// CrashFS is an in-memory FS for tests that knows what would survive a
// power failure and can inject IO errors. Its durability model:
//
//   - A file's contents (writes, truncations, preallocation) are durable
//     up to its last File.Sync; later changes are pending, kept in the
//     order they were made.
//   - A directory's entries (creates, renames, removes, mkdirs in it) are
//     durable as of its last SyncDir; syncing a file does not make its
//     name durable. The root directory always exists.
//   - Crash drops everything not durable; CrashTorn and CrashTearLast also
//     let a prefix of each file's pending changes reach the disk, the last
//     of them possibly torn (a prefix of its bytes). Pending changes never
//     reach the disk out of order.
//
// After a crash every File and lock from before it is dead: operations on
// old handles fail with ErrCrashed, and all locks are released, as when a
// process dies. CrashFS is safe for concurrent use.
type CrashFS struct {
	mu    sync.Mutex
	root  *memNode
	epoch uint64 // bumped by every crash
	fault Fault
	locks map[*memNode]bool
}

// ErrCrashed is returned by operations on a File opened before a crash.
var ErrCrashed = errors.New("vfs: file handle from before a crash")

// NewCrashFS returns an empty CrashFS.
func NewCrashFS() *CrashFS {
	return &CrashFS{root: newDirNode(), locks: map[*memNode]bool{}}
}

type memNode struct {
	dir bool

	// Directories: entries now, and as of the last SyncDir.
	children, durableChildren map[string]*memNode

	// Files: contents now, durable contents, and the changes made since
	// the last Sync, in order.
	data, synced []byte
	pending      []pendingChange
}

func newDirNode() *memNode {
	return &memNode{dir: true, children: map[string]*memNode{}, durableChildren: map[string]*memNode{}}
}

// pendingChange is a change to a file's contents not yet synced: a write
// of data at off, or a resize to size (truncate, or grow when grow is set).
type pendingChange struct {
	write bool
	off   int64
	data  []byte
	size  int64
	grow  bool
}

func (c pendingChange) apply(b []byte) []byte {
	switch {
	case c.write:
		end := c.off + int64(len(c.data))
		if end > int64(len(b)) {
			b = resize(b, end)
		}
		copy(b[c.off:], c.data)
	case c.grow:
		if c.size > int64(len(b)) {
			b = resize(b, c.size)
		}
	default:
		b = resize(b, c.size)
	}
	return b
}

func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	if n <= int64(cap(b)) {
		old := len(b)
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

// splitPath turns name into its cleaned components below the root.
func splitPath(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookupLocked returns the node at name, or nil.
func (c *CrashFS) lookupLocked(name string) *memNode {
	n := c.root
	for _, part := range splitPath(name) {
		if !n.dir {
			return nil
		}
		n = n.children[part]
		if n == nil {
			return nil
		}
	}
	return n
}

// parentLocked returns the directory that holds name and name's base.
func (c *CrashFS) parentLocked(op, name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir := c.lookupLocked(strings.Join(parts[:len(parts)-1], "/"))
	if dir == nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if !dir.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: errNotDir}
	}
	return dir, parts[len(parts)-1], nil
}

var (
	errNotDir   = errors.New("not a directory")
	errIsDir    = errors.New("is a directory")
	errNotEmpty = errors.New("directory not empty")
)

func (c *CrashFS) faultLocked(op Op, name string) error {
	if c.fault == nil {
		return nil
	}
	return c.fault(op, filepath.Clean(name))
}

func (c *CrashFS) Create(name string) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpCreate, name); err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	dir, base, err := c.parentLocked("create", name)
	if err != nil {
		return nil, err
	}
	n := dir.children[base]
	switch {
	case n == nil:
		n = &memNode{}
		dir.children[base] = n
	case n.dir:
		return nil, &fs.PathError{Op: "create", Path: name, Err: errIsDir}
	default:
		n.data = n.data[:0]
		n.pending = append(n.pending, pendingChange{size: 0})
	}
	return &memFile{fs: c, node: n, name: name, epoch: c.epoch, writable: true}, nil
}

func (c *CrashFS) Open(name string) (File, error)          { return c.open(name, false) }
func (c *CrashFS) OpenReadWrite(name string) (File, error) { return c.open(name, true) }

func (c *CrashFS) open(name string, writable bool) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpOpen, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	n := c.lookupLocked(name)
	if n == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && writable {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &memFile{fs: c, node: n, name: name, epoch: c.epoch, writable: writable}, nil
}

func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpRemove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	dir, base, err := c.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n := dir.children[base]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	delete(dir.children, base)
	return nil
}

func (c *CrashFS) RemoveAll(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpRemove, name); err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	dir, base, err := c.parentLocked("removeall", name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	// Detaching the subtree from its parent is enough: its own entries
	// stay as they were, which is what a crash before the parent's sync
	// would bring back.
	delete(dir.children, base)
	return nil
}

func (c *CrashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpRename, oldpath); err != nil {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: err}
	}
	odir, obase, err := c.parentLocked("rename", oldpath)
	if err != nil {
		return err
	}
	n := odir.children[obase]
	if n == nil {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	ndir, nbase, err := c.parentLocked("rename", newpath)
	if err != nil {
		return err
	}
	oldParts, newParts := splitPath(oldpath), splitPath(newpath)
	if n.dir && len(newParts) > len(oldParts) && slices.Equal(newParts[:len(oldParts)], oldParts) {
		return &fs.PathError{Op: "rename", Path: newpath, Err: fs.ErrInvalid}
	}
	if target := ndir.children[nbase]; target != nil && target != n {
		switch {
		case target.dir: // as os.Rename: never replaces a directory
			return &fs.PathError{Op: "rename", Path: newpath, Err: fs.ErrExist}
		case n.dir:
			return &fs.PathError{Op: "rename", Path: newpath, Err: errNotDir}
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

func (c *CrashFS) MkdirAll(dir string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpMkdir, dir); err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	n := c.root
	for _, part := range splitPath(dir) {
		child := n.children[part]
		if child == nil {
			child = newDirNode()
			n.children[part] = child
		} else if !child.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		}
		n = child
	}
	return nil
}

func (c *CrashFS) List(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.lookupLocked(dir)
	if n == nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: errNotDir}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

func (c *CrashFS) Stat(name string) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.lookupLocked(name)
	if n == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return n.infoLocked(name), nil
}

func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpSyncDir, dir); err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	n := c.lookupLocked(dir)
	if n == nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	if !n.dir {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: errNotDir}
	}
	n.durableChildren = maps.Clone(n.children)
	return nil
}

func (c *CrashFS) Lock(name string) (io.Closer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.faultLocked(OpLock, name); err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	n := c.lookupLocked(name)
	if n == nil {
		dir, base, err := c.parentLocked("lock", name)
		if err != nil {
			return nil, err
		}
		n = &memNode{}
		dir.children[base] = n
	}
	if c.locks[n] {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	c.locks[n] = true
	return &memLock{fs: c, node: n, epoch: c.epoch}, nil
}

type memLock struct {
	fs    *CrashFS
	node  *memNode
	epoch uint64
	once  sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		defer l.fs.mu.Unlock()
		if l.epoch == l.fs.epoch {
			delete(l.fs.locks, l.node)
		}
	})
	return nil
}

func (n *memNode) infoLocked(name string) fs.FileInfo {
	fi := memFileInfo{name: filepath.Base(name), dir: n.dir}
	if !n.dir {
		fi.size = int64(len(n.data))
	}
	return fi
}

type memFileInfo struct {
	name string
	size int64
	dir  bool
}

func (fi memFileInfo) Name() string { return fi.name }
func (fi memFileInfo) Size() int64  { return fi.size }
func (fi memFileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o700
	}
	return 0o600
}
func (fi memFileInfo) ModTime() time.Time { return time.Time{} }
func (fi memFileInfo) IsDir() bool        { return fi.dir }
func (fi memFileInfo) Sys() any           { return nil }
