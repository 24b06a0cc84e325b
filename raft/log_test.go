package raft

import (
	"errors"
	"reflect"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// newLogWith builds a raftLog over a storage holding a snapshot at
// (snapIndex, snapTerm) and stored entries, with unstable entries after
// them, as a member has between a Ready and its Advance.
func newLogWith(t testing.TB, snapIndex, snapTerm uint64, stored, unstable []pb.Entry, maxApplyBytes uint64) *raftLog {
	t.Helper()
	l, err := newLog(newStorageWith(t, snapIndex, snapTerm, stored), maxApplyBytes)
	if err != nil {
		t.Fatal(err)
	}
	l.append(unstable...)
	return l
}

// mustPanic reports whether f panics.
func mustPanic(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

func TestRaftLogFindConflict(t *testing.T) {
	// The log holds 1/1, 2/2, 3/3.
	tests := []struct {
		name string
		ents []pb.Entry
		want uint64
	}{
		{"nothing", nil, 0},
		{"all present", entsFrom(1, 1, 2, 3), 0},
		{"suffix present", entsFrom(2, 2, 3), 0},
		{"last present", entsFrom(3, 3), 0},
		{"present then new", entsFrom(2, 2, 3, 4, 4), 4},
		{"only new", entsFrom(4, 4, 4), 4},
		{"conflict at first", entsFrom(1, 4, 4), 1},
		{"conflict in the middle", entsFrom(2, 1, 4, 4), 2},
		{"conflict at last", entsFrom(3, 1, 4), 3},
		{"present, then conflict", entsFrom(1, 1, 2, 4, 4), 3},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2, 3), nil, noLimit)
		if got := l.findConflict(tt.ents); got != tt.want {
			t.Errorf("%s: findConflict = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRaftLogFindConflictByTerm(t *testing.T) {
	tests := []struct {
		name             string
		snapIndex        uint64
		snapTerm         uint64
		ents             []pb.Entry
		index, term      uint64
		wantIdx, wantTrm uint64
	}{
		// Log 1/1, 2/1, 3/2, 4/2, 5/5.
		{"term of the index itself", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 5, 5, 5, 5},
		{"higher term than any", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 5, 9, 5, 5},
		{"skips a whole term", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 5, 4, 4, 2},
		{"skips two terms", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 5, 1, 2, 1},
		{"nothing at or below term 0", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 5, 0, 0, 0},
		{"from the middle", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 3, 2, 3, 2},
		{"index 0", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 0, 3, 0, 0},
		// Past the log: the index itself, term unknown.
		{"past the log", 0, 0, entsFrom(1, 1, 1, 2, 2, 5), 9, 3, 9, 0},
		// Snapshot at 2/1, then 3/2, 4/2, 5/5: the search stops at what is
		// compacted, answering with that index and an unknown term.
		{"down to the snapshot", 2, 1, entsFrom(3, 2, 2, 5), 5, 1, 2, 1},
		{"into the compacted prefix", 2, 1, entsFrom(3, 2, 2, 5), 5, 0, 1, 0},
	}
	for _, tt := range tests {
		l := newLogWith(t, tt.snapIndex, tt.snapTerm, tt.ents, nil, noLimit)
		gotIdx, gotTrm := l.findConflictByTerm(tt.index, tt.term)
		if gotIdx != tt.wantIdx || gotTrm != tt.wantTrm {
			t.Errorf("%s: findConflictByTerm(%d, %d) = (%d, %d), want (%d, %d)",
				tt.name, tt.index, tt.term, gotIdx, gotTrm, tt.wantIdx, tt.wantTrm)
		}
	}
}

func TestRaftLogIsUpToDate(t *testing.T) {
	// Our log ends at 3/3.
	l := newLogWith(t, 0, 0, entsFrom(1, 1, 2), entsFrom(3, 3), noLimit)
	tests := []struct {
		lasti, term uint64
		want        bool
	}{
		// A later last term wins whatever the length (§5.4.1).
		{2, 4, true},
		{3, 4, true},
		{9, 4, true},
		// An earlier last term loses whatever the length.
		{2, 2, false},
		{3, 2, false},
		{9, 2, false},
		// The same last term: the longer log, or as long, wins.
		{2, 3, false},
		{3, 3, true},
		{4, 3, true},
	}
	for _, tt := range tests {
		if got := l.isUpToDate(tt.lasti, tt.term); got != tt.want {
			t.Errorf("isUpToDate(%d, %d) = %v, want %v", tt.lasti, tt.term, got, tt.want)
		}
	}
}

func TestRaftLogMaybeAppend(t *testing.T) {
	// The log holds 1/1, 2/2, 3/3 and has committed 1.
	tests := []struct {
		name                string
		index, logTerm      uint64
		commit              uint64
		ents                []pb.Entry
		wantLastNew         uint64
		wantOK              bool
		wantCommit          uint64
		wantLog             []pb.Entry
		wantPanic           bool
		committedBeforehand uint64
	}{
		{name: "previous entry has another term", index: 2, logTerm: 3, commit: 3, ents: entsFrom(3, 4),
			wantCommit: 1, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "previous entry missing", index: 4, logTerm: 3, commit: 3, ents: entsFrom(5, 4),
			wantCommit: 1, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "heartbeat-like, commit within", index: 3, logTerm: 3, commit: 2,
			wantLastNew: 3, wantOK: true, wantCommit: 2, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "commit clamped to last new entry", index: 2, logTerm: 2, commit: 3,
			wantLastNew: 2, wantOK: true, wantCommit: 2, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "append one, commit it", index: 3, logTerm: 3, commit: 4, ents: entsFrom(4, 4),
			wantLastNew: 4, wantOK: true, wantCommit: 4, wantLog: entsFrom(1, 1, 2, 3, 4)},
		{name: "append one, commit clamped", index: 3, logTerm: 3, commit: 9, ents: entsFrom(4, 4),
			wantLastNew: 4, wantOK: true, wantCommit: 4, wantLog: entsFrom(1, 1, 2, 3, 4)},
		{name: "append two, commit the first", index: 3, logTerm: 3, commit: 4, ents: entsFrom(4, 4, 4),
			wantLastNew: 5, wantOK: true, wantCommit: 4, wantLog: entsFrom(1, 1, 2, 3, 4, 4)},
		{name: "conflict truncates", index: 2, logTerm: 2, commit: 3, ents: entsFrom(3, 4),
			wantLastNew: 3, wantOK: true, wantCommit: 3, wantLog: entsFrom(1, 1, 2, 4)},
		{name: "conflict at the first entry after the match", index: 1, logTerm: 1, commit: 1, ents: entsFrom(2, 4, 4),
			wantLastNew: 3, wantOK: true, wantCommit: 1, wantLog: entsFrom(1, 1, 4, 4)},
		// A stale MsgApp with a prefix of our log must not cut the rest:
		// entries after it may already be acknowledged to the leader.
		{name: "stale prefix keeps the tail", index: 1, logTerm: 1, commit: 3, ents: entsFrom(2, 2),
			wantLastNew: 2, wantOK: true, wantCommit: 2, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "commit never goes back", index: 1, logTerm: 1, commit: 1, ents: entsFrom(2, 2), committedBeforehand: 3,
			wantLastNew: 2, wantOK: true, wantCommit: 3, wantLog: entsFrom(1, 1, 2, 3)},
		{name: "conflict with a committed entry panics", index: 1, logTerm: 1, commit: 3, ents: entsFrom(2, 5),
			committedBeforehand: 2, wantPanic: true},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2, 3), nil, noLimit)
		l.commitTo(max(1, tt.committedBeforehand))
		var lastNew uint64
		var ok bool
		panicked := mustPanic(func() { lastNew, ok = l.maybeAppend(tt.index, tt.logTerm, tt.commit, tt.ents) })
		if panicked != tt.wantPanic {
			t.Errorf("%s: panicked = %v, want %v", tt.name, panicked, tt.wantPanic)
			continue
		}
		if panicked {
			continue
		}
		if lastNew != tt.wantLastNew || ok != tt.wantOK {
			t.Errorf("%s: maybeAppend = (%d, %v), want (%d, %v)", tt.name, lastNew, ok, tt.wantLastNew, tt.wantOK)
		}
		if l.committed != tt.wantCommit {
			t.Errorf("%s: committed = %d, want %d", tt.name, l.committed, tt.wantCommit)
		}
		if got := l.allEntries(); !reflect.DeepEqual(got, tt.wantLog) {
			t.Errorf("%s: log = %v, want %v", tt.name, got, tt.wantLog)
		}
	}
}

func TestRaftLogAppend(t *testing.T) {
	// Stored 1/1, 2/2; tests append at various points.
	tests := []struct {
		name       string
		ents       []pb.Entry
		wantLast   uint64
		wantLog    []pb.Entry
		wantOffset uint64 // unstable.offset: where the unpersisted part starts
	}{
		{"nothing", nil, 2, entsFrom(1, 1, 2), 3},
		{"after last", entsFrom(3, 2), 3, entsFrom(1, 1, 2, 2), 3},
		{"replace all stored", entsFrom(1, 2), 1, entsFrom(1, 2), 1},
		{"replace the stored tail", entsFrom(2, 3, 3), 3, entsFrom(1, 1, 3, 3), 2},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2), nil, noLimit)
		if got := l.append(tt.ents...); got != tt.wantLast {
			t.Errorf("%s: append = %d, want %d", tt.name, got, tt.wantLast)
		}
		if got := l.allEntries(); !reflect.DeepEqual(got, tt.wantLog) {
			t.Errorf("%s: log = %v, want %v", tt.name, got, tt.wantLog)
		}
		if l.unstable.offset != tt.wantOffset {
			t.Errorf("%s: unstable.offset = %d, want %d", tt.name, l.unstable.offset, tt.wantOffset)
		}
	}

	l := newLogWith(t, 0, 0, entsFrom(1, 1, 2, 3), nil, noLimit)
	l.commitTo(2)
	if !mustPanic(func() { l.append(entsFrom(2, 9)...) }) {
		t.Error("append over a committed entry did not panic")
	}
}

