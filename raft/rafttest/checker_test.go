package rafttest

import (
	"errors"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// The checkers must fire: each test here breaks one invariant on purpose
// and expects the simulator to name it.

// calmOptions is a fault-free 3-member cluster.
func calmOptions(seed uint64) Options {
	return Options{
		Seed: seed, Voters: 3, Steps: 400, TraceSize: 50,
		Raft:   RaftOptions{ElectionTick: 5, HeartbeatTick: 1, MaxSizePerMsg: noLimit, MaxInflightMsgs: 16},
		Faults: Faults{Propose: 0.05, SnapshotEvery: 1000, MinVoters: 3, MaxMembers: 3},
	}
}

// settled runs a calm cluster until it has applied a few entries.
func settled(t *testing.T, seed uint64) *Sim {
	t.Helper()
	s, err := New(calmOptions(seed))
	if err != nil {
		t.Fatal(err)
	}
	for s.StepCount() < s.opts.Steps {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.hist) < 6 {
		t.Fatalf("setup: only %d entries applied", len(s.hist)-1)
	}
	return s
}

func wantViolation(t *testing.T, err error, invariant string) {
	t.Helper()
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want a %q violation", err, invariant)
	}
	if v.Invariant != invariant {
		t.Fatalf("got violation %q (%s), want %q", v.Invariant, v.Detail, invariant)
	}
}

func TestCheckerElectionSafety(t *testing.T) {
	s := settled(t, 1)
	lead := s.leader()
	if lead == nil {
		t.Fatal("setup: no leader")
	}
	s.leaders[lead.term] = lead.id + 100 // someone else led this term
	err := s.do(func() { s.observe(lead) })
	wantViolation(t, err, "election safety")
}

func TestCheckerLogMatching(t *testing.T) {
	s := settled(t, 2)
	m := s.members[0]
	idx := m.disk.lastIndex()
	term, _ := m.disk.ms.Term(idx)
	h, _ := m.disk.chainAt(idx)
	err := s.do(func() { s.checkLogEntry(s.members[1], idx, term, h+1) })
	wantViolation(t, err, "log matching")
}

func TestCheckerStateMachineSafety(t *testing.T) {
	s := settled(t, 3)
	m := s.members[1]
	err := s.do(func() {
		m.sm.chain++ // as if it had applied something else before
		s.recordApplied(m, &pb.Entry{Index: 2, Term: 1})
	})
	wantViolation(t, err, "state machine safety")
}

func TestCheckerOverwriteOfCommittedEntry(t *testing.T) {
	s := settled(t, 4)
	m := s.members[2]
	commit := m.disk.hs.Commit
	term, _ := m.disk.ms.Term(commit)
	err := s.do(func() {
		s.persistEntries(m, []pb.Entry{{Index: commit, Term: term, Data: []byte("forged")}})
	})
	wantViolation(t, err, "committed entry lost")
}

// TestCheckerLostWrite: a disk that loses its last persisted entries
// (a write acknowledged but not durable) is caught when the member comes
// back, whatever raft makes of it.
func TestCheckerLostWrite(t *testing.T) {
	s := settled(t, 5)
	m := s.members[0]
	if err := s.Crash(m.id); err != nil {
		t.Fatal(err)
	}
	snap, _ := m.disk.ms.Snapshot()
	if snap.Metadata.Index > 1 {
		t.Skip("setup: member snapshotted; the test needs its whole log")
	}
	ents, err := m.disk.ms.Entries(snap.Metadata.Index+1, m.disk.lastIndex()+1, ^uint64(0))
	if err != nil || len(ents) < 2 {
		t.Fatalf("setup: entries %v, %v", ents, err)
	}
	// Rebuild the disk without its last two entries, hard state intact.
	d, derr := newBootstrapDisk(m.confState)
	if derr != nil {
		t.Fatal(derr)
	}
	d.hs = m.disk.hs
	_ = d.ms.SetHardState(d.hs)
	m.disk = d
	if err := s.do(func() { s.persistEntries(m, ents[:len(ents)-2]) }); err != nil {
		t.Fatal(err)
	}
	err = s.Restart(m.id)
	if err == nil {
		err = s.AwaitLiveness()
	}
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("a lost write went unnoticed (err %v)", err)
	}
	t.Logf("caught: %v", v)
}

// TestCrashLosesUnpersistedReady: a leader that crashes between taking a
// Ready and persisting it loses the entries in it, and the cluster still
// recovers.
func TestCrashLosesUnpersistedReady(t *testing.T) {
	s := settled(t, 6)
	lead := s.leader()
	if lead == nil {
		t.Fatal("setup: no leader")
	}
	for lead.phase != phaseIdle || lead.rn.HasReady() {
		if err := s.do(func() { s.handleReady(lead) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Propose(lead.id, "doomed"); err != nil {
		t.Fatal(err)
	}
	err := s.do(func() {
		s.opts.Faults.SplitReady = 1 // stop after taking the Ready
		s.handleReady(lead)
	})
	if err != nil {
		t.Fatal(err)
	}
	if lead.phase != phaseTaken {
		t.Fatalf("setup: leader's Ready is in phase %d", lead.phase)
	}
	last := lead.rd.Entries[len(lead.rd.Entries)-1]
	if err := s.Crash(lead.id); err != nil {
		t.Fatal(err)
	}
	if got := lead.disk.lastIndex(); got >= last.Index {
		t.Fatalf("disk holds index %d after losing the Ready that appended %d", got, last.Index)
	}
	s.opts.Faults.SplitReady = 0
	if err := s.AwaitLiveness(); err != nil {
		t.Fatal(err)
	}
	// Nothing was sent before the crash, so the proposal existed nowhere.
	for _, m := range s.members {
		for _, e := range s.Applied(m.id) {
			if e.Data == "doomed" {
				t.Fatalf("member %d applied %d/%d %q, which was lost in a crash", m.id, e.Term, e.Index, e.Data)
			}
		}
	}
}

// TestFailureReportNamesReplay checks what a failing seed prints.
func TestFailureReportNamesReplay(t *testing.T) {
	report := replayCommand(1234)
	if !strings.Contains(report, "BASALT_SIM_SEED=1234") || !strings.Contains(report, "-run TestSimulation") {
		t.Fatalf("replay command %q", report)
	}
	s := settled(t, 7)
	if tr := s.Trace(); strings.Count(tr, "\n") != s.opts.TraceSize {
		t.Fatalf("trace has %d lines, want the last %d events", strings.Count(tr, "\n"), s.opts.TraceSize)
	}
	if !strings.Contains(s.Describe(), raft.StateLeader.String()) {
		t.Fatalf("Describe shows no leader:\n%s", s.Describe())
	}
}
