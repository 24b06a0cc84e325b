package rafttest

import (
	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// envelope is a message in flight.
type envelope struct {
	seq uint64
	// at is the first step at which the message may be delivered.
	at int
	m  pb.Message
	// senderInc is the sender's incarnation when it sent m: a transport
	// reports a snapshot's fate only to the process that sent it.
	senderInc int
}

// network holds the messages in flight and the links that are cut. A
// message is checked against the cuts when it is delivered, so one sent
// before a partition is lost if the partition is still there when it
// arrives.
type network struct {
	queue []envelope
	seq   uint64
	// cut[{from, to}]: messages from one to the other are lost.
	cut map[[2]uint64]bool
}

func (n *network) enqueue(m pb.Message, at, senderInc int) {
	n.seq++
	n.queue = append(n.queue, envelope{seq: n.seq, at: at, m: m, senderInc: senderInc})
}

func (n *network) hasDeliverable(step int) bool {
	for i := range n.queue {
		if n.queue[i].at <= step {
			return true
		}
	}
	return false
}

// take removes and returns a deliverable message: the oldest one, or with
// random set a uniformly chosen one, which reorders the network. With
// early set and nothing deliverable, it takes the message due first.
func (n *network) take(step int, random, early bool, intn func(int) int) (envelope, bool) {
	pick := -1
	if early && !n.hasDeliverable(step) {
		for i := range n.queue {
			if pick < 0 || n.queue[i].at < n.queue[pick].at {
				pick = i
			}
		}
	} else if random {
		count := 0
		for i := range n.queue {
			if n.queue[i].at <= step {
				count++
			}
		}
		if count == 0 {
			return envelope{}, false
		}
		k := intn(count)
		for i := range n.queue {
			if n.queue[i].at <= step {
				if k == 0 {
					pick = i
					break
				}
				k--
			}
		}
	} else {
		for i := range n.queue {
			if n.queue[i].at <= step {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return envelope{}, false
	}
	env := n.queue[pick]
	copy(n.queue[pick:], n.queue[pick+1:])
	n.queue[len(n.queue)-1] = envelope{}
	n.queue = n.queue[:len(n.queue)-1]
	return env, true
}

func (n *network) isCut(from, to uint64) bool { return n.cut[[2]uint64{from, to}] }

// send puts a message from a member's Ready on the network, where it may
// be lost, duplicated or delayed.
func (s *Sim) send(from *member, m pb.Message) {
	f := &s.opts.Faults
	faulty := !s.healing
	if faulty && s.rng.Float64() < f.Drop {
		s.trace.add(event{step: s.step, kind: evDrop, msg: m, text: "lost on send"})
		s.stats.MessagesDropped++
		s.transportFailed(envelope{m: m, senderInc: from.incarnation})
		return
	}
	copies := 1
	if faulty && s.rng.Float64() < f.Duplicate {
		copies = 2
		s.stats.MessagesDuplicated++
	}
	for c := range copies {
		at := s.step
		if faulty && f.Delay > 0 && s.rng.Float64() < f.Delay {
			at += 1 + s.rng.IntN(max(f.MaxDelay, 1))
		}
		s.net.enqueue(m, at, from.incarnation)
		ev := event{step: s.step, kind: evSend, msg: m, b: uint64(c)}
		if at > s.step {
			ev.a = uint64(at)
		}
		s.trace.add(ev)
	}
}

// deliver hands one deliverable message to its recipient, unless the
// recipient is down or the link is cut. With early set, a delayed message
// may arrive when nothing else is deliverable.
func (s *Sim) deliver(early bool) bool {
	reorder := !s.healing && s.rng.Float64() < s.opts.Faults.Reorder
	env, ok := s.net.take(s.step, reorder, early, s.rng.IntN)
	if !ok {
		return false
	}
	m := env.m
	to := s.byID[m.To]
	switch {
	case to == nil || to.rn == nil:
		s.trace.add(event{step: s.step, kind: evDrop, msg: m, text: "recipient down"})
		s.stats.MessagesDropped++
		s.transportFailed(env)
		return true
	case s.net.isCut(m.From, m.To):
		s.trace.add(event{step: s.step, kind: evDrop, msg: m, text: "partitioned"})
		s.stats.MessagesDropped++
		s.transportFailed(env)
		return true
	}
	s.trace.add(event{step: s.step, kind: evDeliver, msg: m})
	_ = to.rn.Step(m) // errors are refusals of bad input: fine
	if mayChangeRole(to, m) {
		s.observe(to)
	} else if s.opts.Paranoid {
		st := to.rn.Status()
		if st.RaftState != to.role || st.Term != to.term {
			s.fail("sim: skipped observe", "member %d %s/%d -> %s/%d on %s", to.id, to.role, to.term, st.RaftState, st.Term, raft.DescribeMessage(m))
		}
	}
	if m.Type == pb.MsgSnap {
		s.stats.SnapshotsSent++
		s.reportSnapshot(env, raft.SnapshotFinish)
	}
	return true
}

// mayChangeRole reports whether stepping m into a member may change its
// role or term, and so whether observe must look (raft.Status is not
// cheap). Only a message of a higher term, one to a (pre-)candidate,
// MsgTimeoutNow, or an answer to a leader that removed itself (it steps
// down once the others hold its log) can: otherwise, at its own term a
// follower stays one and a leader stays one. Options.Paranoid checks it.
func mayChangeRole(to *member, m pb.Message) bool {
	return m.Term > to.term || m.Type == pb.MsgTimeoutNow ||
		to.role == raft.StateCandidate || to.role == raft.StatePreCandidate ||
		(to.role == raft.StateLeader && !inMembership(to.confState, to.id))
}

func inMembership(cs pb.ConfState, id uint64) bool {
	for _, ids := range [][]uint64{cs.Voters, cs.Learners} {
		for _, v := range ids {
			if v == id {
				return true
			}
		}
	}
	return false
}

// transportFailed tells the sender what a real transport would: a
// snapshot that did not arrive failed, and sometimes that the peer is
// unreachable.
func (s *Sim) transportFailed(env envelope) {
	if env.m.Type == pb.MsgSnap {
		s.reportSnapshot(env, raft.SnapshotFailure)
		return
	}
	if s.rng.IntN(4) != 0 {
		return
	}
	if from := s.byID[env.m.From]; from != nil && from.rn != nil && from.incarnation == env.senderInc {
		from.rn.ReportUnreachable(env.m.To)
	}
}

func (s *Sim) reportSnapshot(env envelope, status raft.SnapshotStatus) {
	from := s.byID[env.m.From]
	if from == nil || from.rn == nil || from.incarnation != env.senderInc {
		return
	}
	from.rn.ReportSnapshot(env.m.To, status)
	word := "finished"
	if status == raft.SnapshotFailure {
		word = "failed"
	}
	s.note(from.id, "transport reports snapshot to "+itoa(env.m.To)+" "+word)
}

// Partitions.

func (s *Sim) cutLink(from, to uint64) {
	if s.net.cut == nil {
		s.net.cut = map[[2]uint64]bool{}
	}
	s.net.cut[[2]uint64{from, to}] = true
}

func (s *Sim) randomPartition() {
	up := s.liveMembers()
	if len(up) < 2 {
		return
	}
	s.stats.Partitions++
	switch s.rng.IntN(3) {
	case 0: // isolate one member both ways
		a := up[s.rng.IntN(len(up))]
		s.Isolate(a.id)
	case 1: // split into two groups
		perm := s.rng.Perm(len(up))
		k := 1 + s.rng.IntN(len(up)/2)
		inA := map[uint64]bool{}
		desc := "split {"
		for _, i := range perm[:k] {
			inA[up[i].id] = true
			desc += " " + itoa(up[i].id)
		}
		desc += " } from the rest"
		for _, a := range up {
			for _, b := range up {
				if inA[a.id] != inA[b.id] {
					s.cutLink(a.id, b.id)
				}
			}
		}
		s.note(0, "partition: "+desc)
	case 2: // one-way: a member stops hearing from one peer or from all
		a := up[s.rng.IntN(len(up))]
		if s.rng.IntN(2) == 0 {
			for _, b := range up {
				if b != a {
					s.cutLink(b.id, a.id)
				}
			}
			s.note(0, "partition: one-way, nobody reaches "+itoa(a.id))
		} else {
			b := up[s.rng.IntN(len(up))]
			if b == a {
				return
			}
			s.cutLink(a.id, b.id)
			s.note(0, "partition: one-way, "+itoa(a.id)+" cannot reach "+itoa(b.id))
		}
	}
}