func TestRaftLogCommitTo(t *testing.T) {
	tests := []struct {
		name      string
		commit    uint64
		want      uint64
		wantPanic bool
	}{
		{"forward", 3, 3, false},
		{"never back", 1, 2, false},
		{"same", 2, 2, false},
		{"past the last index", 4, 0, true},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2), entsFrom(3, 3), noLimit)
		l.commitTo(2)
		panicked := mustPanic(func() { l.commitTo(tt.commit) })
		if panicked != tt.wantPanic {
			t.Errorf("%s: commitTo(%d) panicked = %v, want %v", tt.name, tt.commit, panicked, tt.wantPanic)
			continue
		}
		if !panicked && l.committed != tt.want {
			t.Errorf("%s: committed = %d, want %d", tt.name, l.committed, tt.want)
		}
	}
}

func TestRaftLogMaybeCommit(t *testing.T) {
	// Log 1/1, 2/2, 3/3; committed 1.
	tests := []struct {
		name       string
		maxIndex   uint64
		term       uint64
		want       bool
		wantCommit uint64
	}{
		{"entry of the term", 3, 3, true, 3},
		{"entry of an earlier term is not committed by counting", 2, 3, false, 1},
		{"not past commit", 1, 1, false, 1},
		{"missing entry", 4, 3, false, 1},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2, 3), nil, noLimit)
		l.commitTo(1)
		if got := l.maybeCommit(tt.maxIndex, tt.term); got != tt.want || l.committed != tt.wantCommit {
			t.Errorf("%s: maybeCommit(%d, %d) = %v, commit %d; want %v, %d", tt.name, tt.maxIndex, tt.term, got, l.committed, tt.want, tt.wantCommit)
		}
	}
}

