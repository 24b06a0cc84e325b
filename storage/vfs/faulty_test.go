package vfs

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestFaultySyncFailsAfterBudget(t *testing.T) {
	dir := t.TempDir()
	fsys := Faulty(OS, Faults{FailSyncAfter: 2})
	f, err := fsys.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, want := range []bool{true, true, false, false} {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		err := f.Sync()
		if ok := err == nil; ok != want {
			t.Fatalf("sync %d: %v, want success %v", i, err, want)
		}
		if err != nil && !errors.Is(err, ErrInjectedSyncFailure) {
			t.Fatalf("sync %d: %v, want the injected failure", i, err)
		}
	}
	if err := fsys.SyncDir(dir); !errors.Is(err, ErrInjectedSyncFailure) {
		t.Fatalf("syncdir: %v, want the injected failure", err)
	}
}
