package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/v2store"
	"go.uber.org/zap"
)

// The v2 API's key space, as etcd 3.4 keeps it: a v2 store beside the
// backend, changed only by committed entries (etcd's v2 Request, bare, as
// etcd 3.4 proposes it: v2store.Request), saved whole in raft snapshots and
// recovered from the newest one at restart, after which the log's v2
// entries are applied again. Clients' keys live under /1; /0 is the
// membership's namespace in etcd's store, which basalt keeps in the
// backend and grafts into the snapshot's store for etcd to read.
const (
	v2MembershipPrefix = "/0"
	// V2KeysPrefix is where the v2 API's keys live in the store.
	V2KeysPrefix = "/1"
)

// v2SyncInterval is how often the leader proposes the expiry of TTLs
// (etcd's SYNC ticker).
const v2SyncInterval = 500 * time.Millisecond

func newV2Store() *v2store.Store { return v2store.New(v2MembershipPrefix, V2KeysPrefix) }

// recoverV2Store loads the store a raft snapshot holds. A snapshot without
// data (none of basalt's) leaves the store empty.
func recoverV2Store(s *v2store.Store, snapshot *raftpb.Snapshot) error {
	if len(snapshot.Data) == 0 {
		return nil
	}
	if err := s.Recover(snapshot.Data); err != nil {
		return fmt.Errorf("recover the v2 store from the snapshot at %d: %w", snapshot.Metadata.Index, err)
	}
	return nil
}

// V2Response is the answer to a v2 request: an event, or a watcher for a
// wait; Index and Term are the member's commit index and term when it
// answered (X-Raft-Index, X-Raft-Term).
type V2Response struct {
	Event   *v2store.Event
	Watcher v2store.Watcher
	Index   uint64
	Term    uint64
}

// V2Store is the member's v2 key space, for reads served without raft
// (stats).
func (m *Member) V2Store() *v2store.Store { return m.st.v2 }

// DoV2 serves a v2 request as etcd does: writes and quorum reads go
// through raft; plain reads, HEAD and waits are served from the local
// store (a plain GET may be stale, as etcd's).
func (m *Member) DoV2(ctx context.Context, r *v2store.Request) (V2Response, error) {
	method := r.Method
	if method == "GET" && r.Quorum {
		method = "QGET"
	}
	var resp V2Response
	var err error
	switch method {
	case "POST", "PUT", "DELETE", "QGET":
		req := *r
		req.Method = method
		var res *applyResult
		res, err = m.proposeV2(ctx, &req)
		if err == nil {
			resp.Event, err = res.v2, res.err
		}
	case "GET":
		if r.Wait {
			resp.Watcher, err = m.st.v2.Watch(r.Path, r.Recursive, r.Stream, r.Since)
		} else {
			resp.Event, err = m.st.v2.Get(r.Path, r.Recursive, r.Sorted)
		}
	case "HEAD":
		resp.Event, err = m.st.v2.Get(r.Path, r.Recursive, r.Sorted)
	default:
		err = v2store.ErrUnknownMethod
	}
	resp.Term, resp.Index = m.Term(), m.raft.committed.Load()
	return resp, err
}

// applyV2Entry applies an entry that carries a v2 request. The v2 store
// was recovered from the newest snapshot, so the entries the log replays
// after it are applied to it again even when the backend has them: only
// the consistent index is skipped then.
func (a *applier) applyV2Entry(e *raftpb.Entry, v2 *v2store.Request) error {
	start := time.Now()
	ev, applyErr := a.st.v2.Apply(v2)
	a.metrics.applySec.WithLabelValues("v2", v2.Method, fmt.Sprint(applyErr == nil)).Observe(time.Since(start).Seconds())
	if errors.Is(applyErr, v2store.ErrUnknownMethod) {
		a.lg.Warn("failed to apply v2 request", zap.Uint64("index", e.Index), zap.String("method", v2.Method))
	}
	if e.Index > a.consistIndex {
		if err := a.commitIndex(a.st.kv.Write(), e); err != nil {
			return err
		}
	}
	// Also below the consistent index: a leader's snapshot may bring a
	// backend past an entry this member proposed, which is still applied
	// here one by one.
	a.waiters.trigger(v2.ID, &applyResult{v2: ev, err: applyErr})
	return nil
}

// proposeV2 replicates a v2 request and waits for its result.
func (m *Member) proposeV2(ctx context.Context, r *v2store.Request) (*applyResult, error) {
	if err := m.checkApplyGap(nil); err != nil {
		return nil, err
	}
	r.ID = m.reqIDs.next()
	return m.replicateData(ctx, r.ID, r.Marshal())
}

// v2SyncLoop has the leader propose the expiry of the v2 store's TTLs
// every half second while it holds any (etcd's SYNC), with the leader's
// clock: every member expires the same keys at the same index.
func (m *Member) v2SyncLoop() {
	m.whileLeader(v2SyncInterval, func() {
		if !m.st.v2.HasTTLKeys() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
		defer cancel()
		req := &v2store.Request{Method: "SYNC", Time: time.Now().UnixNano()}
		if _, err := m.proposeV2(ctx, req); err != nil {
			m.lg.Debug("failed to propose v2 expiry", zap.Error(err))
		}
	})
}
