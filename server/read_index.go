package server

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/server/serverr"
	"go.uber.org/zap"
)

// LinearizableReadNotify returns once a read of the local store would be
// linearizable: the leader confirmed its leadership after this call began
// and this member has applied up to the commit index it had then. All the
// reads waiting at one moment share one round.
func (m *Member) LinearizableReadNotify(ctx context.Context) error {
	m.readMu.RLock()
	nc := m.readNotifier
	m.readMu.RUnlock()
	select {
	case m.readwaitc <- struct{}{}:
	default:
	}
	select {
	case <-nc.c:
		return nc.err
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopping:
		return serverr.ErrStopped
	}
}

func (m *Member) linearizableReadLoop() {
	for {
		select {
		case <-m.readwaitc:
		case <-m.stopping:
			return
		}
		// Everyone waiting now joins this round; later arrivals the next.
		next := newNotifier()
		m.readMu.Lock()
		nr := m.readNotifier
		m.readNotifier = next
		m.readMu.Unlock()

		index, err := m.requestReadIndex()
		if err != nil {
			nr.notify(err)
			continue
		}
		select {
		case <-m.appliedWait.wait(index):
			nr.notify(nil)
		case <-m.stopping:
			nr.notify(serverr.ErrStopped)
			return
		}
	}
}

// requestReadIndex asks raft for a read index, retrying while the answer
// is slow (a lost message), until the request times out.
func (m *Member) requestReadIndex() (uint64, error) {
	id := m.reqIDs.next()
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], id)
	deadline := time.NewTimer(m.requestTimeout())
	defer deadline.Stop()
	leaderChanged := m.leaderChangedNotify()
	for {
		if err := m.node.ReadIndex(context.Background(), rctx[:]); err != nil {
			if errors.Is(err, raft.ErrStopped) {
				return 0, serverr.ErrStopped
			}
			if !errors.Is(err, raft.ErrNoLeader) {
				return 0, err
			}
			// No leader yet: wait for one, within the deadline.
			select {
			case <-leaderChanged:
				leaderChanged = m.leaderChangedNotify()
				continue
			case <-deadline.C:
				return 0, serverr.ErrNoLeader
			case <-m.stopping:
				return 0, serverr.ErrStopped
			}
		}
		retry := time.NewTimer(readIndexRetryTime)
		for {
			select {
			case rs := <-m.readStateC:
				if binary.BigEndian.Uint64(rs.RequestCtx) != id {
					// An answer to an earlier, abandoned round.
					continue
				}
				retry.Stop()
				return rs.Index, nil
			case <-leaderChanged:
				retry.Stop()
				return 0, serverr.ErrLeaderChanged
			case <-retry.C:
				m.lg.Debug("waiting for ReadIndex response took too long, retrying", zap.Uint64("request-id", id))
			case <-deadline.C:
				retry.Stop()
				return 0, serverr.ErrTimeout
			case <-m.stopping:
				retry.Stop()
				return 0, serverr.ErrStopped
			}
			break
		}
	}
}
