package rafttest

import (
	"fmt"
	"strings"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

type eventKind uint8

const (
	evTick eventKind = iota
	evTickOne
	evSend
	evDrop
	evDeliver
	evReady
	evPersist
	evApply
	evCrash
	evRestart
	evLeader
	evNote
	evRaftLog
)

// event is one entry of the trace. It is stored raw and formatted only
// when a failure is reported (or in verbose mode), since most runs never
// print theirs.
type event struct {
	step int
	kind eventKind
	id   uint64
	msg  pb.Message
	// Numbers whose meaning depends on kind.
	a, b, c, d uint64
	hs         pb.HardState
	text       string
}

// tracer keeps the last events in a ring.
type tracer struct {
	ring []event
	next int
	full bool
	logf func(format string, args ...any)
}

func newTracer(size int, logf func(string, ...any)) tracer {
	return tracer{ring: make([]event, max(size, 1)), logf: logf}
}

func (t *tracer) add(ev event) {
	if t.logf != nil {
		t.logf("%s", ev.String())
	}
	t.ring[t.next] = ev
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
}

func (t *tracer) String() string {
	var b strings.Builder
	emit := func(evs []event) {
		for i := range evs {
			b.WriteString(evs[i].String())
			b.WriteByte('\n')
		}
	}
	if t.full {
		emit(t.ring[t.next:])
	}
	emit(t.ring[:t.next])
	return b.String()
}

func (ev *event) String() string {
	p := fmt.Sprintf("[%6d] ", ev.step)
	switch ev.kind {
	case evTick:
		return p + fmt.Sprintf("tick #%d", ev.a)
	case evTickOne:
		return p + fmt.Sprintf("tick member %d alone", ev.id)
	case evSend:
		s := p + "send    " + raft.DescribeMessage(ev.msg)
		if ev.a > 0 {
			s += fmt.Sprintf(" (deliverable at %d)", ev.a)
		}
		if ev.b > 0 {
			s += " (duplicate)"
		}
		return s
	case evDrop:
		return p + "drop    " + raft.DescribeMessage(ev.msg) + " (" + ev.text + ")"
	case evDeliver:
		return p + "deliver " + raft.DescribeMessage(ev.msg)
	case evReady:
		s := p + fmt.Sprintf("member %d takes Ready:", ev.id)
		if ev.text != "" {
			s += " " + ev.text
		}
		if !raft.IsEmptyHardState(ev.hs) {
			s += fmt.Sprintf(" hs{term:%d vote:%d commit:%d}", ev.hs.Term, ev.hs.Vote, ev.hs.Commit)
		}
		if ev.a > 0 {
			s += fmt.Sprintf(" entries[%d..%d]", ev.a, ev.b)
		}
		if ev.c > 0 {
			s += fmt.Sprintf(" snapshot@%d", ev.c)
		}
		if ev.d > 0 {
			s += fmt.Sprintf(" %d msgs", ev.d)
		}
		return s
	case evPersist:
		return p + fmt.Sprintf("member %d persists its Ready (disk last index %d, commit %d)", ev.id, ev.a, ev.b)
	case evApply:
		s := p + fmt.Sprintf("member %d applies", ev.id)
		if ev.c > 0 {
			s += fmt.Sprintf(" snapshot@%d", ev.c)
		}
		if ev.a > 0 {
			s += fmt.Sprintf(" [%d..%d]", ev.a, ev.b)
		}
		return s + ", advances"
	case evCrash:
		return p + fmt.Sprintf("member %d CRASHES (%s)", ev.id, ev.text)
	case evRestart:
		return p + fmt.Sprintf("member %d restarts: snapshot@%d, Config.Applied=%d, disk %s", ev.id, ev.a, ev.b, ev.text)
	case evLeader:
		return p + fmt.Sprintf("member %d is LEADER of term %d", ev.id, ev.a)
	case evNote:
		if ev.id != 0 {
			return p + fmt.Sprintf("member %d: %s", ev.id, ev.text)
		}
		return p + ev.text
	case evRaftLog:
		return p + fmt.Sprintf("  raft %d: %s", ev.id, ev.text)
	}
	return p + fmt.Sprintf("event kind %d", ev.kind)
}

// raftLogger routes a member's raft log into the trace; used only in
// verbose mode, where its cost does not matter.
type raftLogger struct {
	s  *Sim
	id uint64
}

func (l raftLogger) log(format string, args ...any) {
	l.s.trace.add(event{step: l.s.step, kind: evRaftLog, id: l.id, text: fmt.Sprintf(format, args...)})
}

func (l raftLogger) Debugf(format string, args ...any)   { l.log(format, args...) }
func (l raftLogger) Infof(format string, args ...any)    { l.log(format, args...) }
func (l raftLogger) Warningf(format string, args ...any) { l.log(format, args...) }
