package wal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

func TestMain(m *testing.M) {
	checkInvariants = true
	SegmentSizeBytes = 64 << 10 // tests that do not care about the size use small segments
	os.Exit(m.Run())
}

const walDir = "/data/member/wal"

var testMeta = []byte("member=1 cluster=7")

func newFS(t testing.TB) *vfs.CrashFS {
	t.Helper()
	fs := vfs.NewCrashFS()
	if err := vfs.MkdirAllSync(fs, "/data", 0o700); err != nil {
		t.Fatal(err)
	}
	return fs
}

func mustCreate(t testing.TB, fs vfs.FS, opts ...Option) *WAL {
	t.Helper()
	w, err := Create(fs, walDir, testMeta, opts...)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return w
}

// mustReopen opens walDir at m and reads it.
func mustReopen(t testing.TB, fs vfs.FS, m Marker, opts ...Option) (*WAL, raftpb.HardState, []raftpb.Entry) {
	t.Helper()
	w, err := Open(fs, walDir, m, opts...)
	if err != nil {
		t.Fatalf("Open at %+v: %v", m, err)
	}
	meta, st, ents, err := w.ReadAll()
	if err != nil {
		w.Close()
		t.Fatalf("ReadAll at %+v: %v", m, err)
	}
	if !bytes.Equal(meta, testMeta) {
		t.Fatalf("metadata %q, want %q", meta, testMeta)
	}
	return w, st, ents
}

// mkEnts returns entries [from, to] of term, with data of about size
// bytes naming each.
func mkEnts(from, to, term uint64, size int) []raftpb.Entry {
	var ents []raftpb.Entry
	for i := from; i <= to; i++ {
		d := fmt.Appendf(nil, "i%d-t%d:", i, term)
		for len(d) < size {
			d = append(d, byte('a'+i%26))
		}
		ents = append(ents, raftpb.Entry{Index: i, Term: term, Data: d})
	}
	return ents
}

func entsEqual(a, b []raftpb.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Term != b[i].Term || a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func describe(ents []raftpb.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	var b bytes.Buffer
	for i, e := range ents {
		if i > 0 && i < len(ents)-1 && e.Term == ents[i-1].Term && e.Index == ents[i-1].Index+1 &&
			ents[i+1].Term == e.Term && ents[i+1].Index == e.Index+1 {
			if b.Bytes()[b.Len()-1] != '-' {
				b.WriteString("-")
			}
			continue
		}
		if i > 0 && b.Bytes()[b.Len()-1] != '-' {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d/%d", e.Index, e.Term)
	}
	return "[" + b.String() + "]"
}

func mustEnts(t testing.TB, got, want []raftpb.Entry) {
	t.Helper()
	if !entsEqual(got, want) {
		t.Fatalf("entries %s, want %s", describe(got), describe(want))
	}
}

func segmentFiles(t testing.TB, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List(walDir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, n := range names {
		if _, ok := parseSegmentName(n); ok {
			segs = append(segs, n)
		}
	}
	return segs
}

// recordOffsets returns the offset and type of every valid record in the
// segment file name (in walDir), up to the first that is not.
func recordOffsets(t testing.TB, fs vfs.FS, name string) (offs []int, types []recordType) {
	t.Helper()
	for _, f := range scanFrames(t, fs, name) {
		offs, types = append(offs, f.off), append(types, f.typ)
	}
	return offs, types
}

type scannedFrame struct {
	off  int
	size int
	record
}

// scanFrames returns the valid frames of segment name, up to the first
// that is not, with their data copied.
func scanFrames(t testing.TB, fs vfs.FS, name string) []scannedFrame {
	t.Helper()
	buf, err := vfs.ReadFile(fs, filepath.Join(walDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return framesOf(buf)
}

func framesOf(buf []byte) []scannedFrame {
	var s scanner
	s.reset(bytes.NewReader(buf), int64(len(buf)))
	var out []scannedFrame
	var crc uint32
	for {
		off := s.off
		f, status, _, err := s.next(crc)
		if err != nil || status != frameOK {
			return out
		}
		crc = f.crc // a crc record's is the chain it carries
		f.data = bytes.Clone(f.data)
		out = append(out, scannedFrame{off: int(off), size: int(f.size), record: f.record})
	}
}

// snapMeta is the snapshot metadata SaveSnapshot records for marker m.
func snapMeta(m Marker) raftpb.SnapshotMetadata {
	return raftpb.SnapshotMetadata{Index: m.Index, Term: m.Term, ConfState: raftpb.ConfState{Voters: []uint64{1}}}
}

// patchFile rewrites bytes of a file durably, as corruption on disk would.
func patchFile(t testing.TB, fs vfs.FS, path string, off int64, b []byte) {
	t.Helper()
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readByte(t testing.TB, fs vfs.FS, path string, off int64) byte {
	t.Helper()
	buf, err := vfs.ReadFile(fs, path)
	if err != nil {
		t.Fatal(err)
	}
	return buf[off]
}

func wantCorruption(t testing.TB, err error, file string, off int) {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v, want a CorruptionError", err)
	}
	if filepath.Base(ce.File) != file || (off >= 0 && ce.Offset != int64(off)) {
		t.Fatalf("corruption reported at %s:%d, want %s:%d (%v)", filepath.Base(ce.File), ce.Offset, file, off, err)
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// slowSyncFS makes every file Sync take a millisecond, like a real disk,
// so that concurrent savers have a chance to share one.
type slowSyncFS struct{ *vfs.CrashFS }

type slowFile struct{ vfs.File }

func (f slowFile) Sync() error {
	time.Sleep(time.Millisecond)
	return f.File.Sync()
}

func (fs slowSyncFS) Create(name string) (vfs.File, error) {
	f, err := fs.CrashFS.Create(name)
	if err != nil {
		return nil, err
	}
	return slowFile{f}, nil
}

func (fs slowSyncFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := fs.CrashFS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return slowFile{f}, nil
}
