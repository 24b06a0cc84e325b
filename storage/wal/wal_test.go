package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

func TestSaveReadAllRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		segSize int64
		saves   [][]raftpb.Entry
		want    []raftpb.Entry
	}{
		{"empty", 4096, nil, nil},
		{"one save", 4096, [][]raftpb.Entry{mkEnts(1, 3, 1, 10)}, mkEnts(1, 3, 1, 10)},
		{"empty data and conf change", 4096, [][]raftpb.Entry{{{Index: 1, Term: 1}, {Index: 2, Term: 1, Type: raftpb.EntryConfChange, Data: []byte{1}}}},
			[]raftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1, Type: raftpb.EntryConfChange, Data: []byte{1}}}},
		{"many saves across segments", 512, [][]raftpb.Entry{mkEnts(1, 40, 1, 30), mkEnts(41, 41, 1, 0), mkEnts(42, 100, 2, 50)},
			append(mkEnts(1, 40, 1, 30), append(mkEnts(41, 41, 1, 0), mkEnts(42, 100, 2, 50)...)...)},
		{"entry larger than a segment", 256, [][]raftpb.Entry{mkEnts(1, 2, 1, 10), mkEnts(3, 3, 1, 2000), mkEnts(4, 5, 1, 10)},
			append(mkEnts(1, 2, 1, 10), append(mkEnts(3, 3, 1, 2000), mkEnts(4, 5, 1, 10)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFS(t)
			w := mustCreate(t, fs, WithSegmentSize(tt.segSize))
			st := raftpb.HardState{Term: 1, Vote: 1}
			for _, ents := range tt.saves {
				st.Commit = ents[len(ents)-1].Index
				if err := w.Save(st, ents); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			fs.Crash()
			w, gotSt, got := mustReopen(t, fs, Marker{}, WithSegmentSize(tt.segSize))
			defer w.Close()
			mustEnts(t, got, tt.want)
			if len(tt.saves) > 0 && gotSt != st {
				t.Fatalf("hard state %+v, want %+v", gotSt, st)
			}
		})
	}
}

// TestAcknowledgedSavesSurviveCrash: whatever a Save (or Sync) returned for
// is there after a crash; what raft does not require synced may be lost.
func TestAcknowledgedSavesSurviveCrash(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(1024))
	st := raftpb.HardState{Term: 1, Vote: 1, Commit: 0}
	var want []raftpb.Entry
	for i := uint64(0); i < 30; i++ {
		ents := mkEnts(i*3+1, i*3+3, 1, 40)
		st.Commit = i * 3
		if err := w.Save(st, ents); err != nil {
			t.Fatal(err)
		}
		want = append(want, ents...)
	}
	synced := st
	// A commit-only change is not synced by Save, so a crash may lose it.
	if err := w.Save(raftpb.HardState{Term: 1, Vote: 1, Commit: 90}, nil); err != nil {
		t.Fatal(err)
	}
	// Neither is SaveNoSync.
	if err := w.SaveNoSync(st, mkEnts(91, 95, 1, 40)); err != nil {
		t.Fatal(err)
	}
	fs.Crash()
	w, gotSt, got := mustReopen(t, fs, Marker{}, WithSegmentSize(1024))
	mustEnts(t, got, want)
	if gotSt != synced {
		t.Fatalf("hard state %+v, want %+v", gotSt, synced)
	}
	// And an explicit Sync makes SaveNoSync durable.
	if err := w.SaveNoSync(st, mkEnts(91, 95, 1, 40)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	fs.Crash()
	w, _, got = mustReopen(t, fs, Marker{}, WithSegmentSize(1024))
	defer w.Close()
	mustEnts(t, got, append(want, mkEnts(91, 95, 1, 40)...))
}

