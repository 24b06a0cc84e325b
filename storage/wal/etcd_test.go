package wal_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	"github.com/basaltkv/basalt/storage/wal/internal/etcdwal/wire"
)

// The WAL is etcd's format: etcd 3.7's wal package reads what basalt
// writes and basalt reads what etcd writes, across segment cuts and
// snapshot records, and each appends to the other's. etcd's package runs
// in a helper process (internal/etcdwal), as it cannot be linked beside
// basalt's: both register the same metrics.

var etcdMeta = []byte("\x08\x01\x10\x07") // an etcdserverpb.Metadata: node 1, cluster 7

// history is what both sides write: entries with an overwritten tail,
// hard states, and a snapshot record, enough to cut several segments.
type step struct {
	st   raftpb.HardState
	ents []raftpb.Entry
	snap *raftpb.SnapshotMetadata
}

func history() []step {
	var steps []step
	for i := uint64(0); i < 40; i++ {
		steps = append(steps, step{st: raftpb.HardState{Term: 2, Vote: 1, Commit: i * 4}, ents: ents(i*4+1, i*4+4, 2, 200)})
		if i == 20 {
			steps = append(steps, step{snap: &raftpb.SnapshotMetadata{Index: 60, Term: 2,
				ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}}})
		}
	}
	// A new leader overwrites an uncommitted tail.
	steps = append(steps, step{st: raftpb.HardState{Term: 3, Vote: 2, Commit: 158}, ents: ents(159, 162, 3, 100)})
	return steps
}

func ents(from, to, term uint64, size int) []raftpb.Entry {
	var out []raftpb.Entry
	for i := from; i <= to; i++ {
		typ := raftpb.EntryNormal
		if i%17 == 0 {
			typ = raftpb.EntryConfChange
		}
		out = append(out, raftpb.Entry{Type: typ, Term: term, Index: i, Data: bytes.Repeat([]byte{byte(i)}, size)})
	}
	return out
}

// want is what reading history from a snapshot at index returns.
func want(index uint64) []raftpb.Entry {
	var out []raftpb.Entry
	for _, s := range history() {
		for _, e := range s.ents {
			out = slices.DeleteFunc(out, func(o raftpb.Entry) bool { return o.Index >= e.Index })
			if e.Index > index {
				out = append(out, e)
			}
		}
	}
	return out
}

// etcdWAL builds the etcdwal helper into a test's temporary directory.
func buildEtcdWAL(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etcdwal")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/etcdwal").CombinedOutput(); err != nil {
		t.Fatalf("build internal/etcdwal: %v\n%s", err, out)
	}
	return bin
}

// etcdWAL sends req to the etcdwal helper bin and decodes its reply into
// rep, if not nil.
func etcdWAL(t *testing.T, bin string, req wire.Request, rep any) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("etcd's wal, %s: %v: %s", req.Op, err, stderr.String())
	}
	if rep != nil {
		if err := json.Unmarshal(out, rep); err != nil {
			t.Fatalf("etcdwal reply %q: %v", out, err)
		}
	}
}

func mustMarshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func etcdSteps(t *testing.T, steps []step) []wire.Step {
	var out []wire.Step
	for _, s := range steps {
		if s.snap != nil {
			out = append(out, wire.Step{Snapshot: &wire.Snapshot{Index: s.snap.Index, Term: s.snap.Term, ConfState: mustMarshal(t, &s.snap.ConfState)}})
			continue
		}
		es := wire.Step{HardState: mustMarshal(t, &s.st)}
		for i := range s.ents {
			es.Entries = append(es.Entries, mustMarshal(t, &s.ents[i]))
		}
		out = append(out, es)
	}
	return out
}

