package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// benchCluster is three RawNodes over MemoryStorage with messages delivered
// in-process, kept lean (arrays, reused buffers) so that what a benchmark
// measures is raft's work, not the harness's. Every Ready is handled in
// full: entries and hard state persisted, committed entries applied,
// messages queued for delivery, then Advance.
type benchCluster struct {
	nodes    [3]*RawNode
	storages [3]*MemoryStorage
	inbox    [3][]pb.Message
	spare    [3][]pb.Message // the other half of each inbox's double buffer
	// appliedProposals counts normal entries with data applied on member 1.
	appliedProposals int
	// compactEvery bounds the memory a long run holds.
	compactEvery uint64
}

func benchConfig(id uint64, s *MemoryStorage) *Config {
	return &Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		Rand:            rand.New(rand.NewPCG(id, 1)),
	}
}

func newBenchCluster(tb testing.TB) *benchCluster {
	c := &benchCluster{compactEvery: 10000}
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
	for i := range c.nodes {
		s := NewMemoryStorage()
		if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}); err != nil {
			tb.Fatal(err)
		}
		rn, err := NewRawNode(benchConfig(uint64(i+1), s))
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes[i], c.storages[i] = rn, s
	}
	if err := c.nodes[0].Campaign(); err != nil {
		tb.Fatal(err)
	}
	for c.round(tb) {
	}
	if c.nodes[0].raft.state != StateLeader {
		tb.Fatal("member 1 did not become leader")
	}
	return c
}

// round handles every member's Ready, then delivers the messages that
// produced; it reports whether anything happened.
func (c *benchCluster) round(tb testing.TB) bool {
	busy := false
	for i, rn := range c.nodes {
		if !rn.HasReady() {
			continue
		}
		busy = true
		rd := rn.Ready()
		s := c.storages[i]
		if !IsEmptySnap(rd.Snapshot) {
			if err := s.ApplySnapshot(rd.Snapshot); err != nil {
				tb.Fatal(err)
			}
		}
		if err := s.Append(rd.Entries); err != nil {
			tb.Fatal(err)
		}
		if !IsEmptyHardState(rd.HardState) {
			_ = s.SetHardState(rd.HardState)
		}
		if i == 0 {
			for j := range rd.CommittedEntries {
				if rd.CommittedEntries[j].Type == pb.EntryNormal && len(rd.CommittedEntries[j].Data) > 0 {
					c.appliedProposals++
				}
			}
		}
		for _, m := range rd.Messages {
			c.inbox[m.To-1] = append(c.inbox[m.To-1], m)
		}
		rn.Advance(rd)
		c.maybeCompact(tb, i)
	}
	for i, rn := range c.nodes {
		if len(c.inbox[i]) == 0 {
			continue
		}
		busy = true
		// Swap buffers: stepping may queue more messages for this member
		// only through a later Ready, but keep the two halves apart anyway.
		msgs := c.inbox[i]
		c.inbox[i] = c.spare[i][:0]
		for _, m := range msgs {
			_ = rn.Step(m)
		}
		clear(msgs)
		c.spare[i] = msgs[:0]
	}
	return busy
}

// maybeCompact drops applied entries from storage now and then, as the
// server does after a snapshot.
func (c *benchCluster) maybeCompact(tb testing.TB, i int) {
	s := c.storages[i]
	applied := c.nodes[i].raft.raftLog.applied
	first, _ := s.FirstIndex()
	if applied < first+c.compactEvery {
		return
	}
	if err := s.Compact(applied); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkProposeCommit3Nodes measures proposals committed and applied on
// the leader of a three-member cluster, per second and in allocations per
// proposal (for the whole cluster's work), with one proposal in flight (a
// client waiting for each write) and with 1,000 (a loaded server).
func BenchmarkProposeCommit3Nodes(b *testing.B) {
	data := make([]byte, 64)
	for _, inflight := range []int{1, 1000} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			c := newBenchCluster(b)
			lead := c.nodes[0]
			b.ReportAllocs()
			b.ResetTimer()
			proposed := 0
			for c.appliedProposals < b.N {
				for proposed < b.N && proposed-c.appliedProposals < inflight {
					if err := lead.Propose(data); err != nil {
						b.Fatal(err)
					}
					proposed++
				}
				if !c.round(b) {
					b.Fatalf("cluster idle with %d proposed and %d applied", proposed, c.appliedProposals)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
		})
	}
}

// BenchmarkRawNodeStepMsgApp measures a follower taking MsgApps of one
// entry each, as a replicating leader sends them; Ready and Advance run
// every 64 messages, as a busy follower's loop would batch them.
func BenchmarkRawNodeStepMsgApp(b *testing.B) {
	s := NewMemoryStorage()
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}); err != nil {
		b.Fatal(err)
	}
	rn, err := NewRawNode(benchConfig(2, s))
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	ents := make([]pb.Entry, 1)
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			if err := s.Append(rd.Entries); err != nil {
				b.Fatal(err)
			}
			if !IsEmptyHardState(rd.HardState) {
				_ = s.SetHardState(rd.HardState)
			}
			rn.Advance(rd)
		}
		if applied := rn.raft.raftLog.applied; applied > 10000 {
			first, _ := s.FirstIndex()
			if applied > first+10000 {
				if err := s.Compact(applied); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		last := uint64(i + 1)
		ents[0] = pb.Entry{Term: 2, Index: last + 1, Data: data}
		logTerm := uint64(2)
		if i == 0 {
			logTerm = 1
		}
		m := pb.Message{Type: pb.MsgApp, From: 1, To: 2, Term: 2, Index: last, LogTerm: logTerm, Commit: last, Entries: ents}
		if err := rn.Step(m); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			handle()
		}
	}
}

// BenchmarkRawNodeStepHeartbeat measures a follower taking heartbeats.
func BenchmarkRawNodeStepHeartbeat(b *testing.B) {
	s := NewMemoryStorage()
	cs := pb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}); err != nil {
		b.Fatal(err)
	}
	rn, err := NewRawNode(benchConfig(2, s))
	if err != nil {
		b.Fatal(err)
	}
	m := pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 2, Commit: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rn.Step(m); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			rd := rn.Ready()
			_ = s.SetHardState(rd.HardState)
			rn.Advance(rd)
		}
	}
}