func TestRaftLogAppliedTo(t *testing.T) {
	tests := []struct {
		name      string
		i         uint64
		want      uint64
		wantPanic bool
	}{
		{"forward", 3, 3, false},
		{"zero is ignored", 0, 2, false},
		{"same", 2, 2, false},
		{"back", 1, 0, true},
		{"past commit", 4, 0, true},
	}
	for _, tt := range tests {
		l := newLogWith(t, 0, 0, entsFrom(1, 1, 2, 3, 4), nil, noLimit)
		l.commitTo(3)
		l.appliedTo(2)
		panicked := mustPanic(func() { l.appliedTo(tt.i) })
		if panicked != tt.wantPanic {
			t.Errorf("%s: appliedTo(%d) panicked = %v, want %v", tt.name, tt.i, panicked, tt.wantPanic)
			continue
		}
		if !panicked && l.applied != tt.want {
			t.Errorf("%s: applied = %d, want %d", tt.name, l.applied, tt.want)
		}
	}
}

func TestRaftLogTerm(t *testing.T) {
	// Snapshot 3/3, stored 4/4 5/4, unstable 6/5 7/5.
	l := newLogWith(t, 3, 3, entsFrom(4, 4, 4), entsFrom(6, 5, 5), noLimit)
	tests := []struct {
		i       uint64
		want    uint64
		wantErr error
	}{
		{0, 0, ErrCompacted},
		{2, 0, ErrCompacted},
		{3, 3, nil},
		{4, 4, nil},
		{5, 4, nil},
		{6, 5, nil},
		{7, 5, nil},
		{8, 0, ErrUnavailable},
		{^uint64(0), 0, ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := l.term(tt.i)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("term(%d) = %d, %v; want %d, %v", tt.i, got, err, tt.want, tt.wantErr)
		}
	}
	if l.firstIndex() != 4 || l.lastIndex() != 7 || l.lastTerm() != 5 {
		t.Errorf("first, last, last term = %d, %d, %d; want 4, 7, 5", l.firstIndex(), l.lastIndex(), l.lastTerm())
	}
}

