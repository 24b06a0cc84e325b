package rafttest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"

	"github.com/basaltkv/basalt/raft"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// Violation is a broken invariant (or a panic inside raft), found at a
// step of a seeded run.
type Violation struct {
	Seed      uint64
	Step      int
	Invariant string
	Detail    string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("seed %d, step %d: %s: %s", v.Seed, v.Step, v.Invariant, v.Detail)
}

// Sim is a simulated raft cluster driven by one seeded random source. It
// is not safe for concurrent use; separate Sims are independent.
type Sim struct {
	opts Options
	rng  *rand.Rand

	step  int
	ticks int
	// healing: faults are over; only the work of recovery goes on.
	healing bool

	members []*member // ordered by ID
	byID    map[uint64]*member
	nextID  uint64
	net     network
	trace   tracer

	proposals, readCount, markers int

	// What the invariants remember across the whole run.
	// leaders: the leader seen in each term.
	leaders map[uint64]uint64
	// logTerms: the prefix hash of every (index, term) entry persisted
	// anywhere.
	logTerms map[[2]uint64]uint64
	// hist[i] is the entry applied at index i, by whoever applied it
	// first; hist[1] is the bootstrap snapshot. Every member's applied
	// sequence must be a prefix of it.
	hist []histEntry
	// confAt: the membership every member must reach by applying the conf
	// change at an index.
	confAt map[uint64]string
	// removed: members whose removal some member applied, with where.
	removed map[uint64]removal
	// readIssued: for each ReadIndex request, the highest index applied
	// anywhere when it was issued.
	readIssued map[string]uint64
	// markerIndex: where the first liveness proposal was applied.
	markerIndex uint64

	stats   Stats
	failure *Violation
}

// removal is where a member was removed and the membership it left.
type removal struct {
	index uint64
	after pb.ConfState
}

// histEntry is one entry of the global applied history.
type histEntry struct {
	term  uint64
	typ   pb.EntryType
	data  string
	chain uint64
	// normals counts the normal entries with data up to here: the length
	// of a state machine's list at this index.
	normals int
	by      uint64
	step    int
}

// New builds a cluster of opts.Voters founding members, all up.
func New(opts Options) (*Sim, error) {
	if opts.Voters < 1 {
		return nil, errors.New("rafttest: need at least one voter")
	}
	if opts.Raft.ElectionTick <= opts.Raft.HeartbeatTick || opts.Raft.HeartbeatTick < 1 {
		return nil, fmt.Errorf("rafttest: bad ticks: election %d, heartbeat %d", opts.Raft.ElectionTick, opts.Raft.HeartbeatTick)
	}
	if opts.Raft.MaxInflightMsgs < 1 {
		opts.Raft.MaxInflightMsgs = 256
	}
	if opts.Faults.MaxMembers < opts.Voters {
		opts.Faults.MaxMembers = opts.Voters
	}
	s := &Sim{
		opts:       opts,
		rng:        rand.New(rand.NewPCG(opts.Seed, 0x73696d)),
		byID:       map[uint64]*member{},
		nextID:     uint64(opts.Voters) + 1,
		trace:      newTracer(opts.TraceSize, opts.Logf),
		leaders:    map[uint64]uint64{},
		logTerms:   map[[2]uint64]uint64{},
		hist:       []histEntry{{}, {term: 1, chain: bootstrapHash}},
		confAt:     map[uint64]string{},
		removed:    map[uint64]removal{},
		readIssued: map[string]uint64{},
	}
	s.logTerms[[2]uint64{1, 1}] = bootstrapHash
	cs := pb.ConfState{}
	for id := uint64(1); id <= uint64(opts.Voters); id++ {
		cs.Voters = append(cs.Voters, id)
	}
	err := s.do(func() {
		for id := uint64(1); id <= uint64(opts.Voters); id++ {
			d, err := newBootstrapDisk(cs)
			if err != nil {
				s.fail("setup", "bootstrap disk: %v", err)
			}
			m := &member{id: id, disk: d, sm: bootstrapStateMachine(), confState: cs, nextApply: 2}
			s.members = append(s.members, m)
			s.byID[id] = m
			s.startMember(m, 0)
		}
	})
	if err != nil {
		return nil, err
	}
	s.note(0, "cluster: "+opts.String())
	return s, nil
}