func writeBasalt(t *testing.T, dir string, steps []step) {
	t.Helper()
	w, err := wal.Create(vfs.OS, dir, etcdMeta, wal.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.snap != nil {
			err = w.SaveSnapshot(*s.snap)
		} else {
			err = w.Save(s.st, s.ents)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readEtcd(t *testing.T, bin, dir string, at wal.Marker) (wire.Reply, raftpb.HardState, []raftpb.Entry) {
	t.Helper()
	var rep wire.Reply
	etcdWAL(t, bin, wire.Request{Op: "read", Dir: dir, At: wire.Snapshot{Index: at.Index, Term: at.Term}}, &rep)
	var hs raftpb.HardState
	if err := hs.Unmarshal(rep.HardState); err != nil {
		t.Fatal(err)
	}
	var out []raftpb.Entry
	for _, b := range rep.Entries {
		var e raftpb.Entry
		if err := e.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return rep, hs, out
}

func readBasalt(t *testing.T, dir string, at wal.Marker) ([]byte, raftpb.HardState, []raftpb.Entry) {
	t.Helper()
	w, err := wal.OpenForRead(vfs.OS, dir, at)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	meta, st, es, err := w.ReadAll()
	if err != nil {
		t.Fatalf("basalt's ReadAll at %d: %v", at.Index, err)
	}
	return meta, st, es
}

func checkRead(t *testing.T, who string, meta []byte, st raftpb.HardState, got []raftpb.Entry, from uint64) {
	t.Helper()
	if !bytes.Equal(meta, etcdMeta) {
		t.Errorf("%s: metadata %x, want %x", who, meta, etcdMeta)
	}
	if wantSt := (raftpb.HardState{Term: 3, Vote: 2, Commit: 158}); st != wantSt {
		t.Errorf("%s: hard state %+v, want %+v", who, st, wantSt)
	}
	w := want(from)
	if len(got) != len(w) {
		t.Fatalf("%s from %d: %d entries, want %d", who, from, len(got), len(w))
	}
	for i := range w {
		if got[i].Index != w[i].Index || got[i].Term != w[i].Term || got[i].Type != w[i].Type || !bytes.Equal(got[i].Data, w[i].Data) {
			t.Fatalf("%s from %d: entry %d is %d/%d/%v, want %d/%d/%v", who, from, i, got[i].Index, got[i].Term, got[i].Type, w[i].Index, w[i].Term, w[i].Type)
		}
	}
}

func TestEtcdReadsBasaltsWAL(t *testing.T) {
	bin := buildEtcdWAL(t)
	dir := filepath.Join(t.TempDir(), "wal")
	writeBasalt(t, dir, history())
	if names, _ := filepath.Glob(filepath.Join(dir, "*.wal")); len(names) < 4 {
		t.Fatalf("only %d segments", len(names))
	}
	for _, at := range []wal.Marker{{}, {Index: 60, Term: 2}} {
		rep, st, got := readEtcd(t, bin, dir, at)
		checkRead(t, "etcd", rep.Metadata, st, got, at.Index)
		if rep.VerifyErr != "" {
			t.Errorf("etcd's Verify at %d: %s", at.Index, rep.VerifyErr)
		}
		var idx []uint64
		for _, s := range rep.Snapshots {
			idx = append(idx, s.Index)
			var cs raftpb.ConfState
			if err := cs.Unmarshal(s.ConfState); err != nil || s.Index == 60 && len(cs.Voters) != 3 {
				t.Errorf("etcd reads the snapshot record's configuration as %+v (%v)", cs, err)
			}
		}
		if !slices.Equal(idx, []uint64{0, 60}) {
			t.Fatalf("etcd's ValidSnapshotEntries: %v, want [0 60]", idx)
		}
	}

	// etcd appends to basalt's WAL, cutting segments of its own, and
	// basalt reads the result.
	more := []step{{st: raftpb.HardState{Term: 3, Vote: 2, Commit: 158}, ents: ents(163, 170, 3, 300)}}
	etcdWAL(t, bin, wire.Request{Op: "append", Dir: dir, SegmentSize: 4096, At: wire.Snapshot{Index: 60, Term: 2}, Steps: etcdSteps(t, more)}, nil)
	_, _, got := readBasalt(t, dir, wal.Marker{Index: 60, Term: 2})
	if n := len(got); n != len(want(60))+8 || got[n-1].Index != 170 || !bytes.Equal(got[n-1].Data, more[0].ents[7].Data) {
		t.Fatalf("basalt reads %d entries after etcd appended, last %d", n, got[n-1].Index)
	}
}

func TestBasaltReadsEtcdsWAL(t *testing.T) {
	bin := buildEtcdWAL(t)
	dir := filepath.Join(t.TempDir(), "wal")
	etcdWAL(t, bin, wire.Request{Op: "create", Dir: dir, SegmentSize: 4096, Metadata: etcdMeta, Steps: etcdSteps(t, history())}, nil)
	if names, _ := filepath.Glob(filepath.Join(dir, "*.wal")); len(names) < 4 {
		t.Fatalf("only %d segments", len(names))
	}
	markers, err := wal.ValidSnapshotMarkers(vfs.OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []wal.Marker{{}, {Index: 60, Term: 2}}; !slices.Equal(markers, want) {
		t.Fatalf("markers %v, want %v", markers, want)
	}
	for _, at := range []wal.Marker{{}, {Index: 60, Term: 2}} {
		meta, st, got := readBasalt(t, dir, at)
		checkRead(t, "basalt", meta, st, got, at.Index)
	}

	// basalt appends to etcd's WAL, cutting segments of its own, and etcd
	// reads the result.
	bw, err := wal.Open(vfs.OS, dir, wal.Marker{Index: 60, Term: 2}, wal.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := bw.ReadAll(); err != nil {
		t.Fatal(err)
	}
	for i := uint64(163); i <= 200; i += 2 {
		if err := bw.Save(raftpb.HardState{Term: 3, Vote: 2, Commit: i - 1}, ents(i, i+1, 3, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.SaveSnapshot(raftpb.SnapshotMetadata{Index: 180, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	rep, st, got := readEtcd(t, bin, dir, wal.Marker{Index: 180, Term: 3})
	if len(got) != 20 || got[0].Index != 181 || got[19].Index != 200 || st.Commit != 198 {
		t.Fatalf("etcd reads %d entries from 180, hard state %+v", len(got), st)
	}
	if len(rep.Snapshots) != 3 || rep.VerifyErr != "" {
		t.Fatalf("etcd's ValidSnapshotEntries: %+v, Verify: %s", rep.Snapshots, rep.VerifyErr)
	}
}
