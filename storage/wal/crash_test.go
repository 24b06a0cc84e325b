package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

// The randomized crash test drives a WAL with raft-like saves, syncs,
// snapshots, purges, injected IO errors and crashes of every kind, and
// after each crash checks the recovered log against a model: it must be
// what the records written so far fold to, for some prefix of them that
// includes every record acknowledged as durable.

// modelRec is one record the WAL was asked to write.
type modelRec struct {
	st  *raftpb.HardState
	ent *raftpb.Entry
}

// view is what ReadAll returns, relative to a snapshot index.
type view struct {
	st   raftpb.HardState
	ents []raftpb.Entry
}

func (v view) clone() view { return view{st: v.st, ents: slices.Clone(v.ents)} }

func (v *view) apply(r modelRec, start uint64) {
	if r.st != nil {
		v.st = *r.st
		return
	}
	e := *r.ent
	if e.Index <= start {
		v.ents = v.ents[:0]
		return
	}
	pos := e.Index - start - 1
	if pos > uint64(len(v.ents)) {
		panic(fmt.Sprintf("model: entry %d after %d entries from %d", e.Index, len(v.ents), start))
	}
	v.ents = append(v.ents[:pos], e)
}

// after drops the entries at or below index.
func (v view) after(index uint64) view {
	i := 0
	for i < len(v.ents) && v.ents[i].Index <= index {
		i++
	}
	return view{st: v.st, ents: v.ents[i:]}
}

type crashModel struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	fs      *vfs.CrashFS
	opts    []Option
	w       *WAL
	trace   []string
	reopens int

	base    view   // recovered at the last (re)open, relative to baseAt
	baseAt  uint64 // the marker index base is relative to
	marker  Marker // newest durable snapshot marker
	recs    []modelRec
	durable int // recs[:durable] are acknowledged durable

	// raft-ish state of the writer, for generating valid saves
	cur       view // base with every rec applied
	lastIndex uint64
	term      uint64
}

func (m *crashModel) logf(format string, args ...any) {
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
}

func (m *crashModel) fatalf(format string, args ...any) {
	m.t.Helper()
	tail := m.trace
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	m.t.Fatalf("seed %d: %s\nreplay: BASALT_WAL_CRASH_SEED=%d go test -run TestRandomCrashes ./storage/wal/\nlast operations:\n  %s",
		m.seed, fmt.Sprintf(format, args...), m.seed, strings.Join(tail, "\n  "))
}

func (m *crashModel) add(st raftpb.HardState, ents []raftpb.Entry) {
	for i := range ents {
		e := ents[i]
		m.recs = append(m.recs, modelRec{ent: &e})
		m.cur.apply(m.recs[len(m.recs)-1], m.baseAt)
	}
	if st != (raftpb.HardState{}) {
		m.recs = append(m.recs, modelRec{st: &st})
		m.cur.apply(m.recs[len(m.recs)-1], m.baseAt)
	}
}

// save generates one raft-like Ready: appended or overwriting entries, a
// hard state change, or both.
func (m *crashModel) save() error {
	st := m.cur.st
	var ents []raftpb.Entry
	switch r := m.rng.IntN(10); {
	case r < 6: // append
		n := uint64(m.rng.IntN(5))
		ents = mkEnts(m.lastIndex+1, m.lastIndex+n, m.term, m.rng.IntN(200))
	case r < 8 && m.lastIndex > st.Commit: // a new leader overwrites the uncommitted tail
		m.term++
		from := st.Commit + 1 + uint64(m.rng.IntN(int(m.lastIndex-st.Commit)))
		ents = mkEnts(from, from+uint64(m.rng.IntN(4)), m.term, m.rng.IntN(200))
		st.Term, st.Vote = m.term, uint64(1+m.rng.IntN(3))
	default: // hard state only
		if m.rng.IntN(4) == 0 {
			m.term++
			st.Term, st.Vote = m.term, uint64(m.rng.IntN(3))
		}
	}
	last := m.lastIndex
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	if last > st.Commit && m.rng.IntN(2) == 0 {
		st.Commit += uint64(m.rng.IntN(int(last-st.Commit) + 1))
	}
	if st == m.cur.st {
		st = raftpb.HardState{}
	}
	noSync := m.rng.IntN(4) == 0
	need := mustSync(st, m.cur.st, len(ents)) && st != raftpb.HardState{} || len(ents) > 0
	m.logf("save%s st=%+v ents=%s", map[bool]string{true: "NoSync"}[noSync], st, describe(ents))
	m.add(st, ents)
	if len(ents) > 0 {
		m.lastIndex = ents[len(ents)-1].Index
	}
	var err error
	if noSync {
		err = m.w.SaveNoSync(st, ents)
	} else {
		err = m.w.Save(st, ents)
		if err == nil && need {
			m.durable = len(m.recs)
		}
	}
	return err
}