// fail reports a violation: it unwinds to the public method that was
// running, which returns it.
func (s *Sim) fail(invariant, format string, args ...any) {
	panic(&Violation{Seed: s.opts.Seed, Step: s.step, Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
}

// do runs f, turning a violation or a panic inside raft into the run's
// failure. Once failed, a Sim does nothing more.
func (s *Sim) do(f func()) (err error) {
	if s.failure != nil {
		return s.failure
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		v, ok := r.(*Violation)
		if !ok {
			v = &Violation{Seed: s.opts.Seed, Step: s.step, Invariant: "no panic",
				Detail: fmt.Sprintf("panic: %v\n%s", r, debug.Stack())}
		}
		s.failure = v
		s.note(0, "FAILED: "+v.Error())
		err = v
	}()
	f()
	return nil
}

// Step takes one random step: a fault, an operation, a tick, a message
// delivery or a member handling its Ready. Invariants are checked as the
// step happens; the first violation is returned, now and ever after.
func (s *Sim) Step() error {
	return s.do(func() {
		s.step++
		if s.healing {
			s.healStep()
		} else {
			s.chaosStep()
		}
	})
}

// Run takes opts.Steps chaos steps, then heals every fault and waits for
// the cluster to recover (AwaitLiveness).
func (s *Sim) Run() error {
	for s.step < s.opts.Steps {
		if err := s.Step(); err != nil {
			return err
		}
	}
	return s.AwaitLiveness()
}

func (s *Sim) chaosStep() {
	f := &s.opts.Faults
	x := s.rng.Float64()
	take := func(p float64) bool {
		x -= p
		return x < 0
	}
	switch {
	case take(f.Propose):
		s.randomPropose()
	case take(f.ReadIndex):
		s.randomRead()
	case take(f.TransferLeader):
		s.randomTransfer()
	case take(f.ConfChange):
		s.randomConfChange()
	case take(f.Snapshot):
		if live := s.liveMembers(); len(live) > 0 {
			s.snapshotMember(live[s.rng.IntN(len(live))])
		}
	case take(f.Partition):
		s.randomPartition()
	case len(s.net.cut) > 0 && take(f.HealPartition):
		s.healPartitions()
	case take(f.Crash):
		if live := s.liveMembers(); len(live) > 0 {
			s.crash(live[s.rng.IntN(len(live))], "random crash")
		}
	case take(f.Restart):
		if down := s.downMembers(); len(down) > 0 {
			s.restart(down[s.rng.IntN(len(down))])
		}
	case take(0.01):
		s.destroyRemoved(false)
	default:
		s.workStep()
	}
}

// healStep is a step after the faults: work, plus snapshots (mostly by
// the leader) so that a member that joined can still be sent one that
// includes it.
func (s *Sim) healStep() {
	if len(s.removed) > 0 {
		s.destroyRemoved(true)
	}
	if s.rng.Float64() < 0.02 {
		m := s.leader()
		if m == nil || s.rng.IntN(2) == 0 {
			if live := s.liveMembers(); len(live) > 0 {
				m = live[s.rng.IntN(len(live))]
			}
		}
		if m != nil && s.snapshotMember(m) {
			return
		}
	}
	s.workStep()
}

// workStep moves the cluster along: a message is delivered or a member
// handles its Ready, and now and then time passes. When nothing can
// happen but delayed messages are in flight, the earliest one arrives:
// a delay orders messages, it does not stop the clocks.
func (s *Sim) workStep() {
	var busy []*member
	for _, m := range s.members {
		if m.rn != nil && (m.phase != phaseIdle || m.rn.HasReady()) {
			busy = append(busy, m)
		}
	}
	canDeliver := s.net.hasDeliverable(s.step)
	if len(busy) == 0 && len(s.net.queue) == 0 {
		s.tick()
		return
	}
	// A network is faster than a heartbeat interval: the more work is
	// waiting, the less likely time passes, so that a backlog drains.
	// After healing the network is fast, as deployments assume, and time
	// passes mostly when the cluster is idle.
	tickChance := 1 / float64(6*len(s.members)+len(s.net.queue)+len(busy))
	if s.healing {
		tickChance = 1 / float64(100*len(s.members))
	}
	if s.rng.Float64() < tickChance {
		s.tick()
		return
	}
	if len(busy) == 0 || (canDeliver && s.rng.IntN(2) == 0) {
		s.deliver(!canDeliver)
		return
	}
	s.handleReady(busy[s.rng.IntN(len(busy))])
}

// tick advances every live member's clock, or now and then one member's
// alone, so that clocks drift.
func (s *Sim) tick() {
	live := s.liveMembers()
	if len(live) > 1 && s.rng.IntN(10) == 0 {
		m := live[s.rng.IntN(len(live))]
		s.trace.add(event{step: s.step, kind: evTickOne, id: m.id})
		m.rn.Tick()
		s.observe(m)
		return
	}
	s.ticks++
	s.trace.add(event{step: s.step, kind: evTick, a: uint64(s.ticks)})
	for _, m := range live {
		m.rn.Tick()
		s.observe(m)
	}
}

func (s *Sim) liveMembers() []*member {
	var out []*member
	for _, m := range s.members {
		if m.rn != nil {
			out = append(out, m)
		}
	}
	return out
}

func (s *Sim) downMembers() []*member {
	var out []*member
	for _, m := range s.members {
		if m.rn == nil && !m.destroyed {
			out = append(out, m)
		}
	}
	return out
}

// leader is the live member that believes it leads the highest term.
func (s *Sim) leader() *member {
	var lead *member
	for _, m := range s.members {
		if m.rn != nil && m.role == raft.StateLeader && (lead == nil || m.term > lead.term) {
			lead = m
		}
	}
	return lead
}

// observe records a member's role after anything that may have changed
// it, and checks election safety: one leader per term, over the whole run.
func (s *Sim) observe(m *member) {
	if m.rn == nil {
		return
	}
	st := m.rn.Status()
	m.role, m.term = st.RaftState, st.Term
	if st.RaftState != raft.StateLeader {
		return
	}
	prev, seen := s.leaders[st.Term]
	switch {
	case !seen:
		s.leaders[st.Term] = m.id
		m.leaderCheck = leaderCheck{term: st.Term, upto: uint64(len(s.hist) - 1), active: true}
		s.trace.add(event{step: s.step, kind: evLeader, id: m.id, a: st.Term})
	case prev != m.id:
		s.fail("election safety", "members %d and %d are both leaders of term %d", prev, m.id, st.Term)
	}
}

func (s *Sim) note(id uint64, text string) {
	s.trace.add(event{step: s.step, kind: evNote, id: id, text: text})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (refused: " + err.Error() + ")"
}
