package snap

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
)

const snapDir = "/data/member/snap"

func newSnapshotter(t *testing.T, opts ...Option) (*vfs.CrashFS, *Snapshotter) {
	t.Helper()
	fs := vfs.NewCrashFS()
	s, err := New(fs, snapDir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return fs, s
}

func mkSnap(term, index uint64, size int) raftpb.Snapshot {
	data := bytes.Repeat([]byte{byte(index)}, size)
	return raftpb.Snapshot{
		Data: data,
		Metadata: raftpb.SnapshotMetadata{
			Index: index, Term: term,
			ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
		},
	}
}

func snapEqual(a, b raftpb.Snapshot) bool {
	return bytes.Equal(a.Data, b.Data) && a.Metadata.Index == b.Metadata.Index && a.Metadata.Term == b.Metadata.Term &&
		slices.Equal(a.Metadata.ConfState.Voters, b.Metadata.ConfState.Voters) &&
		slices.Equal(a.Metadata.ConfState.Learners, b.Metadata.ConfState.Learners)
}

func mustSave(t *testing.T, s *Snapshotter, snaps ...raftpb.Snapshot) {
	t.Helper()
	for _, sn := range snaps {
		if err := s.SaveSnap(sn); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	tests := []struct {
		name  string
		snaps []raftpb.Snapshot
		want  raftpb.Snapshot
	}{
		{"one", []raftpb.Snapshot{mkSnap(1, 10, 100)}, mkSnap(1, 10, 100)},
		{"no data", []raftpb.Snapshot{mkSnap(1, 10, 0)}, mkSnap(1, 10, 0)},
		{"large", []raftpb.Snapshot{mkSnap(1, 10, 1<<20)}, mkSnap(1, 10, 1<<20)},
		{"newest by index", []raftpb.Snapshot{mkSnap(2, 30, 10), mkSnap(1, 10, 10), mkSnap(3, 200, 10), mkSnap(3, 100, 10)}, mkSnap(3, 200, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, s := newSnapshotter(t)
			mustSave(t, s, tt.snaps...)
			fs.Crash() // saved means durable
			s, err := New(fs, snapDir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !snapEqual(*got, tt.want) {
				t.Fatalf("loaded %+v, want %+v", got.Metadata, tt.want.Metadata)
			}
		})
	}
}

func TestLoadEmpty(t *testing.T) {
	_, s := newSnapshotter(t)
	if _, err := s.Load(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load of empty dir: %v", err)
	}
	if err := s.SaveSnap(raftpb.Snapshot{}); !errors.Is(err, ErrEmptySnapshot) {
		t.Fatalf("SaveSnap of empty snapshot: %v", err)
	}
}

// TestCorruptNewestSkipped: each kind of damage to the newest file makes
// Load fall back to the one before and set the damaged one aside.
func TestCorruptNewestSkipped(t *testing.T) {
	newest := snapName{term: 2, index: 20}.String()
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"flipped payload byte", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }},
		{"flipped header byte", func(b []byte) []byte { b[9] ^= 1; return b }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"unknown version", func(b []byte) []byte { b[4] = 9; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }},
		{"empty", func(b []byte) []byte { return nil }},
		{"other snapshot's contents", func(b []byte) []byte {
			other, _ := encode(&raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Term: 2, Index: 21}})
			return other
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, s := newSnapshotter(t)
			mustSave(t, s, mkSnap(1, 10, 50), mkSnap(2, 20, 50))
			path := filepath.Join(snapDir, newest)
			b, _ := vfs.ReadFile(fs, path)
			f, _ := fs.Create(path)
			f.Write(tt.damage(b))
			f.Close()
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !snapEqual(*got, mkSnap(1, 10, 50)) {
				t.Fatalf("loaded %+v, want the older snapshot", got.Metadata)
			}
			if vfs.Exists(fs, path) || !vfs.Exists(fs, path+brokenExt) {
				t.Fatalf("corrupt %s not renamed to %s", newest, newest+brokenExt)
			}
			// The broken file is not tried again and not counted.
			if got, err := s.Load(); err != nil || got.Metadata.Index != 10 {
				t.Fatalf("second Load: %v, %v", got, err)
			}
		})
	}
}

func TestLoadNewestAvailable(t *testing.T) {
	tests := []struct {
		name    string
		markers []wal.Marker
		want    uint64 // index, 0 for ErrNoSnapshot
	}{
		{"newest in WAL", []wal.Marker{{}, {Index: 10, Term: 1}, {Index: 20, Term: 2}, {Index: 30, Term: 2}}, 30},
		{"newest not yet in WAL", []wal.Marker{{}, {Index: 10, Term: 1}, {Index: 20, Term: 2}}, 20},
		{"term must match", []wal.Marker{{}, {Index: 10, Term: 1}, {Index: 30, Term: 3}}, 10},
		{"none", []wal.Marker{{}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := newSnapshotter(t)
			mustSave(t, s, mkSnap(1, 10, 5), mkSnap(2, 20, 5), mkSnap(2, 30, 5))
			got, err := s.LoadNewestAvailable(tt.markers)
			if tt.want == 0 {
				if !errors.Is(err, ErrNoSnapshot) {
					t.Fatalf("got %v, %v, want ErrNoSnapshot", got, err)
				}
				return
			}
			if err != nil || got.Metadata.Index != tt.want {
				t.Fatalf("got %v, %v, want index %d", got, err, tt.want)
			}
		})
	}
}

