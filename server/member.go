package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/storage/mvcc"
	"go.uber.org/zap"
)

// Limits, as etcd's.
const (
	maxSizePerMsg   = 1 * 1024 * 1024
	maxInflightMsgs = 4096 / 8
	// maxGapBetweenApplyAndCommitIndex is how far apply may lag commit
	// before new proposals are refused with ErrTooManyRequests.
	maxGapBetweenApplyAndCommitIndex = 5000
	// readIndexRetryTime is how long a read waits for its ReadIndex before
	// asking again.
	readIndexRetryTime = 500 * time.Millisecond
)

// Member is one basalt member. It serves client requests (v3_server.go)
// over its parts, each on goroutines of its own, wired once by NewMember:
//
//   - st, the replicated state (backend, key-value store, lessor, alarms,
//     membership), which only the applier changes;
//   - raft, the raft loop with the WAL, snapshot files and transport;
//   - applier, which applies what raft commits to st;
//   - reads, the linearizable read rounds;
//   - leases, which forwards a follower's lease requests to the leader.
type Member struct {
	cfg Config
	lg  *zap.Logger
	id  uint64

	st      *state
	raft    *raftNode
	applier *applier
	reads   *readIndexer
	leases  *leaseForwarder

	reqIDs  *reqIDGen
	waiters *waitRegistry
	metrics *metrics
	corrupt corruptChecker

	readyc   chan struct{}
	stopping chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	// removedOnce guards stopRemoved; removed is set once this member
	// knows it was removed from the cluster.
	removedOnce sync.Once
	removed     atomic.Bool
	wg          sync.WaitGroup
	// failed is set when the member stops on an unrecoverable error.
	failed atomic.Bool
}

// ID is this member's ID.
func (m *Member) ID() uint64 { return m.id }

// ClusterID is the cluster's ID.
func (m *Member) ClusterID() uint64 { return m.st.cluster.ID() }

// Term is the current raft term.
func (m *Member) Term() uint64 { return m.raft.term.Load() }

// Leader is the current leader's ID, or 0.
func (m *Member) Leader() uint64 { return m.raft.lead.Load() }

// HasLeader reports whether a leader is known.
func (m *Member) HasLeader() bool { return m.Leader() != 0 }

// IsLeader reports whether this member leads.
func (m *Member) IsLeader() bool { return m.Leader() == m.id }

// Store is the member's multi-version store (watches read from it).
func (m *Member) Store() *mvcc.Store { return m.st.kv }

// Done is closed when the member has stopped.
func (m *Member) Done() <-chan struct{} { return m.done }

// Failed reports whether the member stopped because of an error.
func (m *Member) Failed() bool { return m.failed.Load() }

// ReadyNotify is closed once the member has published itself to the
// cluster and can serve client requests.
func (m *Member) ReadyNotify() <-chan struct{} { return m.readyc }

// requestTimeout is how long a proposal may take: as etcd's, 5 s plus
// the time an election may need.
func (m *Member) requestTimeout() time.Duration {
	return 5*time.Second + 2*m.cfg.ElectionTimeout()
}

// Start runs the member's goroutines.
func (m *Member) Start() {
	m.goFatal(func() error { return m.raft.run(m.stopping) })
	m.goFatal(func() error { return m.applier.run(m.raft.applyc, m.stopping) })
	m.goAttach(m.adjustTicks)
	m.goAttach(func() { m.reads.run(m.stopping) })
	m.goAttach(m.leaseLoop)
	for range renewForwarders {
		m.goAttach(func() { m.leases.run(m.stopping) })
	}
	m.goAttach(m.publishAttributes)
	m.goAttach(func() {
		c := &compactor{lg: m.lg, isLeader: m.IsLeader, rev: m.st.kv.Rev, compact: m.compactTo}
		c.run(m.cfg.AutoCompactionMode, m.cfg.AutoCompactionRetention, m.stopping)
	})
	m.goAttach(m.purgeLoop)
	m.goAttach(m.monitorClusterVersion)
	m.goAttach(m.v2SyncLoop)
	m.goAttach(m.monitorFileDescriptors)
	m.goAttach(func() { m.corruptCheckLoop("corruption check", m.cfg.CorruptCheckTime, m.periodicCorruptCheck) })
	if m.cfg.CompactHashCheck {
		m.goAttach(func() {
			m.corruptCheckLoop("compact hash check", m.cfg.CompactHashCheckTime, func() error { m.compactHashCheck(); return nil })
		})
	}
	m.goAttach(func() {
		// A peer answered that this member was removed: it must stop, as
		// etcd's does, rather than keep disturbing the cluster.
		select {
		case <-m.raft.transport.Removed():
			m.stopRemoved()
		case <-m.stopping:
		}
	})
}

// stopRemoved stops a member removed from the cluster, as etcd's stops:
// after a short delay, which lets the leader hear that the removal was
// applied here, and without an error (the process exits 0).
func (m *Member) stopRemoved() {
	m.removedOnce.Do(func() {
		m.removed.Store(true)
		m.lg.Warn("server error", zap.Error(errMemberRemoved))
		m.lg.Warn("data-dir used by this member must be removed")
		go func() {
			select {
			case <-time.After(10 * time.Duration(m.cfg.TickMs) * time.Millisecond):
			case <-m.stopping:
			}
			m.Stop()
		}()
	})
}