func (m *crashModel) snapshot() error {
	if m.cur.st.Commit <= m.marker.Index || m.cur.st.Commit <= m.baseAt {
		return nil
	}
	lo := max(m.marker.Index, m.baseAt)
	idx := lo + 1 + uint64(m.rng.IntN(int(m.cur.st.Commit-lo)))
	mk := Marker{Index: idx, Term: m.cur.ents[idx-m.baseAt-1].Term}
	m.logf("snapshot %+v", mk)
	if err := m.w.SaveSnapshot(snapMeta(mk)); err != nil {
		return err
	}
	m.marker, m.durable = mk, len(m.recs)
	if m.rng.IntN(2) == 0 {
		if err := m.w.ReleaseLockTo(mk.Index); err != nil {
			return err
		}
		keep := 1 + m.rng.IntN(3)
		removed, err := m.w.Purge(keep)
		m.logf("purge keep=%d removed %d", keep, len(removed))
		return err
	}
	return nil
}

// crashAndCheck crashes, reopens at the newest durable marker and checks
// the recovered log against the model.
func (m *crashModel) crashAndCheck(kind int) {
	m.t.Helper()
	m.fs.SetFault(nil)
	switch kind {
	case 0:
		m.logf("crash")
		m.fs.Crash()
	case 1:
		m.logf("crash torn")
		m.fs.CrashTorn(m.rng)
	case 2:
		m.logf("crash tear last")
		m.fs.CrashTearLast(m.rng)
	case 3:
		m.logf("close, crash")
		if err := m.w.Close(); err != nil {
			m.fatalf("Close: %v", err)
		}
		m.durable = len(m.recs)
		m.fs.Crash()
	}
	m.reopens++
	w, err := Open(m.fs, walDir, m.marker, m.opts...)
	if err != nil {
		m.fatalf("Open at %+v: %v", m.marker, err)
	}
	_, st, ents, err := w.ReadAll()
	if err != nil {
		m.fatalf("ReadAll at %+v: %v", m.marker, err)
	}
	got := view{st: st, ents: ents}
	// Fold the records: every prefix from the durable one up is allowed.
	v := m.base.clone()
	ok := false
	for k := 0; k <= len(m.recs) && !ok; k++ {
		if k > 0 {
			v.apply(m.recs[k-1], m.baseAt)
		}
		if k >= m.durable {
			want := v.after(m.marker.Index)
			ok = want.st == got.st && entsEqual(want.ents, got.ents)
		}
	}
	if !ok {
		want := m.base.clone()
		for _, r := range m.recs[:m.durable] {
			want.apply(r, m.baseAt)
		}
		want = want.after(m.marker.Index)
		m.fatalf("recovered st=%+v ents=%s\nmatches no prefix of the %d records written; durable prefix (%d) folds to st=%+v ents=%s",
			got.st, describe(got.ents), len(m.recs), m.durable, want.st, describe(want.ents))
	}
	m.logf("reopened at %+v: st=%+v ents=%s", m.marker, st, describe(ents))
	m.w = w
	m.base, m.baseAt = got.clone(), m.marker.Index
	m.cur = got.clone()
	m.recs, m.durable = nil, 0
	m.lastIndex = m.marker.Index + uint64(len(ents))
	m.term = st.Term
	for _, e := range ents {
		m.term = max(m.term, e.Term)
	}
}

func TestRandomCrashes(t *testing.T) {
	seeds := []uint64{}
	if s := os.Getenv("BASALT_WAL_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, n)
	} else {
		n := 40
		if s := os.Getenv("BASALT_WAL_CRASH_SEEDS"); s != "" {
			n, _ = strconv.Atoi(s)
		}
		if testing.Short() {
			n = 10
		}
		for i := range n {
			seeds = append(seeds, uint64(i))
		}
	}
	eio := errors.New("injected EIO")
	for _, seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 0xba5a17))
		segSize := []int64{256, 1024, 4096}[rng.IntN(3)]
		m := &crashModel{t: t, seed: seed, rng: rng, fs: newFS(t), opts: []Option{WithSegmentSize(segSize)}}
		m.w = mustCreate(t, m.fs, m.opts...)
		m.term = 1
		m.logf("create segSize=%d", segSize)
		for step := 0; step < 300; step++ {
			faulted := false
			if rng.IntN(25) == 0 {
				op := []vfs.Op{vfs.OpSync, vfs.OpWrite, vfs.OpTruncate, vfs.OpRename, vfs.OpSyncDir}[rng.IntN(5)]
				m.logf("inject %s failure", op)
				m.fs.SetFault(vfs.FailFrom(op, 1, eio))
				faulted = true
			}
			var err error
			switch r := rng.IntN(100); {
			case r < 70:
				err = m.save()
			case r < 80:
				m.logf("sync")
				if err = m.w.Sync(); err == nil {
					m.durable = len(m.recs)
				}
			case r < 88:
				err = m.snapshot()
			default:
				m.crashAndCheck(rng.IntN(4))
				continue
			}
			if err != nil {
				if !faulted {
					m.fatalf("unexpected error: %v", err)
				}
				if !errors.Is(err, eio) {
					m.fatalf("error does not wrap the injected one: %v", err)
				}
				m.logf("failed: %v", err)
				m.crashAndCheck(rng.IntN(3))
				continue
			}
			if faulted {
				m.fs.SetFault(nil)
			}
		}
		m.crashAndCheck(3)
		m.w.Close()
		if m.reopens < 5 {
			t.Fatalf("seed %d: only %d reopens", seed, m.reopens)
		}
	}
}
