package backend

// Crash tests. bbolt does its own file IO through a memory map, so the
// backend's file cannot go through storage/vfs's fault-injecting
// filesystem as the WAL's does. Two kinds of crash are tested instead:
// a real one (a child process SIGKILLed at random moments while it writes,
// commits and defragments), and a power loss in the middle of a commit,
// which bbolt survives by writing data pages, fsync, then one of its two
// meta pages: a torn newest meta page must open at the previous commit.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	crashMeta = []byte("meta")
	crashCI   = []byte("ci")
)

const crashChildEnv = "BASALT_BACKEND_CRASH_CHILD"

func crashKey(i uint64) []byte { return fmt.Appendf(nil, "k%010d", i) }
func crashVal(i uint64) []byte { return fmt.Appendf(nil, "v%d-%s", i, strings.Repeat("x", int(i%200))) }

// TestCrashChild is the child of TestCrashKill: it is skipped unless run
// by it. It applies "entries" for ever, each one transaction holding a key
// and the consistent index, and prints every index it has committed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestCrashKill")
	}
	b, err := Open(Config{Path: path, BatchInterval: time.Millisecond, BatchLimit: 1 + rand.IntN(50), MmapSize: 1 << 24})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	tx := b.BatchTx()
	tx.Lock()
	_ = tx.UnsafeCreateBucket(testBucket)
	_ = tx.UnsafeCreateBucket(crashMeta)
	_, vals := tx.UnsafeRange(crashMeta, crashCI, nil, 0)
	_ = tx.Unlock()
	var ci uint64
	if len(vals) == 1 {
		ci = binary.BigEndian.Uint64(vals[0])
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "start %d\n", ci)
	out.Flush()
	for {
		ci++
		tx.Lock()
		if err := tx.UnsafePut(testBucket, crashKey(ci), crashVal(ci)); err != nil {
			fmt.Println("put:", err)
			os.Exit(3)
		}
		// Deletes too, so that pages are freed and reused.
		if ci > 10 && ci%3 == 0 {
			if err := tx.UnsafeDelete(testBucket, crashKey(ci-10)); err != nil {
				fmt.Println("delete:", err)
				os.Exit(3)
			}
		}
		if err := tx.UnsafePut(crashMeta, crashCI, binary.BigEndian.AppendUint64(nil, ci)); err != nil {
			fmt.Println("put ci:", err)
			os.Exit(3)
		}
		_ = tx.Unlock()
		switch {
		case ci%500 == 0:
			if _, err := b.Defrag(); err != nil {
				fmt.Println("defrag:", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "committed %d\n", ci)
			out.Flush()
		case ci%7 == 0:
			if err := b.ForceCommit(); err != nil {
				fmt.Println("commit:", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "committed %d\n", ci)
			out.Flush()
		}
	}
}

// crashExpectation is what entry i must have left, given that entries up
// to ci are applied: present with its value unless a later entry deleted it.
func crashPresent(i, ci uint64) bool {
	d := i + 10
	return i <= ci && !(d <= ci && d > 10 && d%3 == 0)
}

// checkCrashState opens the file at path and checks it holds exactly the
// entries up to its consistent index, which must be at least acked.
func checkCrashState(t *testing.T, path string, acked uint64) uint64 {
	t.Helper()
	b, err := Open(Config{Path: path, MmapSize: 1 << 24})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer b.Close()
	if err := b.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("bbolt check after crash: %v", err)
	}
	v := b.ReadTx()
	defer v.End()
	raw, ok := v.Get(crashMeta, crashCI)
	if !ok {
		if acked > 0 {
			t.Fatalf("consistent index lost; %d was acknowledged", acked)
		}
		return 0
	}
	ci := binary.BigEndian.Uint64(raw)
	if ci < acked {
		t.Fatalf("consistent index %d after crash, but %d was acknowledged", ci, acked)
	}
	keys, vals := v.Range(testBucket, crashKey(0), crashKey(1<<40), 0)
	got := map[string]string{}
	for i := range keys {
		got[string(keys[i])] = string(vals[i])
	}
	want := 0
	for i := uint64(1); i <= ci+1; i++ {
		val, ok := got[string(crashKey(i))]
		switch {
		case crashPresent(i, ci) && !ok:
			t.Fatalf("consistent index %d, but entry %d's key is missing", ci, i)
		case crashPresent(i, ci) && val != string(crashVal(i)):
			t.Fatalf("entry %d's value is %q", i, val)
		case !crashPresent(i, ci) && ok:
			t.Fatalf("consistent index %d, but entry %d's key is present (applied past the index, or a delete lost)", ci, i)
		}
		if ok {
			want++
		}
	}
	if len(got) != want {
		t.Fatalf("%d keys, want %d", len(got), want)
	}
	return ci
}

