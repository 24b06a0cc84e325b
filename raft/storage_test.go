package raft

import (
	"errors"
	"reflect"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// entsFrom returns entries at first, first+1, ... with the given terms.
func entsFrom(first uint64, terms ...uint64) []pb.Entry {
	ents := make([]pb.Entry, len(terms))
	for i, t := range terms {
		ents[i] = pb.Entry{Index: first + uint64(i), Term: t}
	}
	return ents
}

// newStorageWith returns a MemoryStorage whose log starts after a snapshot
// at (snapIndex, snapTerm) and holds ents after it.
func newStorageWith(t testing.TB, snapIndex, snapTerm uint64, ents []pb.Entry) *MemoryStorage {
	t.Helper()
	s := NewMemoryStorage()
	if snapIndex > 0 {
		if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: snapIndex, Term: snapTerm}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	return s
}

// storedEnts returns everything s holds from FirstIndex on.
func storedEnts(t testing.TB, s *MemoryStorage) []pb.Entry {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	ents, err := s.Entries(first, last+1, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

func TestMemoryStorageTerm(t *testing.T) {
	// Snapshot at 3/3, then 4/4 and 5/5.
	s := newStorageWith(t, 3, 3, entsFrom(4, 4, 5))
	tests := []struct {
		i       uint64
		want    uint64
		wantErr error
	}{
		{0, 0, ErrCompacted},
		{2, 0, ErrCompacted},
		{3, 3, nil}, // the snapshot's last entry keeps its term
		{4, 4, nil},
		{5, 5, nil},
		{6, 0, ErrUnavailable},
		{^uint64(0), 0, ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := s.Term(tt.i)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMemoryStorageFirstLastIndex(t *testing.T) {
	tests := []struct {
		name                string
		s                   *MemoryStorage
		wantFirst, wantLast uint64
	}{
		{"empty", NewMemoryStorage(), 1, 0},
		{"entries from 1", newStorageWith(t, 0, 0, entsFrom(1, 1, 1, 2)), 1, 3},
		{"snapshot only", newStorageWith(t, 7, 2, nil), 8, 7},
		{"snapshot and entries", newStorageWith(t, 7, 2, entsFrom(8, 2, 3)), 8, 9},
	}
	for _, tt := range tests {
		first, err := tt.s.FirstIndex()
		if err != nil || first != tt.wantFirst {
			t.Errorf("%s: FirstIndex = %d, %v; want %d", tt.name, first, err, tt.wantFirst)
		}
		last, err := tt.s.LastIndex()
		if err != nil || last != tt.wantLast {
			t.Errorf("%s: LastIndex = %d, %v; want %d", tt.name, last, err, tt.wantLast)
		}
	}
}

func TestMemoryStorageEntries(t *testing.T) {
	// Snapshot at 3/3, then 4..6 with terms 4, 5, 6.
	ents := entsFrom(4, 4, 5, 6)
	size := func(n int) uint64 { return entsSize(ents[:n]) }
	tests := []struct {
		name    string
		lo, hi  uint64
		maxSize uint64
		want    []pb.Entry
		wantErr error
	}{
		{"below first", 2, 5, noLimit, nil, ErrCompacted},
		{"snapshot index", 3, 5, noLimit, nil, ErrCompacted},
		{"past last", 4, 8, noLimit, nil, ErrUnavailable},
		{"empty range", 5, 5, noLimit, []pb.Entry{}, nil},
		{"one", 4, 5, noLimit, ents[:1], nil},
		{"all", 4, 7, noLimit, ents, nil},
		{"tail", 5, 7, noLimit, ents[1:], nil},
		{"limit 0 still returns one", 4, 7, 0, ents[:1], nil},
		{"limit of one entry", 4, 7, size(1), ents[:1], nil},
		{"limit just under two", 4, 7, size(2) - 1, ents[:1], nil},
		{"limit of two entries", 4, 7, size(2), ents[:2], nil},
		{"limit of all", 4, 7, size(3), ents, nil},
		{"limit above all", 4, 7, size(3) + 100, ents, nil},
	}
	for _, tt := range tests {
		s := newStorageWith(t, 3, 3, ents)
		got, err := s.Entries(tt.lo, tt.hi, tt.maxSize)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Entries(%d, %d, %d) error %v, want %v", tt.name, tt.lo, tt.hi, tt.maxSize, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%s: Entries(%d, %d, %d) = %v, want %v", tt.name, tt.lo, tt.hi, tt.maxSize, got, tt.want)
		}
	}
}

// TestMemoryStorageEntriesNotAliased: raft appends to what Entries returns
// (raftLog.slice combines storage and unstable entries), which must never
// write into the storage's own array.
func TestMemoryStorageEntriesNotAliased(t *testing.T) {
	s := newStorageWith(t, 0, 0, entsFrom(1, 1, 1, 1))
	got, err := s.Entries(1, 3, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got, pb.Entry{Index: 3, Term: 9})
	if term, _ := s.Term(3); term != 1 {
		t.Fatalf("appending to Entries' result changed stored entry 3 to term %d", term)
	}
}

func TestMemoryStorageCompact(t *testing.T) {
	tests := []struct {
		name      string
		i         uint64
		wantErr   error
		wantFirst uint64
		wantTerm  uint64 // of the entry at FirstIndex-1
	}{
		{"at the snapshot", 3, ErrCompacted, 4, 3},
		{"below the snapshot", 2, ErrCompacted, 4, 3},
		{"first entry", 4, nil, 5, 4},
		{"middle", 5, nil, 6, 5},
		{"last entry", 6, nil, 7, 6},
		{"past last", 7, ErrUnavailable, 4, 3},
	}
	for _, tt := range tests {
		s := newStorageWith(t, 3, 3, entsFrom(4, 4, 5, 6))
		if err := s.Compact(tt.i); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Compact(%d) = %v, want %v", tt.name, tt.i, err, tt.wantErr)
			continue
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != tt.wantFirst || last != 6 {
			t.Errorf("%s: after Compact(%d) holds [%d, %d], want [%d, 6]", tt.name, tt.i, first, last, tt.wantFirst)
		}
		// The entry just before the first keeps its term: raft needs it
		// for the consistency check of the next MsgApp.
		if term, err := s.Term(first - 1); err != nil || term != tt.wantTerm {
			t.Errorf("%s: Term(%d) = %d, %v; want %d", tt.name, first-1, term, err, tt.wantTerm)
		}
		for i := first; i <= last; i++ {
			if term, _ := s.Term(i); term != i {
				t.Errorf("%s: Term(%d) = %d after compaction, want %d", tt.name, i, term, i)
			}
		}
	}
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	tests := []struct {
		name    string
		i       uint64
		cs      *pb.ConfState
		wantErr error
		want    pb.SnapshotMetadata
	}{
		{"at the current snapshot", 3, cs, ErrSnapOutOfDate, pb.SnapshotMetadata{}},
		{"below the current snapshot", 1, cs, ErrSnapOutOfDate, pb.SnapshotMetadata{}},
		{"first entry", 4, cs, nil, pb.SnapshotMetadata{Index: 4, Term: 4, ConfState: *cs}},
		{"last entry", 6, cs, nil, pb.SnapshotMetadata{Index: 6, Term: 6, ConfState: *cs}},
		{"keeps membership when cs is nil", 5, nil, nil, pb.SnapshotMetadata{Index: 5, Term: 5, ConfState: pb.ConfState{Voters: []uint64{7}}}},
		{"past last", 7, cs, ErrUnavailable, pb.SnapshotMetadata{}},
	}
	for _, tt := range tests {
		s := NewMemoryStorage()
		initial := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 3, Term: 3, ConfState: pb.ConfState{Voters: []uint64{7}}}}
		if err := s.ApplySnapshot(initial); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(entsFrom(4, 4, 5, 6)); err != nil {
			t.Fatal(err)
		}
		snap, err := s.CreateSnapshot(tt.i, tt.cs, []byte("data"))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: CreateSnapshot(%d) error %v, want %v", tt.name, tt.i, err, tt.wantErr)
			continue
		}
		if err != nil {
			// A refused snapshot leaves the current one in place.
			if got, _ := s.Snapshot(); !reflect.DeepEqual(got, initial) {
				t.Errorf("%s: snapshot after refusal = %+v, want %+v", tt.name, got, initial)
			}
			continue
		}
		if !reflect.DeepEqual(snap.Metadata, tt.want) || string(snap.Data) != "data" {
			t.Errorf("%s: CreateSnapshot(%d) = %+v, want %+v", tt.name, tt.i, snap, tt.want)
		}
		if got, _ := s.Snapshot(); !reflect.DeepEqual(got, snap) {
			t.Errorf("%s: Snapshot() = %+v, want what CreateSnapshot returned", tt.name, got)
		}
		// Creating a snapshot compacts nothing by itself.
		if first, _ := s.FirstIndex(); first != 4 {
			t.Errorf("%s: FirstIndex = %d after CreateSnapshot, want 4", tt.name, first)
		}
	}
}

// TestMemoryStorageCreateSnapshotBelowCompaction: an application may
// compact before it snapshots; a snapshot at an index already compacted
// away is refused with an error, not a panic.
func TestMemoryStorageCreateSnapshotBelowCompaction(t *testing.T) {
	s := newStorageWith(t, 0, 0, entsFrom(1, 1, 1, 2, 2, 3))
	if err := s.Compact(4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(2, nil, nil); !errors.Is(err, ErrCompacted) {
		t.Fatalf("CreateSnapshot below the compaction point: %v, want ErrCompacted", err)
	}
	snap, err := s.CreateSnapshot(4, nil, nil)
	if err != nil || snap.Metadata.Index != 4 || snap.Metadata.Term != 2 {
		t.Fatalf("CreateSnapshot at the compaction point = %+v, %v; want 4/2", snap.Metadata, err)
	}
}

func TestMemoryStorageApplySnapshot(t *testing.T) {
	cs := pb.ConfState{Voters: []uint64{1, 2}}
	s := newStorageWith(t, 0, 0, entsFrom(1, 1, 1, 2))
	tests := []struct {
		name    string
		index   uint64
		term    uint64
		wantErr error
	}{
		{"newer than anything held", 4, 4, nil},
		{"the same again", 4, 4, ErrSnapOutOfDate},
		{"older", 3, 3, ErrSnapOutOfDate},
		{"newer still", 10, 5, nil},
	}
	for _, tt := range tests {
		snap := pb.Snapshot{Data: []byte(tt.name), Metadata: pb.SnapshotMetadata{Index: tt.index, Term: tt.term, ConfState: cs}}
		before, _ := s.Snapshot()
		err := s.ApplySnapshot(snap)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: ApplySnapshot(%d) = %v, want %v", tt.name, tt.index, err, tt.wantErr)
		}
		want := snap
		if err != nil {
			want = before
		}
		if got, _ := s.Snapshot(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Snapshot() = %+v, want %+v", tt.name, got, want)
		}
		// The log is exactly the snapshot: whatever was stored is gone.
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != want.Metadata.Index+1 || last != want.Metadata.Index {
			t.Fatalf("%s: holds [%d, %d], want an empty log after %d", tt.name, first, last, want.Metadata.Index)
		}
		if term, err := s.Term(want.Metadata.Index); err != nil || term != want.Metadata.Term {
			t.Fatalf("%s: Term(%d) = %d, %v; want %d", tt.name, want.Metadata.Index, term, err, want.Metadata.Term)
		}
		if _, gotCS, _ := s.InitialState(); !reflect.DeepEqual(gotCS, cs) {
			t.Fatalf("%s: InitialState membership %+v, want %+v", tt.name, gotCS, cs)
		}
	}
}

func TestMemoryStorageAppend(t *testing.T) {
	// Every case starts from a snapshot at 3/3 and entries 4/4, 5/5, 6/6.
	tests := []struct {
		name    string
		ents    []pb.Entry
		want    []pb.Entry // stored entries after FirstIndex
		wantErr bool
	}{
		{"nothing", nil, entsFrom(4, 4, 5, 6), false},
		{"all compacted already", entsFrom(1, 1, 2), entsFrom(4, 4, 5, 6), false},
		{"ending at the snapshot", entsFrom(2, 2, 3), entsFrom(4, 4, 5, 6), false},
		{"same entries again", entsFrom(4, 4, 5, 6), entsFrom(4, 4, 5, 6), false},
		{"overlap with a compacted prefix", entsFrom(2, 2, 3, 4, 5, 6, 6), entsFrom(4, 4, 5, 6, 6), false},
		{"conflict truncates the tail", entsFrom(5, 7), entsFrom(4, 4, 7), false},
		{"conflict at the first entry", entsFrom(4, 8, 8), entsFrom(4, 8, 8), false},
		{"conflict and extend", entsFrom(6, 7, 7, 7), entsFrom(4, 4, 5, 7, 7, 7), false},
		{"right after last", entsFrom(7, 6, 6), entsFrom(4, 4, 5, 6, 6, 6), false},
		{"gap after last", entsFrom(8, 6), entsFrom(4, 4, 5, 6), true},
	}
	for _, tt := range tests {
		s := newStorageWith(t, 3, 3, entsFrom(4, 4, 5, 6))
		err := s.Append(tt.ents)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Append error %v, want error %v", tt.name, err, tt.wantErr)
		}
		if got := storedEnts(t, s); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: stored %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestMemoryStorageAppendDoesNotAliasCaller: the storage keeps its own copy
// of the slice header's array; a caller reusing its slice must not change
// what is stored.
func TestMemoryStorageAppendDoesNotAliasCaller(t *testing.T) {
	s := newStorageWith(t, 0, 0, entsFrom(1, 1, 1, 1))
	ents := entsFrom(2, 2, 2)
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	ents[0].Term = 99
	if term, _ := s.Term(2); term != 2 {
		t.Fatalf("stored entry 2 has term %d after the caller changed its slice", term)
	}
}

func TestMemoryStorageHardState(t *testing.T) {
	s := NewMemoryStorage()
	if hs, cs, err := s.InitialState(); err != nil || !IsEmptyHardState(hs) || len(cs.Voters) != 0 {
		t.Fatalf("fresh InitialState = %+v, %+v, %v", hs, cs, err)
	}
	want := pb.HardState{Term: 3, Vote: 2, Commit: 7}
	if err := s.SetHardState(want); err != nil {
		t.Fatal(err)
	}
	if hs, _, _ := s.InitialState(); hs != want {
		t.Fatalf("InitialState hard state %+v, want %+v", hs, want)
	}
}