// TestTornTailRepaired: a crash in the middle of a write leaves part of a
// record; the WAL opens with everything before it, and appends after it
// read back after the next crash.
func TestTornTailRepaired(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		fs := newFS(t)
		w := mustCreate(t, fs, WithSegmentSize(64<<10))
		st := raftpb.HardState{Term: 1, Vote: 1}
		acked := mkEnts(1, 10, 1, 100)
		if err := w.Save(st, acked); err != nil {
			t.Fatal(err)
		}
		// Three writes in flight, the last torn anywhere.
		for i := uint64(0); i < 3; i++ {
			if err := w.SaveNoSync(raftpb.HardState{}, mkEnts(11+i*5, 15+i*5, 1, 100)); err != nil {
				t.Fatal(err)
			}
		}
		fs.CrashTearLast(rng)
		w, _, got := mustReopen(t, fs, Marker{}, WithSegmentSize(64<<10))
		if len(got) < 20 || len(got) > 25 || !entsEqual(got, mkEnts(1, uint64(len(got)), 1, 100)) {
			t.Fatalf("seed %d: after torn write read %s, want 1..n for 20 <= n <= 25 (the cut may fall in the last record's padding)", seed, describe(got))
		}
		// The repair zeroed everything after the last valid record.
		seg := segmentFiles(t, fs)[len(segmentFiles(t, fs))-1]
		if buf, _ := vfs.ReadFile(fs, filepath.Join(walDir, seg)); !isZero(buf[endOfValid(t, fs, seg):]) {
			t.Fatalf("seed %d: torn bytes left after repair", seed)
		}
		// The repaired tail takes new records, which survive.
		next := uint64(len(got)) + 1
		if err := w.Save(st, mkEnts(next, next+4, 2, 10)); err != nil {
			t.Fatal(err)
		}
		fs.CrashTorn(rng)
		w, _, got2 := mustReopen(t, fs, Marker{}, WithSegmentSize(64<<10))
		mustEnts(t, got2, append(got, mkEnts(next, next+4, 2, 10)...))
		w.Close()
	}
}

// TestZeroedTail: records that never reached the disk read back as the
// preallocated zeros, which end the log.
func TestZeroedTail(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(1<<20))
	if err := w.Save(raftpb.HardState{Term: 1}, mkEnts(1, 5, 1, 20)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	seg := segmentFiles(t, fs)[0]
	offs, types := recordOffsets(t, fs, seg)
	path := filepath.Join(walDir, seg)
	fi, _ := fs.Stat(path)
	if fi.Size() != 1<<20 {
		t.Fatalf("segment size %d, want preallocated %d", fi.Size(), 1<<20)
	}
	// Zero entries 4 and 5 and the hard state after them, as if their
	// blocks were never written.
	var entryOffs []int
	for i, typ := range types {
		if typ == entryType {
			entryOffs = append(entryOffs, offs[i])
		}
	}
	patchFile(t, fs, path, int64(entryOffs[3]), make([]byte, 512))
	w, _, got := mustReopen(t, fs, Marker{})
	defer w.Close()
	mustEnts(t, got, mkEnts(1, 3, 1, 20))
}

