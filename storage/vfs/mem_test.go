package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"testing"
)

// mustWrite creates name with data, syncing the file if syncFile and the
// directory if syncDir.
func mustWrite(t *testing.T, c *CrashFS, name string, data []byte, syncFile, syncDir bool) {
	t.Helper()
	f, err := c.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if syncDir {
		if err := c.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestFS(t *testing.T) *CrashFS {
	t.Helper()
	c := NewCrashFS()
	if err := MkdirAllSync(c, "/d", 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCrashFSDurability(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, c *CrashFS)
		want     map[string]string // file -> contents after crash; "" key absent means missing
		wantGone []string
	}{
		{
			name:  "synced file and dir survive",
			setup: func(t *testing.T, c *CrashFS) { mustWrite(t, c, "/d/a", []byte("hello"), true, true) },
			want:  map[string]string{"/d/a": "hello"},
		},
		{
			name:     "unsynced directory entry is lost",
			setup:    func(t *testing.T, c *CrashFS) { mustWrite(t, c, "/d/a", []byte("hello"), true, false) },
			wantGone: []string{"/d/a"},
		},
		{
			name:  "unsynced data is lost but the name stays",
			setup: func(t *testing.T, c *CrashFS) { mustWrite(t, c, "/d/a", []byte("hello"), false, true) },
			want:  map[string]string{"/d/a": ""},
		},
		{
			name: "writes after sync are lost",
			setup: func(t *testing.T, c *CrashFS) {
				mustWrite(t, c, "/d/a", []byte("hello"), true, true)
				f, _ := c.OpenReadWrite("/d/a")
				f.WriteAt([]byte("J"), 0)
				f.WriteAt([]byte(" world"), 5)
			},
			want: map[string]string{"/d/a": "hello"},
		},
		{
			name: "rename durable only after dir sync",
			setup: func(t *testing.T, c *CrashFS) {
				mustWrite(t, c, "/d/a", []byte("x"), true, true)
				c.Rename("/d/a", "/d/b")
			},
			want:     map[string]string{"/d/a": "x"},
			wantGone: []string{"/d/b"},
		},
		{
			name: "rename then dir sync",
			setup: func(t *testing.T, c *CrashFS) {
				mustWrite(t, c, "/d/a", []byte("x"), true, true)
				c.Rename("/d/a", "/d/b")
				c.SyncDir("/d")
			},
			want:     map[string]string{"/d/b": "x"},
			wantGone: []string{"/d/a"},
		},
		{
			name: "remove without dir sync comes back",
			setup: func(t *testing.T, c *CrashFS) {
				mustWrite(t, c, "/d/a", []byte("x"), true, true)
				c.Remove("/d/a")
			},
			want: map[string]string{"/d/a": "x"},
		},
		{
			name: "truncate and preallocate follow sync",
			setup: func(t *testing.T, c *CrashFS) {
				mustWrite(t, c, "/d/a", []byte("abcdef"), true, true)
				f, _ := c.OpenReadWrite("/d/a")
				f.Truncate(2)
				f.Preallocate(4)
				f.Sync()
				f.Truncate(0)
			},
			want: map[string]string{"/d/a": "ab\x00\x00"},
		},
		{
			name: "directory made without syncing its parent vanishes",
			setup: func(t *testing.T, c *CrashFS) {
				c.MkdirAll("/d/sub", 0o700)
				f, _ := c.Create("/d/sub/a")
				f.Sync()
				c.SyncDir("/d/sub")
			},
			wantGone: []string{"/d/sub"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestFS(t)
			tt.setup(t, c)
			c.Crash()
			for name, want := range tt.want {
				got, err := ReadFile(c, name)
				if err != nil {
					t.Fatalf("read %s: %v", name, err)
				}
				if string(got) != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range tt.wantGone {
				if Exists(c, name) {
					t.Errorf("%s exists after crash", name)
				}
			}
		})
	}
}

func TestCrashTearLastKeepsPrefix(t *testing.T) {
	for seed := range uint64(50) {
		c := newTestFS(t)
		mustWrite(t, c, "/d/a", []byte("0123"), true, true)
		f, _ := c.OpenReadWrite("/d/a")
		f.WriteAt([]byte("4567"), 4)
		f.WriteAt([]byte("89abcdef"), 8)
		c.CrashTearLast(rand.New(rand.NewPCG(seed, 0)))
		got, _ := ReadFile(c, "/d/a")
		full := "0123456789abcdef"
		if len(got) < 8 || len(got) >= len(full) || !bytes.HasPrefix([]byte(full), got) {
			t.Fatalf("seed %d: after torn crash file = %q, want a prefix of %q of length in [8,16)", seed, got, full)
		}
	}
}

func TestCrashTornKeepsOrderedPrefix(t *testing.T) {
	full := "0123456789abcdef"
	seen := map[int]bool{}
	for seed := range uint64(200) {
		c := newTestFS(t)
		mustWrite(t, c, "/d/a", nil, true, true)
		f, _ := c.OpenReadWrite("/d/a")
		for i := 0; i < len(full); i += 4 {
			f.WriteAt([]byte(full[i:i+4]), int64(i))
		}
		c.CrashTorn(rand.New(rand.NewPCG(seed, 1)))
		got, _ := ReadFile(c, "/d/a")
		if !bytes.HasPrefix([]byte(full), got) {
			t.Fatalf("seed %d: %q is not a prefix of %q", seed, got, full)
		}
		seen[len(got)] = true
	}
	if len(seen) < 10 {
		t.Errorf("torn crashes produced only %d distinct lengths", len(seen))
	}
}

func TestCrashKillsHandlesAndLocks(t *testing.T) {
	c := newTestFS(t)
	mustWrite(t, c, "/d/a", []byte("x"), true, true)
	f, _ := c.OpenReadWrite("/d/a")
	l, err := c.Lock("/d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock("/d"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	c.Crash()
	if _, err := f.Write([]byte("y")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write on old handle: %v, want ErrCrashed", err)
	}
	l2, err := c.Lock("/d")
	if err != nil {
		t.Fatalf("lock after crash: %v", err)
	}
	l.Close() // a stale unlock must not release the new holder
	if _, err := c.Lock("/d"); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock after stale unlock: %v, want ErrLocked", err)
	}
	l2.Close()
	if l3, err := c.Lock("/d"); err != nil {
		t.Fatalf("lock after release: %v", err)
	} else {
		l3.Close()
	}
}

func TestLockFollowsRename(t *testing.T) {
	c := newTestFS(t)
	c.MkdirAll("/d/tmp", 0o700)
	l, err := c.Lock("/d/tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := c.Rename("/d/tmp", "/d/wal"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock("/d/wal"); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock renamed dir: %v, want ErrLocked", err)
	}
}

func TestFaults(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		fault Fault
		ok    []bool // results of three syncs of /d/a.wal, then one of /d/b
	}{
		{"FailNth", FailNth(OpSync, 2, boom), []bool{true, false, true, true}},
		{"FailFrom", FailFrom(OpSync, 2, boom), []bool{true, false, false, false}},
		{"FailMatch", FailMatch(OpSync, "*.wal", boom), []bool{false, false, false, true}},
		{"AnyFault", AnyFault(FailNth(OpSync, 1, boom), FailNth(OpSync, 4, boom)), []bool{false, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestFS(t)
			a, _ := c.Create("/d/a.wal")
			b, _ := c.Create("/d/b")
			c.SetFault(tt.fault)
			var got []bool
			for range 3 {
				got = append(got, a.Sync() == nil)
			}
			err := b.Sync()
			got = append(got, err == nil)
			for i := range got {
				if got[i] != tt.ok[i] {
					t.Fatalf("sync results %v, want %v", got, tt.ok)
				}
			}
			if err != nil && !errors.Is(err, boom) {
				t.Fatalf("error %v does not wrap the injected one", err)
			}
		})
	}
}

func TestFailedWriteHasNoEffect(t *testing.T) {
	c := newTestFS(t)
	f, _ := c.Create("/d/a")
	c.SetFault(FailNth(OpWrite, 1, errors.New("EIO")))
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("write succeeded")
	}
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatalf("size %d after failed write", fi.Size())
	}
}