func TestRaftLogSlice(t *testing.T) {
	// Snapshot 3/3, stored 4, 5, 6; unstable 7, 8, 9. Every entry carries
	// the same payload, so every entry has the same size.
	withData := func(ents []pb.Entry) []pb.Entry {
		for i := range ents {
			ents[i].Data = []byte("payload")
		}
		return ents
	}
	stored := withData(entsFrom(4, 4, 5, 6))
	unstable := withData(entsFrom(7, 7, 8, 9))
	all := append(append([]pb.Entry(nil), stored...), unstable...)
	at := func(lo, hi uint64) []pb.Entry { return all[lo-4 : hi-4] }
	s := uint64(all[0].Size())
	tests := []struct {
		name      string
		lo, hi    uint64
		maxSize   uint64
		want      []pb.Entry
		wantErr   error
		wantPanic bool
	}{
		{name: "compacted", lo: 3, hi: 5, maxSize: noLimit, wantErr: ErrCompacted},
		{name: "empty", lo: 5, hi: 5, maxSize: noLimit},
		{name: "stored only", lo: 4, hi: 7, maxSize: noLimit, want: at(4, 7)},
		{name: "unstable only", lo: 7, hi: 10, maxSize: noLimit, want: at(7, 10)},
		{name: "across", lo: 5, hi: 9, maxSize: noLimit, want: at(5, 9)},
		{name: "everything", lo: 4, hi: 10, maxSize: noLimit, want: at(4, 10)},
		{name: "past the last index", lo: 4, hi: 11, maxSize: noLimit, wantPanic: true},
		{name: "inverted", lo: 6, hi: 5, maxSize: noLimit, wantPanic: true},
		{name: "limit 0 returns one", lo: 4, hi: 10, maxSize: 0, want: at(4, 5)},
		{name: "limit in storage", lo: 4, hi: 10, maxSize: 2 * s, want: at(4, 6)},
		{name: "limit just under storage's share", lo: 5, hi: 10, maxSize: 2*s - 1, want: at(5, 6)},
		{name: "limit at the boundary", lo: 4, hi: 10, maxSize: 3 * s, want: at(4, 7)},
		{name: "limit across the boundary", lo: 5, hi: 10, maxSize: 3 * s, want: at(5, 8)},
		{name: "limit in unstable", lo: 7, hi: 10, maxSize: 2*s + 1, want: at(7, 9)},
		{name: "limit above everything", lo: 4, hi: 10, maxSize: 100 * s, want: at(4, 10)},
	}
	for _, tt := range tests {
		l := newLogWith(t, 3, 3, stored, unstable, noLimit)
		var got []pb.Entry
		var err error
		panicked := mustPanic(func() { got, err = l.slice(tt.lo, tt.hi, tt.maxSize) })
		if panicked != tt.wantPanic {
			t.Errorf("%s: slice(%d, %d) panicked = %v, want %v", tt.name, tt.lo, tt.hi, panicked, tt.wantPanic)
			continue
		}
		if panicked {
			continue
		}
		if !errors.Is(err, tt.wantErr) || len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%s: slice(%d, %d, %d) = %v, %v; want %v, %v", tt.name, tt.lo, tt.hi, tt.maxSize, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestRaftLogSliceDoesNotAliasStorage: a slice across the storage and the
// unstable part is a fresh array; appending to it must not reach storage.
func TestRaftLogSliceDoesNotAliasStorage(t *testing.T) {
	l := newLogWith(t, 0, 0, entsFrom(1, 1, 1), entsFrom(3, 2), noLimit)
	got, err := l.slice(1, 4, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	got[0].Term = 99
	if term, _ := l.storage.Term(1); term != 1 {
		t.Fatalf("changing a slice result changed stored entry 1 to term %d", term)
	}
}

func TestRaftLogNextCommittedEnts(t *testing.T) {
	// Snapshot 3/3, stored 4, 5, unstable 6; entries of one size.
	stored := entsFrom(4, 4, 4)
	unstable := entsFrom(6, 4)
	s := uint64(stored[0].Size())
	tests := []struct {
		name            string
		applied, commit uint64
		maxApplyBytes   uint64
		restoreSnapshot bool
		want            []pb.Entry
	}{
		{name: "nothing committed past the snapshot", applied: 3, commit: 3, maxApplyBytes: noLimit},
		{name: "committed, stored", applied: 3, commit: 5, maxApplyBytes: noLimit, want: entsFrom(4, 4, 4)},
		{name: "committed into unstable", applied: 3, commit: 6, maxApplyBytes: noLimit, want: entsFrom(4, 4, 4, 4)},
		{name: "partly applied", applied: 4, commit: 6, maxApplyBytes: noLimit, want: entsFrom(5, 4, 4)},
		{name: "all applied", applied: 6, commit: 6, maxApplyBytes: noLimit},
		{name: "size limit", applied: 3, commit: 6, maxApplyBytes: 2 * s, want: entsFrom(4, 4, 4)},
		{name: "size limit below one entry", applied: 3, commit: 6, maxApplyBytes: 1, want: entsFrom(4, 4)},
		{name: "snapshot waiting to be persisted", applied: 3, commit: 6, maxApplyBytes: noLimit, restoreSnapshot: true},
	}
	for _, tt := range tests {
		l := newLogWith(t, 3, 3, stored, unstable, tt.maxApplyBytes)
		l.commitTo(tt.commit)
		l.appliedTo(tt.applied)
		if tt.restoreSnapshot {
			l.restore(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 10, Term: 5}})
		}
		got := l.nextCommittedEnts()
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%s: nextCommittedEnts = %v, want %v", tt.name, got, tt.want)
		}
		if has := l.hasNextCommittedEnts(); has != (len(tt.want) > 0) {
			t.Errorf("%s: hasNextCommittedEnts = %v, want %v", tt.name, has, len(tt.want) > 0)
		}
	}
}