func TestCorruptionReported(t *testing.T) {
	// Each case damages a WAL of several segments and says which file and
	// record (by position among the segment's records) must be blamed.
	type target struct{ seg, rec int }
	tests := []struct {
		name   string
		damage func(t *testing.T, fs vfs.FS, segs []string) target
	}{
		{"bit flip in entry data, valid records after", func(t *testing.T, fs vfs.FS, segs []string) target {
			return flip(t, fs, segs, len(segs)-1, 4, wordSize+16)
		}},
		{"bit flip in a length word", func(t *testing.T, fs vfs.FS, segs []string) target {
			return flip(t, fs, segs, len(segs)-1, 3, 0)
		}},
		{"bit flip in an older segment's last record's CRC", func(t *testing.T, fs vfs.FS, segs []string) target {
			offs, _ := recordOffsets(t, fs, segs[1])
			return flip(t, fs, segs, 1, len(offs)-1, wordSize+3)
		}},
		{"unknown record type", func(t *testing.T, fs vfs.FS, segs []string) target {
			// The CRC covers a record's data, not its type.
			offs, _ := recordOffsets(t, fs, segs[2])
			patchFile(t, fs, filepath.Join(walDir, segs[2]), int64(offs[4]+wordSize+1), []byte{9})
			return target{2, 4}
		}},
		{"zeroed records in an older segment", func(t *testing.T, fs vfs.FS, segs []string) target {
			// A zero length word ends a segment, as in etcd; the records
			// lost after it break the CRC chain into the next one.
			offs, _ := recordOffsets(t, fs, segs[1])
			patchFile(t, fs, filepath.Join(walDir, segs[1]), int64(offs[3]), make([]byte, wordSize))
			return target{2, 0}
		}},
		{"broken chain between segments", func(t *testing.T, fs vfs.FS, segs []string) target {
			// Rewrite segment 2's crc record to carry a wrong CRC of the
			// same encoded size, as a spliced segment would.
			fr := scanFrames(t, fs, segs[2])
			patchFile(t, fs, filepath.Join(walDir, segs[2]), 0, appendCRCFrame(nil, fr[0].crc^1))
			return target{2, 0}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFS(t)
			w := mustCreate(t, fs, WithSegmentSize(1024))
			for i := uint64(0); i < 12; i++ {
				if err := w.Save(raftpb.HardState{Term: 1, Commit: i * 5}, mkEnts(i*5+1, i*5+5, 1, 30)); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			segs := segmentFiles(t, fs)
			if len(segs) < 4 {
				t.Fatalf("only %d segments", len(segs))
			}
			tg := tt.damage(t, fs, segs)
			offs, _ := recordOffsets(t, vfs.FS(fs), segs[tg.seg])
			wantOff := -1
			if tg.rec < len(offs) {
				wantOff = offs[tg.rec]
			}
			for _, readOnly := range []bool{false, true} {
				open := Open
				if readOnly {
					open = OpenForRead
				}
				w, err := open(fs, walDir, Marker{}, WithSegmentSize(1024))
				if err != nil {
					t.Fatal(err)
				}
				_, _, _, err = w.ReadAll()
				w.Close()
				// recordOffsets stops at the damage, so the damaged
				// record's offset is the end of what it found.
				if wantOff < 0 {
					wantOff = endOfValid(t, fs, segs[tg.seg])
				}
				wantCorruption(t, err, segs[tg.seg], wantOff)
			}
		})
	}
}

// flip flips bit 0 of byte at of record rec in segment seg.
func flip(t *testing.T, fs vfs.FS, segs []string, seg, rec, at int) struct{ seg, rec int } {
	t.Helper()
	offs, _ := recordOffsets(t, fs, segs[seg])
	path := filepath.Join(walDir, segs[seg])
	off := int64(offs[rec] + at)
	patchFile(t, fs, path, off, []byte{readByte(t, fs, path, off) ^ 1})
	return struct{ seg, rec int }{seg, rec}
}

func endOfValid(t testing.TB, fs vfs.FS, seg string) int {
	fr := scanFrames(t, fs, seg)
	last := fr[len(fr)-1]
	return last.off + last.size
}

func TestSegmentsCutAtSizeLimit(t *testing.T) {
	const segSize = 512
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(segSize))
	var want []raftpb.Entry
	for i := uint64(0); i < 100; i++ {
		ents := mkEnts(i*2+1, i*2+2, 1, 25)
		if err := w.Save(raftpb.HardState{Term: 1, Commit: i * 2}, ents); err != nil {
			t.Fatal(err)
		}
		want = append(want, ents...)
	}
	w.Close()
	segs := segmentFiles(t, fs)
	if len(segs) < 20 {
		t.Fatalf("%d segments for ~%d bytes with %d-byte segments", len(segs), 200*72, segSize)
	}
	for i, name := range segs {
		s, _ := parseSegmentName(name)
		if s.seq != uint64(i) {
			t.Fatalf("segment %d is %s", i, name)
		}
		fi, _ := fs.Stat(filepath.Join(walDir, name))
		if fi.Size() > segSize {
			t.Fatalf("segment %s has %d bytes, limit %d", name, fi.Size(), segSize)
		}
		// A segment starts with crc, metadata and the zero snapshot (the
		// first) or the hard state (the others), as etcd's do.
		_, types := recordOffsets(t, fs, name)
		third := stateType
		if i == 0 {
			third = snapshotType
		}
		if len(types) < 3 || types[0] != crcType || types[1] != metadataType || types[2] != third {
			t.Fatalf("segment %s begins with %v", name, types)
		}
		// ... and is named for the first entry appended after the cut.
		if i > 0 {
			for _, f := range scanFrames(t, fs, name) {
				if f.typ == entryType {
					var e raftpb.Entry
					if err := e.Unmarshal(f.data); err != nil {
						t.Fatal(err)
					}
					if e.Index != s.index {
						t.Fatalf("segment %s: first entry %d", name, e.Index)
					}
					break
				}
			}
		}
	}
	w, _, got := mustReopen(t, fs, Marker{}, WithSegmentSize(segSize))
	defer w.Close()
	mustEnts(t, got, want)
}