// TestCrashKill SIGKILLs a writing child at random moments, rounds times
// over one file: after each, the file opens, passes bbolt's check, holds
// every commit the child reported, and holds exactly the entries up to its
// consistent index (the index and the data it covers are one transaction).
// BASALT_BACKEND_CRASH_ROUNDS sets the rounds (default 6).
func TestCrashKill(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rounds := 6
	if v := os.Getenv("BASALT_BACKEND_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("BASALT_BACKEND_CRASH_ROUNDS=%q: %v", v, err)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	path := filepath.Join(t.TempDir(), "db")
	var (
		ackedMu sync.Mutex
		acked   uint64
	)
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment after a random number of reported
		// commits, reading every commit the child reports until it dies.
		killAfter := 1 + rng.IntN(400)
		reached := make(chan struct{})
		lines := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			commits := 0
			for sc.Scan() {
				line := sc.Text()
				if n, ok := strings.CutPrefix(line, "committed "); ok {
					ci, err := strconv.ParseUint(n, 10, 64)
					if err != nil {
						lines <- fmt.Errorf("child: %q", line)
						return
					}
					ackedMu.Lock()
					acked = ci
					ackedMu.Unlock()
					if commits++; commits == killAfter {
						close(reached)
					}
				} else if !strings.HasPrefix(line, "start ") {
					lines <- fmt.Errorf("child: %s", line)
					return
				}
			}
			lines <- nil
		}()
		select {
		case <-reached:
			// The kill lands anywhere in the child's work: between
			// commits, inside one, or inside a defragmentation.
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		case err := <-lines:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child ended early: %v", err)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := <-lines; err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		ci := checkCrashState(t, path, acked)
		t.Logf("round %d: killed after at least %d commits; acknowledged %d, recovered %d", round, killAfter, acked, ci)
	}
}

// TestTornMetaPage tears the meta page of the last commit, as a power loss
// during its write would: the database opens at the commit before, with
// that commit's consistent index and data, and takes writes again.
func TestTornMetaPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	b := openTest(t, Config{Path: path, BatchInterval: time.Hour, BatchLimit: 1 << 30})
	commit := func(ci uint64, force bool) {
		tx := b.BatchTx()
		tx.Lock()
		_ = tx.UnsafeCreateBucket(crashMeta)
		for i := ci*100 - 99; i <= ci*100; i++ {
			if err := tx.UnsafePut(testBucket, crashKey(i), crashVal(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.UnsafePut(crashMeta, crashCI, binary.BigEndian.AppendUint64(nil, ci)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Unlock(); err != nil {
			t.Fatal(err)
		}
		if !force {
			return
		}
		if err := b.ForceCommit(); err != nil {
			t.Fatal(err)
		}
	}
	commit(1, true)
	commit(2, false) // committed by Close: the last commit holds it
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// bbolt's meta pages are pages 0 and 1; the one with the higher
	// transaction ID is the last commit. Page header 16 bytes; in the meta:
	// magic, version, page size, flags (4 each), root bucket (16), freelist,
	// pgid, txid (8 each), checksum.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 64)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.LittleEndian.Uint32(hdr[16+8:]))
	txid := func(page int64) uint64 {
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, page*pageSize+16+48); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(b)
	}
	newest := int64(0)
	if txid(1) > txid(0) {
		newest = 1
	}
	// The write reached the disk only in part: the root pointer onward is
	// zeros.
	if _, err := f.WriteAt(make([]byte, 32), newest*pageSize+16+16); err != nil {
		t.Fatal(err)
	}
	f.Close()

	checkRange := func(b *Backend, ci uint64) {
		t.Helper()
		v := b.ReadTx()
		defer v.End()
		raw, ok := v.Get(crashMeta, crashCI)
		if !ok || binary.BigEndian.Uint64(raw) != ci {
			t.Fatalf("consistent index %v (present %v), want %d", raw, ok, ci)
		}
		keys, _ := v.Range(testBucket, crashKey(0), crashKey(1<<40), 0)
		if len(keys) != int(ci*100) {
			t.Fatalf("%d keys at consistent index %d, want %d", len(keys), ci, ci*100)
		}
	}
	b2, err := Open(Config{Path: path, MmapSize: 1 << 20, BatchInterval: time.Hour, BatchLimit: 1 << 30})
	if err != nil {
		t.Fatalf("open with a torn meta page: %v", err)
	}
	checkRange(b2, 1)
	// The entries of the lost commit are applied again (from the WAL, in
	// the member) and the database moves on.
	b = b2
	commit(2, true)
	commit(3, true)
	checkRange(b2, 3)
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	b3, err := Open(Config{Path: path, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	checkRange(b3, 3)
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	b := openTest(t, Config{Path: good})
	put(t, b, "a", "1", "b", "2")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	garbage := append([]byte{}, data...)
	for i := 0; i < len(garbage); i += 7 {
		garbage[i] ^= 0x5a
	}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"sound", data, true},
		{"empty", nil, false},
		{"truncated", data[:2*os.Getpagesize()], false}, // the meta pages only
		{"garbage", garbage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".db")
			if tt.name == "sound" {
				path = good
			} else if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			err := Verify(path)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("Verify accepted a bad file")
			}
		})
	}
}
