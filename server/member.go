// Package server is the basalt member: the raft loop over Ready, the
// applier, request waiters, linearizable reads, membership, leases,
// quota and alarms, snapshots and compaction schedules. It speaks to
// clients only through the methods the API layer calls.
package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/rafthttp"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// Limits, as etcd's.
const (
	// maxInFlightMsgSnap bounds concurrent snapshot sends.
	maxSizePerMsg   = 1 * 1024 * 1024
	maxInflightMsgs = 4096 / 8
	// maxGapBetweenApplyAndCommitIndex is how far apply may lag commit
	// before new proposals are refused with ErrTooManyRequests.
	maxGapBetweenApplyAndCommitIndex = 5000
	// readIndexRetryTime is how long a read waits for its ReadIndex before
	// asking again.
	readIndexRetryTime = 500 * time.Millisecond
)

// Member is one basalt member.
type Member struct {
	cfg Config
	lg  *zap.Logger
	id  uint64

	cluster *cluster

	node        raft.Node
	raftStorage *raft.MemoryStorage
	wal         *wal.WAL
	snapshotter *snap.Snapshotter
	transport   *rafthttp.Transport

	// mu guards be, which a snapshot from the leader replaces.
	mu     sync.RWMutex
	be     *backend.Backend
	store  *mvcc.Store
	lessor *lease.Lessor
	alarms *alarmStore

	reqIDs      *reqIDGen
	w           *waitRegistry
	appliedWait *appliedWait

	appliedIndex   atomic.Uint64
	appliedTerm    atomic.Uint64
	committedIndex atomic.Uint64
	term           atomic.Uint64
	lead           atomic.Uint64
	// consistIndex is the last entry whose effects are in the backend, as
	// read on start or restore: entries at or below it are skipped.
	consistIndex uint64

	// leaderChangedMu guards leaderChanged, closed and replaced each time
	// the leader changes.
	leaderChangedMu sync.RWMutex
	leaderChanged   chan struct{}

	// Linearizable reads: requests share the notifier of the next round.
	readMu       sync.RWMutex
	readNotifier *notifier
	// fs holds the WAL and snapshot files.
	fs vfs.FS
	// snapshotApplied fires each time a snapshot from the leader is
	// applied.
	snapshotApplied broadcast
	readwaitc       chan struct{}
	readStateC      chan raft.ReadState

	// Apply-goroutine state.
	confState     raftpb.ConfState
	snapshotIndex uint64

	// failed is set when the member stops on an unrecoverable error.
	failed atomic.Bool

	applyc   chan toApply
	readyc   chan struct{}
	stopping chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	metrics *metrics
	// peerHTTP carries requests forwarded to the leader's peer URLs.
	peerHTTP *http.Client
	// renewCalls queues keep-alives a follower forwards (lease_batch.go).
	renewCalls chan *renewCall
}

// toApply is one Ready's work for the applier.
type toApply struct {
	entries  []raftpb.Entry
	snapshot raftpb.Snapshot
	// persisted is closed once the Ready's entries, hard state and
	// snapshot are on disk.
	persisted chan struct{}
	// early: every entry is already durable in the local log (written by
	// an earlier Ready), so the applier need not wait for persisted to
	// apply them; see applyEarly.
	early bool
	// applied is closed when the applier is done with this batch.
	applied chan struct{}
}

// notifier wakes everyone waiting on one round.
type notifier struct {
	c   chan struct{}
	err error
}

func newNotifier() *notifier { return &notifier{c: make(chan struct{})} }

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

func (n *notifier) notify(err error) {
	n.err = err
	close(n.c)
}

// ID is this member's ID.
func (m *Member) ID() uint64 { return m.id }

// ClusterID is the cluster's ID.
func (m *Member) ClusterID() uint64 { return m.cluster.id }

// Term is the current raft term.
func (m *Member) Term() uint64 { return m.term.Load() }

// Leader is the current leader's ID, or 0.
func (m *Member) Leader() uint64 { return m.lead.Load() }

// HasLeader reports whether a leader is known.
func (m *Member) HasLeader() bool { return m.Leader() != 0 }

// IsLeader reports whether this member leads.
func (m *Member) IsLeader() bool { return m.Leader() == m.id }

// Store is the member's multi-version store.
func (m *Member) Store() *mvcc.Store {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.store
}

func (m *Member) backend() *backend.Backend {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.be
}

// Done is closed when the member has stopped.
func (m *Member) Done() <-chan struct{} { return m.done }

// Failed reports whether the member stopped because of an error.
func (m *Member) Failed() bool { return m.failed.Load() }

