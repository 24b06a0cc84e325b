package server

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/server/serverr"
	"go.uber.org/zap"
)

// readIndexer runs linearizable read rounds: every read waiting when a
// round starts shares its one raft ReadIndex, and is released once the
// applier has applied up to the index the leader confirmed.
type readIndexer struct {
	lg      *zap.Logger
	raft    *raftNode
	applied *appliedWait
	reqIDs  *reqIDGen
	timeout time.Duration
	// mt counts the rounds that failed (the leader changed, raft refused)
	// and those that were slow (timed out, or answered late).
	mt *metrics

	// mu guards next, the round the readers arriving now will share.
	mu   sync.RWMutex
	next *notifier
	// waiting wakes the loop when a reader arrives.
	waiting chan struct{}
}

// notifier wakes everyone waiting on one round.
type notifier struct {
	c   chan struct{}
	err error
}

func newNotifier() *notifier { return &notifier{c: make(chan struct{})} }

func (n *notifier) notify(err error) {
	n.err = err
	close(n.c)
}

func newReadIndexer(lg *zap.Logger, r *raftNode, applied *appliedWait, reqIDs *reqIDGen, timeout time.Duration, mt *metrics) *readIndexer {
	return &readIndexer{lg: lg, raft: r, applied: applied, reqIDs: reqIDs, timeout: timeout, mt: mt,
		next: newNotifier(), waiting: make(chan struct{}, 1)}
}

// LinearizableReadNotify returns once a read of the local store would be
// linearizable: the leader confirmed its leadership after this call began
// and this member has applied up to the commit index it had then. All the
// reads waiting at one moment share one round.
func (m *Member) LinearizableReadNotify(ctx context.Context) error {
	return m.reads.wait(ctx, m.stopping)
}

func (ri *readIndexer) wait(ctx context.Context, stopping <-chan struct{}) error {
	ri.mu.RLock()
	nc := ri.next
	ri.mu.RUnlock()
	select {
	case ri.waiting <- struct{}{}:
	default:
	}
	select {
	case <-nc.c:
		return nc.err
	case <-ctx.Done():
		return ctx.Err()
	case <-stopping:
		return serverr.ErrStopped
	}
}

func (ri *readIndexer) run(stopping <-chan struct{}) {
	for {
		select {
		case <-ri.waiting:
		case <-stopping:
			return
		}
		// Everyone waiting now joins this round; later arrivals the next.
		ri.mu.Lock()
		nr := ri.next
		ri.next = newNotifier()
		ri.mu.Unlock()

		index, err := ri.requestReadIndex(stopping)
		if err != nil {
			nr.notify(err)
			continue
		}
		select {
		case <-ri.applied.wait(index):
			nr.notify(nil)
		case <-stopping:
			nr.notify(serverr.ErrStopped)
			return
		}
	}
}

// requestReadIndex asks raft for a read index, retrying while the answer
// is slow (a lost message), until the request times out.
func (ri *readIndexer) requestReadIndex(stopping <-chan struct{}) (uint64, error) {
	id := ri.reqIDs.next()
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], id)
	deadline := time.NewTimer(ri.timeout)
	defer deadline.Stop()
	leaderChanged := ri.raft.leaderChanged.wait()
	for {
		if err := ri.raft.node.ReadIndex(context.Background(), rctx[:]); err != nil {
			if errors.Is(err, raft.ErrStopped) {
				return 0, serverr.ErrStopped
			}
			if !errors.Is(err, raft.ErrNoLeader) {
				ri.lg.Warn("failed to get read index from Raft", zap.Error(err))
				ri.mt.readIndexesFailed.Inc()
				return 0, err
			}
			// No leader yet: wait for one, within the deadline.
			select {
			case <-leaderChanged:
				leaderChanged = ri.raft.leaderChanged.wait()
				continue
			case <-deadline.C:
				// Timed out, as etcd's round does while no leader answers.
				ri.mt.slowReadIndexes.Inc()
				return 0, serverr.ErrNoLeader
			case <-stopping:
				return 0, serverr.ErrStopped
			}
		}
		retry := time.NewTimer(readIndexRetryTime)
		for {
			select {
			case rs := <-ri.raft.readStates:
				if binary.BigEndian.Uint64(rs.RequestCtx) != id {
					// An answer to an earlier, abandoned round.
					ri.mt.slowReadIndexes.Inc()
					continue
				}
				retry.Stop()
				return rs.Index, nil
			case <-leaderChanged:
				retry.Stop()
				ri.mt.readIndexesFailed.Inc()
				return 0, serverr.ErrLeaderChanged
			case <-retry.C:
				ri.lg.Debug("waiting for ReadIndex response took too long, retrying", zap.Uint64("request-id", id))
			case <-deadline.C:
				retry.Stop()
				ri.lg.Warn("timed out waiting for read index response (local node might have slow network)", zap.Duration("timeout", ri.timeout))
				ri.mt.slowReadIndexes.Inc()
				return 0, serverr.ErrTimeout
			case <-stopping:
				retry.Stop()
				return 0, serverr.ErrStopped
			}
			break
		}
	}
}