func TestRaftLogRestore(t *testing.T) {
	l := newLogWith(t, 3, 3, entsFrom(4, 4, 4), entsFrom(6, 4), noLimit)
	l.commitTo(5)
	l.appliedTo(5)
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 100, Term: 7}}
	l.restore(snap)
	if l.committed != 100 {
		t.Errorf("committed = %d, want 100", l.committed)
	}
	// applied moves when the application has persisted the snapshot
	// (RawNode.Advance), not before.
	if l.applied != 5 {
		t.Errorf("applied = %d, want 5", l.applied)
	}
	if l.firstIndex() != 101 || l.lastIndex() != 100 || l.lastTerm() != 7 {
		t.Errorf("first, last, last term = %d, %d, %d; want 101, 100, 7", l.firstIndex(), l.lastIndex(), l.lastTerm())
	}
	if _, err := l.term(99); !errors.Is(err, ErrCompacted) {
		t.Errorf("term(99) error %v, want ErrCompacted", err)
	}
	if len(l.unstableEntries()) != 0 || l.unstable.snapshot == nil {
		t.Errorf("unstable: %d entries, snapshot %v; want none and the snapshot", len(l.unstableEntries()), l.unstable.snapshot)
	}
	if got, err := l.snapshot(); err != nil || !reflect.DeepEqual(got, snap) {
		t.Errorf("snapshot() = %+v, %v; want the restored one", got, err)
	}
	// Entries after the snapshot append as usual.
	if last := l.append(entsFrom(101, 7, 8)...); last != 102 {
		t.Errorf("append after restore: last %d, want 102", last)
	}
	if !l.matchTerm(100, 7) || !l.matchTerm(102, 8) {
		t.Error("terms after restore and append do not match")
	}
}