// leaderChangedNotify returns a channel closed at the next leader change.
func (m *Member) leaderChangedNotify() <-chan struct{} {
	m.leaderChangedMu.RLock()
	defer m.leaderChangedMu.RUnlock()
	return m.leaderChanged
}

func (m *Member) notifyLeaderChanged() {
	m.leaderChangedMu.Lock()
	defer m.leaderChangedMu.Unlock()
	close(m.leaderChanged)
	m.leaderChanged = make(chan struct{})
}

var errMemberRemoved = fmt.Errorf("member removed")

// requestTimeout is how long a proposal may take: as etcd's, 5 s plus
// the time an election may need.
func (m *Member) requestTimeout() time.Duration {
	return 5*time.Second + 2*m.cfg.ElectionTimeout()
}

// Start runs the member's goroutines.
func (m *Member) Start() {
	m.goAttach(m.raftLoop)
	m.goAttach(m.adjustTicks)
	m.goAttach(m.applyLoop)
	m.goAttach(m.linearizableReadLoop)
	m.goAttach(m.leaseLoop)
	for range renewForwarders {
		m.goAttach(m.renewForwarder)
	}
	m.goAttach(m.publishAttributes)
	m.goAttach(m.autoCompactLoop)
	m.goAttach(m.purgeLoop)
	m.goAttach(func() {
		// A peer answered that this member was removed: it must stop, as
		// etcd's does, rather than keep disturbing the cluster.
		select {
		case <-m.transport.Removed():
			m.fatal("the member has been permanently removed from the cluster", errMemberRemoved)
		case <-m.stopping:
		}
	})
}

func (m *Member) goAttach(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// Stop stops the member: a leader first hands leadership to another
// member so that the cluster does not wait for an election timeout.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		if m.IsLeader() && len(m.cluster.list()) > 1 && !m.failed.Load() {
			if err := m.transferLeadershipOnStop(); err != nil {
				m.lg.Warn("leadership transfer failed", zap.String("local-member-id", idString(m.id)), zap.Error(err))
			}
		}
		close(m.stopping)
		m.wg.Wait()
		m.node.Stop()
		m.transport.Stop()
		m.lessor.Stop()
		m.store.Close()
		if err := m.wal.Close(); err != nil {
			m.lg.Warn("failed to close WAL", zap.Error(err))
		}
		if err := m.be.Close(); err != nil {
			m.lg.Warn("failed to close backend", zap.Error(err))
		}
		close(m.done)
	})
}

// transferLeadershipOnStop moves leadership to the most caught-up voter.
func (m *Member) transferLeadershipOnStop() error {
	st := m.node.Status()
	var transferee uint64
	var best uint64
	for id, pr := range st.Progress {
		// Only a voter this member is connected to can take over, as in
		// etcd: one that is down would keep the cluster leaderless until
		// the transfer times out.
		if id == m.id || pr.IsLearner || m.transport.ActiveSince(id).IsZero() {
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

// peerURLStrings renders URLs.
func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	slices.Sort(out)
	return out
}

// adjustTicks fast-forwards the election timer at boot, as etcd does, so
// that the first election does not wait a whole election timeout: a
// single member campaigns at once; otherwise, with --initial-election-tick-advance,
// once streams to at least two peers are up (within the transport's read
// timeout), leaving two ticks for a leader's heartbeat to arrive.
func (m *Member) adjustTicks() {
	if len(m.cluster.list()) == 1 {
		// The only voter needs no one's vote: campaign now rather than
		// wait out the rest of a randomized timeout (etcd fast-forwards
		// all but one tick, which leaves 1 to 10 ticks). The ticks are the
		// fallback should raft refuse (a configuration change to apply).
		ticks := m.cfg.ElectionTicks - 1
		m.lg.Info("started as single-node; fast-forwarding election ticks", zap.String("local-member-id", idString(m.id)), zap.Int("forward-ticks", ticks))
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ElectionTimeout())
		err := m.node.Campaign(ctx)
		cancel()
		if err != nil {
			m.advanceTicks(ticks)
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
		if n := m.transport.ActivePeers(); n > 1 {
			ticks := m.cfg.ElectionTicks - 2
			m.lg.Info("initialized peer connections; fast-forwarding election ticks", zap.String("local-member-id", idString(m.id)),
				zap.Int("forward-ticks", ticks), zap.Int("active-remote-members", n))
			m.advanceTicks(ticks)
			return
		}
	}
}

func (m *Member) advanceTicks(n int) {
	for range n {
		m.node.Tick()
	}
}