// TestLoadNewestAvailableWithWAL runs the restart sequence against a real
// WAL: markers from the WAL pick the snapshot to open the WAL at.
func TestLoadNewestAvailableWithWAL(t *testing.T) {
	fs, s := newSnapshotter(t)
	w, err := wal.Create(fs, "/data/member/wal", []byte("m"), wal.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	var ents []raftpb.Entry
	for i := uint64(1); i <= 30; i++ {
		ents = append(ents, raftpb.Entry{Index: i, Term: 1})
	}
	w.Save(raftpb.HardState{Term: 1, Commit: 30}, ents)
	mustSave(t, s, mkSnap(1, 10, 5))
	w.SaveSnapshot(raftpb.SnapshotMetadata{Index: 10, Term: 1})
	mustSave(t, s, mkSnap(1, 25, 5)) // crash before its marker is written
	w.Close()
	fs.Crash()
	markers, err := wal.ValidSnapshotMarkers(fs, "/data/member/wal")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.LoadNewestAvailable(markers)
	if err != nil || snap.Metadata.Index != 10 {
		t.Fatalf("LoadNewestAvailable = %v, %v, want index 10", snap, err)
	}
	w, err = wal.Open(fs, "/data/member/wal", wal.Marker{Index: snap.Metadata.Index, Term: snap.Metadata.Term})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, _, got, err := w.ReadAll(); err != nil || len(got) != 20 || got[0].Index != 11 {
		t.Fatalf("ReadAll after snapshot: %d entries, %v", len(got), err)
	}
}

func TestPurge(t *testing.T) {
	tests := []struct {
		max  int
		left []uint64
	}{
		{0, []uint64{10, 20, 30, 40, 50}},
		{5, []uint64{10, 20, 30, 40, 50}},
		{3, []uint64{30, 40, 50}},
		{1, []uint64{50}},
	}
	for _, tt := range tests {
		fs, s := newSnapshotter(t)
		for i := uint64(1); i <= 5; i++ {
			mustSave(t, s, mkSnap(1, i*10, 5))
		}
		if _, err := s.Purge(tt.max); err != nil {
			t.Fatal(err)
		}
		fs.Crash()
		names, _ := s.snapNames()
		var left []uint64
		for _, n := range names {
			left = append(left, n.index)
		}
		if !slices.Equal(left, tt.left) {
			t.Fatalf("Purge(%d) left %v, want %v", tt.max, left, tt.left)
		}
	}
}

// TestSaveSnapAtomic: a crash at any point of SaveSnap leaves no file or
// the whole file, and a failed save leaves nothing behind.
func TestSaveSnapAtomic(t *testing.T) {
	boom := errors.New("boom")
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir} {
		for _, crash := range []int{0, 1} {
			fs, s := newSnapshotter(t)
			mustSave(t, s, mkSnap(1, 10, 5))
			fs.SetFault(vfs.FailNth(op, 1, boom))
			err := s.SaveSnap(mkSnap(2, 20, 1000))
			fs.SetFault(nil)
			if !errors.Is(err, boom) {
				t.Fatalf("%s fault: SaveSnap = %v", op, err)
			}
			if crash == 1 {
				fs.CrashTorn(rand.New(rand.NewPCG(uint64(op), 0)))
			}
			s, _ = New(fs, snapDir)
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if got.Metadata.Index == 20 && !snapEqual(*got, mkSnap(2, 20, 1000)) || got.Metadata.Index != 20 && got.Metadata.Index != 10 {
				t.Fatalf("%s fault: loaded %+v", op, got.Metadata)
			}
			names, _ := fs.List(snapDir)
			for _, n := range names {
				if filepath.Ext(n) == tmpExt || filepath.Ext(n) == brokenExt {
					t.Fatalf("%s fault: %s left behind", op, n)
				}
			}
		}
	}
}

func TestStrayFilesIgnored(t *testing.T) {
	fs, s := newSnapshotter(t)
	mustSave(t, s, mkSnap(1, 10, 5))
	for _, name := range []string{"junk", "1-2.snap", "0000000000000001-000000000000000a.snap.tmp", "0000000000000064.snap.db"} {
		f, _ := fs.Create(filepath.Join(snapDir, name))
		f.Write([]byte("garbage"))
		f.Close()
	}
	s, err := New(fs, snapDir)
	if err != nil {
		t.Fatal(err)
	}
	if vfs.Exists(fs, filepath.Join(snapDir, "0000000000000001-000000000000000a.snap.tmp")) {
		t.Fatal("leftover .tmp not removed by New")
	}
	if got, err := s.Load(); err != nil || got.Metadata.Index != 10 {
		t.Fatalf("Load = %v, %v", got, err)
	}
}
