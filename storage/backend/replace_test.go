package backend

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// writeDB makes a database file at path holding kvs in the test bucket.
func writeDB(t *testing.T, path string, kvs ...string) {
	t.Helper()
	b := openTest(t, Config{Path: path})
	put(t, b, kvs...)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReplaceWith(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Config{Path: filepath.Join(dir, "db")})
	put(t, b, "a", "old-a", "b", "old-b")
	// A snapshot of the old file begun before the replacement streams the
	// old file whole, after it.
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Not committed: dropped with the old file.
	put(t, b, "uncommitted", "x")

	src := filepath.Join(dir, "received.snap.db")
	writeDB(t, src, "a", "new-a", "c", "new-c")
	if err := b.ReplaceWith(src); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(b, "", "\xff", 0), []string{"a=new-a", "c=new-c"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after ReplaceWith: %v, want %v", got, want)
	}

	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	streamed := filepath.Join(dir, "streamed")
	if err := os.WriteFile(streamed, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, err := Open(Config{Path: streamed, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(sb, "", "\xff", 0); fmt.Sprint(got) != fmt.Sprint([]string{"a=old-a", "b=old-b"}) {
		t.Fatalf("snapshot begun before the replacement streamed %v", got)
	}
	sb.Close()

	// Writes go to the new file, and survive a reopen.
	put(t, b, "d", "after")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := openTest(t, Config{Path: filepath.Join(dir, "db")})
	if got, want := readAll(b2, "", "\xff", 0), []string{"a=new-a", "c=new-c", "d=after"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

func TestReplaceWithMissingFileCloses(t *testing.T) {
	b := openTest(t, Config{})
	put(t, b, "a", "1")
	if err := b.ReplaceWith(filepath.Join(t.TempDir(), "nonesuch")); err == nil {
		t.Fatal("ReplaceWith of a missing file: no error")
	}
	if err := b.ForceCommit(); err != ErrClosed {
		t.Fatalf("ForceCommit after a failed replacement: %v, want ErrClosed", err)
	}
	// Views of a closed backend find nothing and never touch bbolt.
	if got := readAll(b, "", "\xff", 0); len(got) != 0 {
		t.Fatalf("view of a closed backend read %v", got)
	}
	if b.Size() != 0 || b.SizeInUse() != 0 {
		t.Fatal("size of a closed backend is not 0")
	}
	if _, err := b.Snapshot(); err == nil {
		t.Fatal("Snapshot of a closed backend: no error")
	}
}

// TestReplaceWithConcurrentReaders replaces the file again and again while
// readers take views, sizes, hashes and snapshots: under -race, and every
// view sees one whole file (all of its keys with one generation's value).
func TestReplaceWithConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Config{Path: filepath.Join(dir, "db")})
	const keys = 20
	gen := func(g int) []string {
		var kvs []string
		for k := range keys {
			kvs = append(kvs, fmt.Sprintf("k%02d", k), fmt.Sprintf("g%d", g))
		}
		return kvs
	}
	put(t, b, gen(0)...)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				switch r {
				case 0, 1:
					v := b.ReadTx()
					_, vals := v.Range(testBucket, []byte("k"), []byte("l"), 0)
					v.End()
					if len(vals) != keys {
						errs <- fmt.Errorf("view read %d keys, want %d", len(vals), keys)
						return
					}
					for _, val := range vals {
						if !bytes.Equal(val, vals[0]) {
							errs <- fmt.Errorf("view mixes generations: %q and %q", vals[0], val)
							return
						}
					}
				case 2:
					_ = b.Size()
					_ = b.SizeInUse()
					if _, err := b.Hash(nil); err != nil {
						errs <- err
						return
					}
				case 3:
					s, err := b.Snapshot()
					if err != nil {
						errs <- err
						return
					}
					var buf bytes.Buffer
					if _, err := s.WriteTo(&buf); err != nil {
						errs <- err
					}
					s.Close()
				}
			}
		}()
	}
	for g := 1; g <= 20; g++ {
		src := filepath.Join(dir, fmt.Sprintf("gen%d.snap.db", g))
		writeDB(t, src, gen(g)...)
		if err := b.ReplaceWith(src); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