// TestRaftLogNewLogFromStorage: a log built on storage starts with its
// commit and apply points just before the first stored entry.
func TestRaftLogNewLogFromStorage(t *testing.T) {
	l := newLogWith(t, 5, 2, entsFrom(6, 2, 3), nil, noLimit)
	if l.committed != 5 || l.applied != 5 || l.firstIndex() != 6 || l.lastIndex() != 7 || l.unstable.offset != 8 {
		t.Fatalf("new log: %s, first %d, last %d; want committed=applied=5, [6, 7], offset 8", l, l.firstIndex(), l.lastIndex())
	}
}

func TestUnstableIndexes(t *testing.T) {
	snap := &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 4, Term: 1}}
	tests := []struct {
		name        string
		u           unstable
		wantFirst   uint64
		wantFirstOK bool
		wantLast    uint64
		wantLastOK  bool
		termAt      uint64
		wantTerm    uint64
		wantTermOK  bool
	}{
		{"empty", unstable{offset: 5}, 0, false, 0, false, 5, 0, false},
		{"entries", unstable{offset: 5, entries: entsFrom(5, 1, 2)}, 0, false, 6, true, 6, 2, true},
		{"entries, before offset", unstable{offset: 5, entries: entsFrom(5, 1, 2)}, 0, false, 6, true, 4, 0, false},
		{"entries, past last", unstable{offset: 5, entries: entsFrom(5, 1, 2)}, 0, false, 6, true, 7, 0, false},
		{"snapshot", unstable{offset: 5, snapshot: snap}, 5, true, 4, true, 4, 1, true},
		{"snapshot, other index", unstable{offset: 5, snapshot: snap}, 5, true, 4, true, 3, 0, false},
		{"snapshot and entries", unstable{offset: 5, snapshot: snap, entries: entsFrom(5, 1)}, 5, true, 5, true, 5, 1, true},
		{"snapshot and entries, snapshot index", unstable{offset: 5, snapshot: snap, entries: entsFrom(5, 1)}, 5, true, 5, true, 4, 1, true},
	}
	for _, tt := range tests {
		if got, ok := tt.u.maybeFirstIndex(); got != tt.wantFirst || ok != tt.wantFirstOK {
			t.Errorf("%s: maybeFirstIndex = %d, %v; want %d, %v", tt.name, got, ok, tt.wantFirst, tt.wantFirstOK)
		}
		if got, ok := tt.u.maybeLastIndex(); got != tt.wantLast || ok != tt.wantLastOK {
			t.Errorf("%s: maybeLastIndex = %d, %v; want %d, %v", tt.name, got, ok, tt.wantLast, tt.wantLastOK)
		}
		if got, ok := tt.u.maybeTerm(tt.termAt); got != tt.wantTerm || ok != tt.wantTermOK {
			t.Errorf("%s: maybeTerm(%d) = %d, %v; want %d, %v", tt.name, tt.termAt, got, ok, tt.wantTerm, tt.wantTermOK)
		}
	}
}