var errMemberRemoved = fmt.Errorf("the member has been permanently removed from the cluster")

func (m *Member) goAttach(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// goFatal runs f; an error it returns stops the member.
func (m *Member) goFatal(f func() error) {
	m.goAttach(func() {
		if err := f(); err != nil {
			m.fatal("stopping the member", err)
		}
	})
}

// fatal stops the member after an unrecoverable error: it must not go on
// with state it could not persist. This is the one place that decides.
func (m *Member) fatal(msg string, err error) {
	m.lg.Error(msg, zap.Error(err))
	m.failed.Store(true)
	go m.Stop()
}

// Stop stops the member: a leader first hands leadership to another
// member so that the cluster does not wait for an election timeout.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		if m.IsLeader() && len(m.st.cluster.Members()) > 1 && !m.failed.Load() {
			if err := m.transferLeadershipOnStop(); err != nil {
				m.lg.Warn("leadership transfer failed", zap.String("local-member-id", idString(m.id)), zap.Error(err))
			}
		}
		close(m.stopping)
		m.wg.Wait()
		m.raft.node.Stop()
		m.raft.transport.Stop()
		m.st.close(m.lg)
		if err := m.raft.wal.Close(); err != nil {
			m.lg.Warn("failed to close WAL", zap.Error(err))
		}
		close(m.done)
	})
}

// transferLeadershipOnStop moves leadership to the most caught-up voter.
func (m *Member) transferLeadershipOnStop() error {
	st := m.raft.node.Status()
	var transferee uint64
	var best uint64
	for id, pr := range st.Progress {
		// Only a voter this member is connected to can take over, as in
		// etcd: one that is down would keep the cluster leaderless until
		// the transfer times out.
		if id == m.id || pr.IsLearner || m.raft.transport.ActiveSince(id).IsZero() {
			continue
		}
		if pr.Match >= best {
			best, transferee = pr.Match, id
		}
	}
	if transferee == 0 {
		return fmt.Errorf("no voter to transfer leadership to")
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ElectionTimeout()*2+time.Second)
	defer cancel()
	return m.moveLeader(ctx, transferee)
}

// onRole follows the raft loop's soft state: the leader owns lease
// expiry, and the metrics say who leads.
func (m *Member) onRole(lead uint64, isLeader, changed bool) {
	if changed {
		m.metrics.leaderChanges.Inc()
	}
	m.metrics.hasLeader.Set(boolGauge(lead != 0))
	m.metrics.isLeader.Set(boolGauge(isLeader))
	if isLeader {
		// Leases are owned by the leader: give them a fresh full TTL from
		// now, extended by an election timeout for the time the old
		// leader's keepalives may have been lost.
		m.st.lessor.Promote(m.cfg.ElectionTimeout())
	} else {
		m.st.lessor.Demote()
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// adjustTicks fast-forwards the election timer at boot, as etcd does, so
// that the first election does not wait a whole election timeout: a
// single member campaigns at once; otherwise, with --initial-election-tick-advance,
// once streams to at least two peers are up (within the transport's read
// timeout), leaving two ticks for a leader's heartbeat to arrive.
func (m *Member) adjustTicks() {
	node := m.raft.node
	if len(m.st.cluster.Members()) == 1 {
		// The only voter needs no one's vote: campaign now rather than
		// wait out the rest of a randomized timeout (etcd fast-forwards
		// all but one tick, which leaves 1 to 10 ticks). The ticks are the
		// fallback should raft refuse (a configuration change to apply).
		ticks := m.cfg.ElectionTicks - 1
		m.lg.Info("started as single-node; fast-forwarding election ticks", zap.String("local-member-id", idString(m.id)), zap.Int("forward-ticks", ticks))
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ElectionTimeout())
		err := node.Campaign(ctx)
		cancel()
		if err != nil {
			advanceTicks(node, ticks)
		}
		return
	}
	if !m.cfg.InitialElectionTickAdvance {
		m.lg.Info("skipping initial election tick advance", zap.Int("election-ticks", m.cfg.ElectionTicks))
		return
	}
	m.lg.Info("starting initial election tick advance", zap.Int("election-ticks", m.cfg.ElectionTicks))
	const every, within = 50 * time.Millisecond, 5 * time.Second
	for range int(within / every) {
		select {
		case <-time.After(every):
		case <-m.stopping:
			return
		}
		if n := m.raft.transport.ActivePeers(); n > 1 {
			ticks := m.cfg.ElectionTicks - 2
			m.lg.Info("initialized peer connections; fast-forwarding election ticks", zap.String("local-member-id", idString(m.id)),
				zap.Int("forward-ticks", ticks), zap.Int("active-remote-members", n))
			advanceTicks(node, ticks)
			return
		}
	}
}

func advanceTicks(node interface{ Tick() }, n int) {
	for range n {
		node.Tick()
	}
}

// broadcast wakes every waiter each time it fires.
type broadcast struct {
	mu sync.Mutex
	c  chan struct{}
}

// wait returns a channel closed at the next fire.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		b.c = make(chan struct{})
	}
	return b.c
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		close(b.c)
		b.c = nil
	}
}