func TestOpenAtSnapshotMarker(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(512))
	st := raftpb.HardState{Term: 2, Vote: 1}
	for i := uint64(0); i < 20; i++ {
		st.Commit = i * 3
		if err := w.Save(st, mkEnts(i*3+1, i*3+3, 2, 20)); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			if err := w.SaveSnapshot(snapMeta(Marker{Index: 12, Term: 2})); err != nil {
				t.Fatal(err)
			}
		}
		if i == 15 {
			if err := w.SaveSnapshot(snapMeta(Marker{Index: 40, Term: 2})); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Close()
	tests := []struct {
		marker Marker
		want   []raftpb.Entry
		err    error
	}{
		{Marker{}, mkEnts(1, 60, 2, 20), nil},
		{Marker{Index: 12, Term: 2}, mkEnts(13, 60, 2, 20), nil},
		{Marker{Index: 40, Term: 2}, mkEnts(41, 60, 2, 20), nil},
		{Marker{Index: 40, Term: 1}, nil, ErrSnapshotMismatch},
		{Marker{Index: 30, Term: 2}, nil, ErrSnapshotNotFound},
	}
	for _, tt := range tests {
		w, err := OpenForRead(fs, walDir, tt.marker)
		if err != nil {
			t.Fatal(err)
		}
		_, _, got, err := w.ReadAll()
		w.Close()
		if !errors.Is(err, tt.err) {
			t.Fatalf("at %+v: error %v, want %v", tt.marker, err, tt.err)
		}
		mustEnts(t, got, tt.want)
	}
	markers, err := ValidSnapshotMarkers(fs, walDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Marker{{}, {12, 2}, {40, 2}}; !slices.Equal(markers, want) {
		t.Fatalf("markers %v, want %v", markers, want)
	}
}

func TestOverwrittenTailReplaced(t *testing.T) {
	tests := []struct {
		name   string
		saves  [][]raftpb.Entry
		marker Marker
		want   []raftpb.Entry
	}{
		{"new leader overwrites uncommitted tail",
			[][]raftpb.Entry{mkEnts(1, 10, 1, 10), mkEnts(6, 8, 2, 10)}, Marker{},
			append(mkEnts(1, 5, 1, 10), mkEnts(6, 8, 2, 10)...)},
		{"overwrite twice, across segments",
			[][]raftpb.Entry{mkEnts(1, 30, 1, 40), mkEnts(20, 40, 2, 40), mkEnts(35, 36, 3, 40)}, Marker{},
			append(mkEnts(1, 19, 1, 40), append(mkEnts(20, 34, 2, 40), mkEnts(35, 36, 3, 40)...)...)},
		{"overwrite below end, reading after a snapshot",
			[][]raftpb.Entry{mkEnts(1, 30, 1, 40), nil, mkEnts(25, 26, 2, 40)}, Marker{Index: 20, Term: 1},
			append(mkEnts(21, 24, 1, 40), mkEnts(25, 26, 2, 40)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFS(t)
			w := mustCreate(t, fs, WithSegmentSize(512))
			for _, ents := range tt.saves {
				if ents == nil {
					if err := w.SaveSnapshot(snapMeta(tt.marker)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := w.Save(raftpb.HardState{Term: ents[0].Term}, ents); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			w, _, got := mustReopen(t, fs, tt.marker)
			defer w.Close()
			mustEnts(t, got, tt.want)
		})
	}
}

func TestFailedFsyncOrWriteSurfaces(t *testing.T) {
	eio := errors.New("EIO")
	tests := []struct {
		name  string
		fault vfs.Fault
	}{
		{"fsync", vfs.FailNth(vfs.OpSync, 1, eio)},
		{"write", vfs.FailNth(vfs.OpWrite, 1, eio)},
		{"fsync of a cut", vfs.FailMatch(vfs.OpSync, "*.tmp", eio)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFS(t)
			w := mustCreate(t, fs, WithSegmentSize(512))
			if err := w.Save(raftpb.HardState{Term: 1}, mkEnts(1, 2, 1, 10)); err != nil {
				t.Fatal(err)
			}
			fs.SetFault(tt.fault)
			err := w.Save(raftpb.HardState{Term: 1}, mkEnts(3, 30, 1, 30))
			if !errors.Is(err, eio) {
				t.Fatalf("Save with failing %s: %v", tt.name, err)
			}
			fs.SetFault(nil)
			// Sticky: nothing more is accepted.
			if err2 := w.Save(raftpb.HardState{Term: 1}, mkEnts(31, 31, 1, 10)); !errors.Is(err2, eio) {
				t.Fatalf("Save after failure: %v", err2)
			}
			if err2 := w.Sync(); !errors.Is(err2, eio) {
				t.Fatalf("Sync after failure: %v", err2)
			}
			w.Close()
			fs.Crash()
			w, _, got := mustReopen(t, fs, Marker{}, WithSegmentSize(512))
			defer w.Close()
			// The acknowledged save is there; of the failed one, any
			// prefix may be.
			all := append(mkEnts(1, 2, 1, 10), mkEnts(3, 30, 1, 30)...)
			if len(got) < 2 {
				t.Fatalf("after failure read %s, lost acknowledged entries", describe(got))
			}
			mustEnts(t, got, all[:len(got)])
		})
	}
}

func TestLockExcludesSecondWriter(t *testing.T) {
	for _, name := range []string{"CrashFS", "OS"} {
		t.Run(name, func(t *testing.T) {
			var fs vfs.FS
			dir := walDir
			if name == "OS" {
				fs = vfs.OS
				dir = filepath.Join(t.TempDir(), "wal")
			} else {
				fs = newFS(t)
			}
			w, err := Create(fs, dir, testMeta, WithSegmentSize(4096))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(fs, dir, Marker{}); !errors.Is(err, ErrLocked) {
				t.Fatalf("Open while created WAL is open: %v, want ErrLocked", err)
			}
			w.Close()
			w1, err := Open(fs, dir, Marker{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(fs, dir, Marker{}); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Open: %v, want ErrLocked", err)
			}
			// Readers need no lock.
			r, err := OpenForRead(fs, dir, Marker{})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			w1.Close()
			w2, err := Open(fs, dir, Marker{})
			if err != nil {
				t.Fatalf("Open after Close: %v", err)
			}
			w2.Close()
		})
	}
}

func TestPurgeKeepsNeededSegments(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(512))
	for i := uint64(0); i < 60; i++ {
		if err := w.Save(raftpb.HardState{Term: 1, Commit: i * 2}, mkEnts(i*2+1, i*2+2, 1, 30)); err != nil {
			t.Fatal(err)
		}
	}
	all := segmentFiles(t, fs)
	if len(all) < 10 {
		t.Fatalf("%d segments", len(all))
	}
	// Nothing is released yet: Purge removes nothing.
	if removed, err := w.Purge(2); err != nil || len(removed) != 0 {
		t.Fatalf("Purge before release removed %v, %v", removed, err)
	}
	snap := Marker{Index: 70, Term: 1}
	if err := w.SaveSnapshot(snapMeta(snap)); err != nil {
		t.Fatal(err)
	}
	if err := w.ReleaseLockTo(snap.Index); err != nil {
		t.Fatal(err)
	}
	keepFrom := searchIndex(mustSegments(t, fs), snap.Index)
	tests := []struct {
		maxWALs     int
		wantRemoved int
	}{
		{0, 0},            // unlimited
		{len(all) - 1, 1}, // one over the limit
		{1, keepFrom - 1}, // the limit cannot remove needed segments
		{1, 0},            // nothing more released
	}
	for _, tt := range tests {
		removed, err := w.Purge(tt.maxWALs)
		if err != nil || len(removed) != tt.wantRemoved {
			t.Fatalf("Purge(%d) removed %d (%v), want %d", tt.maxWALs, len(removed), err, tt.wantRemoved)
		}
	}
	left := segmentFiles(t, fs)
	if !slices.Equal(left, all[keepFrom:]) {
		t.Fatalf("segments left %v, want %v", left, all[keepFrom:])
	}
	w.Close()
	fs.Crash()
	w, _, got := mustReopen(t, fs, snap, WithSegmentSize(512))
	defer w.Close()
	mustEnts(t, got, mkEnts(71, 120, 1, 30))
	if _, err := Open(fs, walDir, Marker{Index: 20, Term: 1}); err == nil || !errors.Is(err, ErrSnapshotNotFound) && !errors.Is(err, ErrLocked) {
		t.Fatalf("Open at purged marker: %v", err)
	}
}

func mustSegments(t *testing.T, fs vfs.FS) []segmentName {
	segs, _, err := listSegments(fs, walDir, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func TestCreate(t *testing.T) {
	t.Run("existing WAL", func(t *testing.T) {
		fs := newFS(t)
		mustCreate(t, fs).Close()
		if _, err := Create(fs, walDir, testMeta); !errors.Is(err, ErrExist) {
			t.Fatalf("Create over WAL: %v", err)
		}
		if !Exist(fs, walDir) || Exist(fs, "/data/other") {
			t.Fatal("Exist wrong")
		}
	})
	t.Run("crash during create leaves no WAL or a whole one", func(t *testing.T) {
		for _, op := range []vfs.Op{vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, vfs.OpLock} {
			for n := 1; n <= 3; n++ {
				fs := newFS(t)
				fs.SetFault(vfs.FailNth(op, n, errors.New("injected")))
				w, err := Create(fs, walDir, testMeta)
				fs.SetFault(nil)
				if err == nil {
					w.Close()
				}
				fs.Crash()
				if !Exist(fs, walDir) {
					continue
				}
				w, _, got := mustReopen(t, fs, Marker{})
				if len(got) != 0 {
					t.Fatalf("fresh WAL has entries")
				}
				w.Close()
			}
		}
	})
	t.Run("into an existing empty directory on the OS", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		if err := vfs.OS.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		w, err := Create(vfs.OS, dir, testMeta)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Save(raftpb.HardState{Term: 1}, mkEnts(1, 3, 1, 10)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		w, err = Open(vfs.OS, dir, Marker{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, _, got, err := w.ReadAll(); err != nil || len(got) != 3 {
			t.Fatalf("ReadAll = %d entries, %v", len(got), err)
		}
		if vfs.Exists(vfs.OS, dir+".tmp") {
			t.Fatal("temporary directory left behind")
		}
	})
	t.Run("created WAL survives crash", func(t *testing.T) {
		fs := newFS(t)
		mustCreate(t, fs).Close()
		fs.Crash()
		w, _, _ := mustReopen(t, fs, Marker{})
		w.Close()
	})
}

func TestStrayFiles(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs, WithSegmentSize(512))
	w.Save(raftpb.HardState{Term: 1}, mkEnts(1, 20, 1, 30))
	w.Close()
	for _, name := range []string{"junk.txt", "0000000000000009-0000000000000000.wal.tmp", "1.tmp", "12.wal"} {
		f, _ := fs.Create(filepath.Join(walDir, name))
		f.Close()
	}
	w, _, got := mustReopen(t, fs, Marker{})
	mustEnts(t, got, mkEnts(1, 20, 1, 30))
	w.Close()
	for _, name := range []string{"0000000000000009-0000000000000000.wal.tmp", "1.tmp"} {
		if vfs.Exists(fs, filepath.Join(walDir, name)) {
			t.Fatalf("leftover %s not removed", name)
		}
	}
	if !vfs.Exists(fs, filepath.Join(walDir, "junk.txt")) {
		t.Fatal("a stranger's file removed")
	}
	// A missing middle segment is an error, not a silent gap.
	segs := segmentFiles(t, fs)
	fs.Remove(filepath.Join(walDir, segs[1]))
	if _, err := Open(fs, walDir, Marker{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a missing segment: %v", err)
	}
}

func TestAPIMisuse(t *testing.T) {
	fs := newFS(t)
	w := mustCreate(t, fs)
	if _, _, _, err := w.ReadAll(); !errors.Is(err, ErrReadAllDone) {
		t.Fatalf("ReadAll after Create: %v", err)
	}
	w.Close()
	if err := w.Save(raftpb.HardState{Term: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	w, _ = Open(fs, walDir, Marker{})
	if err := w.Save(raftpb.HardState{Term: 1}, nil); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Save before ReadAll: %v", err)
	}
	w.Close()
	r, _ := OpenForRead(fs, walDir, Marker{})
	r.ReadAll()
	if err := r.Save(raftpb.HardState{Term: 1}, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Save read-only: %v", err)
	}
	r.Close()
	if _, err := Open(fs, "/data/nowal", Marker{}); err == nil {
		t.Fatal("Open of missing dir succeeded")
	}
}

// TestConcurrentSavesShareFsyncs: many goroutines saving at once need far
// fewer fsyncs than saves, and every acknowledged save is durable. With
// small segments, cuts happen while another goroutine is fsyncing.
func TestConcurrentSavesShareFsyncs(t *testing.T) {
	for _, segSize := range []int64{1 << 20, 512} {
		t.Run(fmt.Sprintf("segment=%d", segSize), func(t *testing.T) {
			fs := slowSyncFS{newFS(t)}
			var mu sync.Mutex
			fsyncs := 0
			w := mustCreate(t, fs, WithSegmentSize(segSize), WithFsyncObserver(func(d time.Duration) {
				mu.Lock()
				fsyncs++
				mu.Unlock()
			}))
			const writers, perWriter = 8, 25
			var wg sync.WaitGroup
			var idx sync.Mutex
			next := uint64(1)
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWriter {
						// Appends must be in index order; the lock hands
						// out indexes and appends in one step, then the
						// fsync is shared outside it.
						idx.Lock()
						i := next
						next++
						err := w.SaveNoSync(raftpb.HardState{}, mkEnts(i, i, 1, 20))
						idx.Unlock()
						if err == nil {
							err = w.Sync()
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			mu.Lock()
			n := fsyncs
			mu.Unlock()
			t.Logf("%d fsyncs for %d saves", n, writers*perWriter)
			if segSize > 1<<16 && n >= writers*perWriter/2 {
				t.Errorf("%d fsyncs for %d concurrent saves", n, writers*perWriter)
			}
			w.Close()
			fs.CrashFS.Crash()
			w, _, got := mustReopen(t, fs.CrashFS, Marker{}, WithSegmentSize(segSize))
			defer w.Close()
			mustEnts(t, got, mkEnts(1, writers*perWriter, 1, 20))
		})
	}
}

// TestUnsafeNoSync: with WithUnsafeNoSync (--unsafe-no-fsync) saves
// succeed and read back, and no segment is ever fsynced.
func TestUnsafeNoSync(t *testing.T) {
	fs := newFS(t)
	fsyncs := 0
	w := mustCreate(t, fs, WithUnsafeNoSync(), WithFsyncObserver(func(time.Duration) { fsyncs++ }))
	for i := uint64(1); i <= 20; i++ {
		if err := w.Save(raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fsyncs != 0 {
		t.Fatalf("%d fsyncs with WithUnsafeNoSync", fsyncs)
	}
	w2, st, ents := mustReopen(t, fs, Marker{})
	defer w2.Close()
	if st.Commit != 20 || len(ents) != 20 {
		t.Fatalf("read back commit %d and %d entries", st.Commit, len(ents))
	}
}