func TestUnstableStableTo(t *testing.T) {
	snap := &pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 4, Term: 1}}
	tests := []struct {
		name        string
		u           unstable
		index, term uint64
		wantOffset  uint64
		wantLen     int
	}{
		{"nothing held", unstable{offset: 1}, 5, 1, 1, 0},
		{"first entry", unstable{offset: 5, entries: entsFrom(5, 1, 1)}, 5, 1, 6, 1},
		{"all entries", unstable{offset: 5, entries: entsFrom(5, 1, 1)}, 6, 1, 7, 0},
		// The entry was replaced by one of another term meanwhile: what was
		// persisted is not what we hold now.
		{"term changed", unstable{offset: 5, entries: entsFrom(5, 1, 2)}, 6, 1, 5, 2},
		{"before offset", unstable{offset: 5, entries: entsFrom(5, 1)}, 4, 1, 5, 1},
		{"past last", unstable{offset: 5, entries: entsFrom(5, 1)}, 6, 1, 5, 1},
		// The snapshot's index is below offset: stableTo of entries does
		// not touch it.
		{"at the snapshot", unstable{offset: 5, snapshot: snap, entries: entsFrom(5, 1)}, 4, 1, 5, 1},
	}
	for _, tt := range tests {
		u := tt.u
		u.stableTo(tt.index, tt.term)
		if u.offset != tt.wantOffset || len(u.entries) != tt.wantLen {
			t.Errorf("%s: stableTo(%d, %d): offset %d, %d entries; want %d, %d", tt.name, tt.index, tt.term, u.offset, len(u.entries), tt.wantOffset, tt.wantLen)
		}
	}
}

// TestUnstableShrinksArray: once most of the unstable array is persisted,
// the rest moves to a smaller one so the persisted entries can be freed.
func TestUnstableShrinksArray(t *testing.T) {
	u := unstable{offset: 1}
	u.truncateAndAppend(entsFrom(1, make([]uint64, 64)...))
	u.stableTo(60, 0)
	if len(u.entries) != 4 || cap(u.entries) > 8 {
		t.Fatalf("after persisting 60 of 64: len %d cap %d, want 4 and a small array", len(u.entries), cap(u.entries))
	}
	u.stableTo(64, 0)
	if u.entries != nil || u.offset != 65 {
		t.Fatalf("after persisting all: entries %v offset %d, want nil and 65", u.entries, u.offset)
	}
}

