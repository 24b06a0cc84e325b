package snap

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/storage/vfs"
)

// failingReader yields n bytes of data, then fails.
type failingReader struct {
	data []byte
	n    int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	copy(p, r.data[:k])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

func dbBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestSaveDBFrom(t *testing.T) {
	data := dbBytes(100_000)
	rejected := errors.New("not a bbolt file")
	tests := []struct {
		name    string
		reader  func() io.Reader
		verify  func(fs vfs.FS, path string) error
		fault   vfs.Fault
		wantErr bool
	}{
		{name: "whole", reader: func() io.Reader { return bytes.NewReader(data) }},
		{name: "verified", reader: func() io.Reader { return bytes.NewReader(data) },
			verify: func(fs vfs.FS, path string) error {
				got, err := vfs.ReadFile(fs, path)
				if err != nil || !bytes.Equal(got, data) {
					return rejected
				}
				return nil
			}},
		{name: "stream breaks", reader: func() io.Reader { return &failingReader{data: data, n: 60_000} }, wantErr: true},
		{name: "verifier rejects", reader: func() io.Reader { return bytes.NewReader(data) },
			verify: func(vfs.FS, string) error { return rejected }, wantErr: true},
		{name: "fsync fails", reader: func() io.Reader { return bytes.NewReader(data) },
			fault: vfs.FailNth(vfs.OpSync, 1, errors.New("EIO")), wantErr: true},
		{name: "rename fails", reader: func() io.Reader { return bytes.NewReader(data) },
			fault: vfs.FailNth(vfs.OpRename, 1, errors.New("EIO")), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.verify != nil {
				opts = append(opts, WithDBVerifier(tt.verify))
			}
			fs, s := newSnapshotter(t, opts...)
			fs.SetFault(tt.fault)
			n, err := s.SaveDBFrom(tt.reader(), 42)
			fs.SetFault(nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SaveDBFrom = %d, %v", n, err)
			}
			if err == nil && n != int64(len(data)) {
				t.Fatalf("copied %d bytes, want %d", n, len(data))
			}
			names, _ := fs.List(snapDir)
			for _, name := range names {
				if filepath.Ext(name) == tmpExt {
					t.Fatalf("temporary %s left behind", name)
				}
			}
			path, perr := s.DBFilePath(42)
			if tt.wantErr {
				if !errors.Is(perr, ErrNoDBSnapshot) {
					t.Fatalf("after failed save DBFilePath = %q, %v", path, perr)
				}
				return
			}
			if perr != nil || filepath.Base(path) != "000000000000002a.snap.db" {
				t.Fatalf("DBFilePath = %q, %v", path, perr)
			}
			fs.Crash()
			if got, err := vfs.ReadFile(fs, path); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after crash database file is %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestSaveDBFromCrashAnywhere: whatever a crash catches of a save, the
// final name is either absent or the whole file.
func TestSaveDBFromCrashAnywhere(t *testing.T) {
	data := dbBytes(20_000)
	ops := []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 3))
		fs, s := newSnapshotter(t)
		// Stop the save at a random operation, as a crash there would.
		stop := errors.New("crash")
		fs.SetFault(vfs.FailFrom(ops[rng.IntN(len(ops))], 1+rng.IntN(3), stop))
		s.SaveDBFrom(&chunkReader{data: data, chunk: 4096}, 7)
		fs.SetFault(nil)
		fs.CrashTorn(rng)
		s, err := New(fs, snapDir)
		if err != nil {
			t.Fatal(err)
		}
		path, err := s.DBFilePath(7)
		if errors.Is(err, ErrNoDBSnapshot) {
			continue
		}
		if got, _ := vfs.ReadFile(fs, path); !bytes.Equal(got, data) {
			t.Fatalf("seed %d: %s exists with %d of %d bytes", seed, path, len(got), len(data))
		}
	}
}

// chunkReader hands out data in small reads, so a copy is many writes.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[k:]
	return k, nil
}

func TestReleaseSnapDBs(t *testing.T) {
	fs, s := newSnapshotter(t)
	for _, i := range []uint64{5, 10, 20} {
		if _, err := s.SaveDBFrom(bytes.NewReader([]byte("db")), i); err != nil {
			t.Fatal(err)
		}
	}
	mustSave(t, s, mkSnap(1, 5, 1))
	removed, err := s.ReleaseSnapDBs(20)
	if err != nil || len(removed) != 2 {
		t.Fatalf("ReleaseSnapDBs removed %v, %v", removed, err)
	}
	for _, i := range []uint64{5, 10} {
		if _, err := s.DBFilePath(i); !errors.Is(err, ErrNoDBSnapshot) {
			t.Fatalf("db %d still there", i)
		}
	}
	if _, err := s.DBFilePath(20); err != nil {
		t.Fatal(err)
	}
	// The .snap file of index 5 is not a database file.
	if !vfs.Exists(fs, filepath.Join(snapDir, snapName{1, 5}.String())) {
		t.Fatal("ReleaseSnapDBs removed a .snap file")
	}
}
