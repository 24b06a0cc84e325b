package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
)

// File is an open file. Read and Write use the file's own offset, which
// starts at 0; ReadAt and WriteAt ignore it. A File is not safe for
// concurrent use except that Sync may run while another goroutine writes.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Name is the path the file was opened with.
	Name() string
	Stat() (fs.FileInfo, error)
	// Sync makes the file's data (and the size needed to read it back)
	// durable. It does not make the file's directory entry durable; see
	// FS.SyncDir.
	Sync() error
	Truncate(size int64) error
	// Preallocate extends the file to at least size bytes that read back
	// as zeros, reserving the disk blocks where the platform can. It never
	// shrinks the file. Like any write, it is durable after Sync.
	Preallocate(size int64) error
}

// FS is the filesystem that storage packages use for all file access.
// Paths use the host separator; implementations accept relative paths.
type FS interface {
	// Create creates or truncates name for reading and writing.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes name and everything under it; a missing name is
	// not an error.
	RemoveAll(name string) error
	// Rename renames oldpath to newpath, replacing a file at newpath. Like
	// os.Rename it fails if newpath is a directory, even an empty one.
	Rename(oldpath, newpath string) error
	MkdirAll(dir string, perm fs.FileMode) error
	// List returns the names of the entries of dir, sorted.
	List(dir string) ([]string, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the entries of dir (creates, renames and removes in
	// it) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on name (a file or a
	// directory; a missing name is created as an empty file). It fails at
	// once with an error wrapping ErrLocked if anyone, including this
	// process through another Lock call, holds it. Closing the returned
	// Closer releases the lock.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is wrapped by FS.Lock when the lock is held elsewhere.
var ErrLocked = errors.New("vfs: locked by another holder")

// ReadFile reads all of name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One allocation of the file's size (WAL segments are preallocated to
	// 64 MiB): io.ReadAll alone would grow and zero its buffer a dozen
	// times on the way.
	size := 0
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 && int64(int(fi.Size())) == fi.Size() {
		size = int(fi.Size())
	}
	buf := make([]byte, 0, size+1) // +1: EOF is seen without growing
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew: let append pick the next size
		}
	}
}

// Exists reports whether name exists (as far as Stat can tell).
func Exists(fsys FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}

// MkdirAllSync is MkdirAll that also makes every directory it creates
// durable, by syncing the parent of each one after creating it.
func MkdirAllSync(fsys FS, dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	// Sync from the top down so that each directory's entry is durable in
	// a parent that is itself durable.
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("sync directory %s: %w", filepath.Dir(missing[i]), err)
		}
	}
	return nil
}