func TestCrashFSErrors(t *testing.T) {
	c := newTestFS(t)
	mustWrite(t, c, "/d/a", []byte("x"), true, true)
	c.MkdirAll("/d/sub/x", 0o700)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"open missing", func() error { _, err := c.Open("/d/nope"); return err }(), fs.ErrNotExist},
		{"create in missing dir", func() error { _, err := c.Create("/nope/a"); return err }(), fs.ErrNotExist},
		{"remove non-empty dir", c.Remove("/d/sub"), errNotEmpty},
		{"rename dir over file", c.Rename("/d/sub", "/d/a"), errNotDir},
		{"rename into itself", c.Rename("/d/sub", "/d/sub/x/y"), fs.ErrInvalid},
		{"rename onto a directory", func() error { c.MkdirAll("/d/empty", 0o700); return c.Rename("/d/sub", "/d/empty") }(), fs.ErrExist},
		{"write read-only", func() error { f, _ := c.Open("/d/a"); _, err := f.Write([]byte("y")); return err }(), errReadOnly},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if err := c.RemoveAll("/d/nope"); err != nil {
		t.Errorf("RemoveAll of missing: %v", err)
	}
	names, err := c.List("/d")
	if err != nil || len(names) != 3 || names[0] != "a" || names[1] != "empty" || names[2] != "sub" {
		t.Errorf("List = %v, %v", names, err)
	}
}
