package vfs

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestOSLock(t *testing.T) {
	dir := t.TempDir()
	l, err := OS.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OS.Lock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock of %s: %v, want ErrLocked", dir, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := OS.Lock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
	// A missing name is created as a lock file.
	lf := filepath.Join(dir, "LOCK")
	l3, err := OS.Lock(lf)
	if err != nil {
		t.Fatal(err)
	}
	l3.Close()
}

func TestOSPreallocateSyncRename(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a")
	f, err := OS.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := f.Preallocate(1 << 16); err != nil {
		t.Fatal(err)
	}
	if err := f.Preallocate(10); err != nil { // never shrinks
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if fi.Size() != 1<<16 {
		t.Fatalf("size %d after preallocate, want %d", fi.Size(), 1<<16)
	}
	buf := make([]byte, 8)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "abc\x00\x00\x00\x00\x00" {
		t.Fatalf("read %q, %v", buf, err)
	}
	f.Close()
	if err := OS.Rename(name, name+".2"); err != nil {
		t.Fatal(err)
	}
	if err := OS.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	names, err := OS.List(dir)
	if err != nil || len(names) != 1 || names[0] != "a.2" {
		t.Fatalf("List = %v, %v", names, err)
	}
	if err := MkdirAllSync(OS, filepath.Join(dir, "x", "y"), 0o700); err != nil {
		t.Fatal(err)
	}
	if !Exists(OS, filepath.Join(dir, "x", "y")) {
		t.Fatal("MkdirAllSync did not create the directory")
	}
}
