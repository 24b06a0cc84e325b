package vfs

import (
	"errors"
	"io/fs"
	"sync/atomic"
	"time"
)

// ErrInjectedSyncFailure is returned by Sync and SyncDir of a Faulty FS
// once its sync budget is spent.
var ErrInjectedSyncFailure = errors.New("vfs: injected fsync failure")

// Faults shape a Faulty FS.
type Faults struct {
	// SyncDelay is added to every Sync and SyncDir: a slow disk.
	SyncDelay time.Duration
	// FailSyncAfter, if positive, makes every Sync and SyncDir after that
	// many succeed fail with ErrInjectedSyncFailure: a failing disk.
	FailSyncAfter int64
}

// Faulty wraps fsys, injecting the given faults into its syncs. It is for
// tests of the whole member (see the server's BASALT_TEST_FSYNC_* hooks);
// CrashFS tests a single package against lost writes.
func Faulty(fsys FS, f Faults) FS { return &faultyFS{FS: fsys, f: f} }

type faultyFS struct {
	FS
	f     Faults
	syncs atomic.Int64
}

func (x *faultyFS) sync() error {
	if x.f.SyncDelay > 0 {
		time.Sleep(x.f.SyncDelay)
	}
	if n := x.syncs.Add(1); x.f.FailSyncAfter > 0 && n > x.f.FailSyncAfter {
		return ErrInjectedSyncFailure
	}
	return nil
}

func (x *faultyFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, fs: x}, nil
}

func (x *faultyFS) Create(name string) (File, error) { return x.wrap(x.FS.Create(name)) }
func (x *faultyFS) Open(name string) (File, error)   { return x.wrap(x.FS.Open(name)) }
func (x *faultyFS) OpenReadWrite(name string) (File, error) {
	return x.wrap(x.FS.OpenReadWrite(name))
}

func (x *faultyFS) SyncDir(dir string) error {
	if err := x.sync(); err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	return x.FS.SyncDir(dir)
}

type faultyFile struct {
	File
	fs *faultyFS
}

func (f *faultyFile) Sync() error {
	if err := f.fs.sync(); err != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return f.File.Sync()
}