func TestUnstableSnapshot(t *testing.T) {
	u := unstable{offset: 5, entries: entsFrom(5, 1, 1)}
	s := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 9, Term: 2}}
	u.restore(s)
	if u.offset != 10 || len(u.entries) != 0 || u.snapshot == nil || !reflect.DeepEqual(*u.snapshot, s) {
		t.Fatalf("after restore: offset %d, %d entries, snapshot %v", u.offset, len(u.entries), u.snapshot)
	}
	u.stableSnapTo(8)
	if u.snapshot == nil {
		t.Fatal("stableSnapTo of another index forgot the snapshot")
	}
	u.stableSnapTo(9)
	if u.snapshot != nil {
		t.Fatal("stableSnapTo of the snapshot's index kept it")
	}
}

func TestUnstableTruncateAndAppend(t *testing.T) {
	tests := []struct {
		name       string
		offset     uint64
		ents       []pb.Entry
		add        []pb.Entry
		wantOffset uint64
		want       []pb.Entry
	}{
		{"append to empty", 5, nil, entsFrom(5, 1), 5, entsFrom(5, 1)},
		{"append after last", 5, entsFrom(5, 1), entsFrom(6, 1, 1), 5, entsFrom(5, 1, 1, 1)},
		{"replace all", 5, entsFrom(5, 1), entsFrom(5, 2, 2), 5, entsFrom(5, 2, 2)},
		// Before offset: the stored tail from there on is replaced too
		// once these are persisted.
		{"before offset", 5, entsFrom(5, 1), entsFrom(4, 2, 2), 4, entsFrom(4, 2, 2)},
		{"truncate the tail", 5, entsFrom(5, 1, 1, 1), entsFrom(6, 2), 5, entsFrom(5, 1, 2)},
		{"truncate and extend", 5, entsFrom(5, 1, 1, 1), entsFrom(7, 2, 2, 2), 5, entsFrom(5, 1, 1, 2, 2, 2)},
	}
	for _, tt := range tests {
		u := unstable{offset: tt.offset, entries: append([]pb.Entry(nil), tt.ents...)}
		u.truncateAndAppend(tt.add)
		if u.offset != tt.wantOffset || !reflect.DeepEqual(u.entries, tt.want) {
			t.Errorf("%s: offset %d entries %v; want %d %v", tt.name, u.offset, u.entries, tt.wantOffset, tt.want)
		}
	}
}

// TestUnstableTruncateDoesNotAliasReady: the entries handed out in a Ready
// stay as they were when later entries replace part of them, since the
// application may still be persisting them.
func TestUnstableTruncateDoesNotAliasReady(t *testing.T) {
	u := unstable{offset: 5}
	u.truncateAndAppend(entsFrom(5, 1, 1, 1))
	handedOut := u.slice(5, 8)
	u.truncateAndAppend(entsFrom(6, 2))
	if !reflect.DeepEqual(handedOut, entsFrom(5, 1, 1, 1)) {
		t.Fatalf("entries handed out changed to %v", handedOut)
	}
}

func TestUnstableSlice(t *testing.T) {
	u := unstable{offset: 5, entries: entsFrom(5, 1, 2, 3)}
	tests := []struct {
		lo, hi    uint64
		want      []pb.Entry
		wantPanic bool
	}{
		{5, 5, []pb.Entry{}, false},
		{5, 8, entsFrom(5, 1, 2, 3), false},
		{6, 7, entsFrom(6, 2), false},
		{4, 6, nil, true},
		{6, 9, nil, true},
		{7, 6, nil, true},
	}
	for _, tt := range tests {
		var got []pb.Entry
		panicked := mustPanic(func() { got = u.slice(tt.lo, tt.hi) })
		if panicked != tt.wantPanic {
			t.Errorf("slice(%d, %d) panicked = %v, want %v", tt.lo, tt.hi, panicked, tt.wantPanic)
			continue
		}
		if !panicked && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("slice(%d, %d) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
}
