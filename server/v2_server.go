package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/v2store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
)

// The v2 API's key space, as etcd 3.4 keeps it: a v2 store beside the
// backend, changed only by committed entries (an InternalRaftRequest
// whose field 2, V2, holds etcd's v2 Request: V2Request), saved whole in raft snapshots and
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
func (m *Member) DoV2(ctx context.Context, r *V2Request) (V2Response, error) {
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
		err = serverr.ErrUnknownMethod
	}
	resp.Term, resp.Index = m.Term(), m.raft.committed.Load()
	return resp, err
}

// applyV2 applies a committed v2 request to the store (etcd's v2
// applier); the store's errors are the result's.
func applyV2(s *v2store.Store, r *V2Request) *applyResult {
	var ev *v2store.Event
	var err error
	ttl := v2store.TTLOptions{Refresh: r.Refresh != nil && *r.Refresh}
	if r.Expiration != 0 {
		ttl.ExpireTime = time.Unix(0, r.Expiration)
	}
	switch r.Method {
	case "POST":
		ev, err = s.Create(r.Path, r.Dir, r.Val, true, ttl)
	case "PUT":
		switch {
		case r.PrevExist != nil && *r.PrevExist && r.PrevIndex == 0 && r.PrevValue == "":
			ev, err = s.Update(r.Path, r.Val, ttl)
		case r.PrevExist != nil && *r.PrevExist:
			ev, err = s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Val, ttl)
		case r.PrevExist != nil:
			ev, err = s.Create(r.Path, r.Dir, r.Val, false, ttl)
		case r.PrevIndex > 0 || r.PrevValue != "":
			ev, err = s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Val, ttl)
		default:
			ev, err = s.Set(r.Path, r.Dir, r.Val, ttl)
		}
	case "DELETE":
		if r.PrevIndex > 0 || r.PrevValue != "" {
			ev, err = s.CompareAndDelete(r.Path, r.PrevValue, r.PrevIndex)
		} else {
			ev, err = s.Delete(r.Path, r.Dir, r.Recursive)
		}
	case "QGET":
		ev, err = s.Get(r.Path, r.Recursive, r.Sorted)
	case "SYNC":
		s.DeleteExpiredKeys(time.Unix(0, r.Time))
	default:
		err = serverr.ErrUnknownMethod
	}
	return &applyResult{v2: ev, err: err}
}

// applyV2Entry applies an entry that carries a v2 request. The v2 store
// was recovered from the newest snapshot, so the entries the log replays
// after it are applied to it again even when the backend has them: only
// the consistent index is skipped then.
func (a *applier) applyV2Entry(e *raftpb.Entry, r *pb.InternalRaftRequest, v2 *V2Request) error {
	start := time.Now()
	res := applyV2(a.st.v2, v2)
	a.metrics.applySec.WithLabelValues("v2", v2.Method, fmt.Sprint(res.err == nil)).Observe(time.Since(start).Seconds())
	if e.Index <= a.consistIndex {
		return nil
	}
	if err := a.commitIndex(a.st.kv.Write(), e); err != nil {
		return err
	}
	if res.err != nil && errors.Is(res.err, serverr.ErrUnknownMethod) {
		a.lg.Warn("failed to apply v2 request", zap.Uint64("index", e.Index), zap.String("method", v2.Method))
	}
	id := r.ID
	if r.Header != nil {
		id = r.Header.ID
	}
	a.waiters.trigger(id, res)
	return nil
}

// carriesV2 tells, without decoding the whole entry, whether an
// InternalRaftRequest has its V2 field (number 2, a message).
func carriesV2(data []byte) bool {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return false
		}
		if num == 2 && typ == protowire.BytesType {
			return true
		}
		data = data[n:]
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return false
		}
		data = data[m:]
	}
	return false
}

// proposeV2 replicates a v2 request and waits for its result.
func (m *Member) proposeV2(ctx context.Context, r *V2Request) (*applyResult, error) {
	if err := m.checkApplyGap(nil); err != nil {
		return nil, err
	}
	ir := &pb.InternalRaftRequest{}
	ir.ProtoReflect().SetUnknown(v2Field(r))
	return m.replicate(ctx, ir)
}

// v2SyncLoop has the leader propose the expiry of the v2 store's TTLs
// every half second while it holds any (etcd's SYNC), with the leader's
// clock: every member expires the same keys at the same index.
func (m *Member) v2SyncLoop() {
	t := time.NewTicker(v2SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-m.stopping:
			return
		}
		if !m.IsLeader() || !m.st.v2.HasTTLKeys() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
		req := &V2Request{Method: "SYNC", Time: time.Now().UnixNano()}
		if _, err := m.proposeV2(ctx, req); err != nil {
			m.lg.Debug("failed to propose v2 expiry", zap.Error(err))
		}
		cancel()
	}
}
