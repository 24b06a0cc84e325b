package server

import (
	"context"
	"errors"
	"time"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/pkg/humanize"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/server/kvapply"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// maxLeaseTTL is the largest TTL a lease may ask for, as etcd's.
const maxLeaseTTL = 9000000000

// Range reads keys: locally for a serializable request, after a
// linearizable read round otherwise.
func (m *Member) Range(ctx context.Context, r *pb.RangeRequest) (resp *pb.RangeResponse, err error) {
	defer func(start time.Time) { m.metrics.observeRequest("Range", start, err) }(time.Now())
	if !r.Serializable {
		if err := m.LinearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	return readLocal(ctx, m, &pb.InternalRaftRequest{Range: r}, "read-only range ", func(txn *mvcc.ReadTxn) (*pb.RangeResponse, error) {
		start := time.Now()
		resp, err := kvapply.Range(txn, r)
		m.metrics.observeRange(start, err)
		return resp, err
	})
}

// Put writes a key through raft.
func (m *Member) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := m.checkQuota(ctx, proto.Size(r)); err != nil {
		return nil, err
	}
	res, err := m.propose(ctx, &pb.InternalRaftRequest{Put: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.PutResponse), nil
}

// DeleteRange deletes keys through raft.
func (m *Member) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	res, err := m.propose(ctx, &pb.InternalRaftRequest{DeleteRange: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.DeleteRangeResponse), nil
}

// Txn runs a mini-transaction: a read-only one like a Range, any other
// through raft.
func (m *Member) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if kvapply.IsTxnReadonly(r) {
		if !kvapply.IsTxnSerializable(r) {
			if err := m.LinearizableReadNotify(ctx); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		resp, err := readLocal(ctx, m, &pb.InternalRaftRequest{Txn: r}, "read-only txn ", func(txn *mvcc.ReadTxn) (*pb.TxnResponse, error) {
			return kvapply.Txn(txn, nil, leaseExists{m.st.lessor}, r)
		})
		m.metrics.observeRequest("ReadonlyTxn", start, err)
		return resp, err
	}
	if err := m.checkQuota(ctx, proto.Size(r)); err != nil {
		return nil, err
	}
	res, err := m.propose(ctx, &pb.InternalRaftRequest{Txn: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.TxnResponse), nil
}

// Compact compacts history through raft; a physical compaction also
// waits for the backend to be cleaned.
func (m *Member) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	res, err := m.propose(ctx, &pb.InternalRaftRequest{Compaction: r})
	if err != nil {
		return nil, err
	}
	if r.Physical && res.physc != nil {
		// Every member compacts at the same revision; waiting for our own
		// backend is what a physical compaction promises.
		select {
		case <-res.physc:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.stopping:
			return nil, serverr.ErrStopped
		}
	}
	resp := res.resp.(*pb.CompactionResponse)
	return resp, nil
}

// LeaseGrant creates a lease through raft; a zero ID asks for one.
func (m *Member) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	for r.ID == 0 {
		// Positive, and unique across members and restarts.
		r.ID = int64(m.reqIDs.next() & (1<<63 - 1))
	}
	if r.TTL > maxLeaseTTL {
		return nil, lease.ErrLeaseTTLTooLarge
	}
	if err := m.checkQuota(ctx, proto.Size(r)); err != nil {
		return nil, err
	}
	res, err := m.propose(ctx, &pb.InternalRaftRequest{LeaseGrant: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.LeaseGrantResponse), nil
}

// LeaseRevoke revokes a lease through raft.
func (m *Member) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	res, err := m.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.LeaseRevokeResponse), nil
}

// LeaseRenew renews a lease on the leader, which alone keeps expiries;
// a follower forwards the renewal.
func (m *Member) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	for {
		if m.IsLeader() {
			ttl, err := m.renewLocal(lease.ID(id))
			if !errors.Is(err, lease.ErrNotPrimary) {
				return ttl, err
			}
		} else if lead := m.Leader(); lead != 0 {
			ttl, err := m.leases.renew(ctx, id, m.stopping)
			if err == nil || !isRetryableForward(err) {
				return ttl, err
			}
		}
		// No leader, or leadership moving: wait for the next one.
		select {
		case <-m.raft.leaderChanged.wait():
		case <-time.After(m.cfg.ElectionTimeout()):
		case <-ctx.Done():
			return -1, serverr.ErrTimeout
		case <-m.stopping:
			return -1, serverr.ErrStopped
		}
	}
}

// LeaseTimeToLive answers from the leader, which knows the remaining TTL.
func (m *Member) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := m.leaseTimeToLive(ctx, r)
	if err == nil && r.Keys {
		// The keys are shown only to a user who may read them all.
		for _, k := range resp.Keys {
			if err := m.CheckRange(ctx, k, nil); err != nil {
				return nil, err
			}
		}
	}
	return resp, err
}

func (m *Member) leaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	for {
		if m.IsLeader() {
			return m.leaseTimeToLiveLocal(r)
		}
		if lead := m.Leader(); lead != 0 {
			resp, err := m.leases.timeToLive(ctx, lead, r)
			if err == nil || !isRetryableForward(err) {
				return resp, err
			}
		}
		select {
		case <-m.raft.leaderChanged.wait():
		case <-time.After(m.cfg.ElectionTimeout()):
		case <-ctx.Done():
			return nil, serverr.ErrTimeout
		case <-m.stopping:
			return nil, serverr.ErrStopped
		}
	}
}

// applyTimeout bounds the wait for the applied index to reach the commit
// index (etcd's).
const applyTimeout = time.Second

// waitAppliedCommit waits until what was committed when it was called is
// applied: the leader's lessor then reflects every write acknowledged
// before, by any member (etcd's waitAppliedIndex). A follower that
// applied a lease's grant or a key's attachment has been told of the
// commit by the leader, whose commit index was already past it.
func (m *Member) waitAppliedCommit() error {
	ci := m.raft.committed.Load()
	if m.applier.appliedIndex.Load() >= ci {
		return nil
	}
	t := time.NewTimer(applyTimeout)
	defer t.Stop()
	select {
	case <-m.applier.appliedWait.wait(ci):
		return nil
	case <-t.C:
		return serverr.ErrTimeoutWaitAppliedIndex
	case <-m.stopping:
		return serverr.ErrStopped
	}
}

// renewLocal renews a lease on the leader. A lease not found may be one
// whose grant is committed but not yet applied here: then the renewal
// waits for the applied index and tries again (etcd's FastLeaseKeepAlive,
// on by default).
func (m *Member) renewLocal(id lease.ID) (int64, error) {
	if !m.cfg.FastLeaseKeepAlive {
		// Without FastLeaseKeepAlive, etcd's leader catches up with what
		// was committed before every renewal.
		if err := m.waitAppliedCommit(); err != nil {
			return -1, err
		}
	}
	ttl, err := m.st.lessor.Renew(id)
	if !errors.Is(err, lease.ErrLeaseNotFound) {
		return ttl, err
	}
	if werr := m.waitAppliedCommit(); werr != nil {
		return -1, werr
	}
	return m.st.lessor.Renew(id)
}

func (m *Member) leaseTimeToLiveLocal(r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if err := m.waitAppliedCommit(); err != nil {
		return nil, err
	}
	l := m.st.lessor.Lookup(lease.ID(r.ID))
	if l == nil {
		return nil, lease.ErrLeaseNotFound
	}
	resp := &pb.LeaseTimeToLiveResponse{
		Header:     &pb.ResponseHeader{Revision: m.st.kv.Rev()},
		ID:         r.ID,
		TTL:        l.RemainingTTL(),
		GrantedTTL: l.TTL(),
	}
	if r.Keys {
		for _, k := range l.Keys() {
			resp.Keys = append(resp.Keys, []byte(k))
		}
	}
	return resp, nil
}

// LeaseLeases lists the leases.
func (m *Member) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	ls := m.st.lessor.Leases()
	resp := &pb.LeaseLeasesResponse{Header: &pb.ResponseHeader{Revision: m.st.kv.Rev()}, Leases: make([]*pb.LeaseStatus, len(ls))}
	for i, l := range ls {
		resp.Leases[i] = &pb.LeaseStatus{ID: int64(l.ID)}
	}
	return resp, nil
}

// MemberList lists the members.
func (m *Member) MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error) {
	if linearizable {
		if err := m.LinearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	return &pb.MemberListResponse{Header: &pb.ResponseHeader{}, Members: membersPB(m.st.cluster.Members())}, nil
}

// Status reports the member's state.
func (m *Member) Status(ctx context.Context) (*pb.StatusResponse, error) {
	be := m.st.be
	resp := &pb.StatusResponse{
		Header:           &pb.ResponseHeader{Revision: m.st.kv.Rev()},
		Version:          EtcdVersion,
		DbSize:           be.Size(),
		DbSizeInUse:      be.SizeInUse(),
		Leader:           m.Leader(),
		RaftIndex:        m.raft.committed.Load(),
		RaftTerm:         m.Term(),
		RaftAppliedIndex: m.applier.appliedIndex.Load(),
		IsLearner:        m.IsLearner(),
	}
	view := be.ReadTx()
	if v, ok := view.Get(mvcc.MetaBucket, schema.StorageVersionKey); ok {
		resp.StorageVersion = string(v)
	}
	view.End()
	// Errors (active alarms) are filled in by the API layer, as etcd's.
	return resp, nil
}

// IsLearner reports whether this member is a learner.
func (m *Member) IsLearner() bool {
	mem := m.st.cluster.Member(m.id)
	return mem != nil && mem.IsLearner
}

// Defragment rewrites the backend compactly.
func (m *Member) Defragment(ctx context.Context) error {
	return defragLogged(m.lg, m.st.be, m.cfg.Layout().BackendPath())
}

// defragLogged defragments be between etcd's two log lines: the sizes
// before, then the sizes after with the differences and the time taken.
func defragLogged(lg *zap.Logger, be *backend.Backend, path string) error {
	size1, inUse1 := be.Size(), be.SizeInUse()
	lg.Info("defragmenting", zap.String("path", path),
		zap.Int64("current-db-size-bytes", size1), zap.String("current-db-size", humanize.Bytes(uint64(size1))),
		zap.Int64("current-db-size-in-use-bytes", inUse1), zap.String("current-db-size-in-use", humanize.Bytes(uint64(inUse1))))
	start := time.Now()
	if _, err := be.Defrag(); err != nil {
		return err
	}
	size2, inUse2 := be.Size(), be.SizeInUse()
	lg.Info("finished defragmenting directory", zap.String("path", path),
		zap.Int64("current-db-size-bytes-diff", size2-size1),
		zap.Int64("current-db-size-bytes", size2), zap.String("current-db-size", humanize.Bytes(uint64(size2))),
		zap.Int64("current-db-size-in-use-bytes-diff", inUse2-inUse1),
		zap.Int64("current-db-size-in-use-bytes", inUse2), zap.String("current-db-size-in-use", humanize.Bytes(uint64(inUse2))),
		zap.Duration("took", time.Since(start)))
	return nil
}

// Hash hashes the whole backend.
func (m *Member) Hash(ctx context.Context) (*pb.HashResponse, error) {
	h, rev, err := m.st.kv.Hash()
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: &pb.ResponseHeader{Revision: rev}, Hash: h}, nil
}

// HashKV hashes the key-value history up to rev.
func (m *Member) HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	h, err := m.st.kv.HashKV(rev)
	if err != nil {
		return nil, err
	}
	return &pb.HashKVResponse{
		Header:          &pb.ResponseHeader{Revision: h.CurrentRevision},
		Hash:            h.Hash,
		CompactRevision: h.CompactRevision,
		HashRevision:    h.Revision,
	}, nil
}

// Snapshot returns a consistent copy of the backend.
func (m *Member) Snapshot(ctx context.Context) (*backend.Snapshot, error) {
	return m.st.be.Snapshot()
}

// MoveLeader hands leadership to transferee; only the leader may.
func (m *Member) MoveLeader(ctx context.Context, transferee uint64) error {
	if !m.IsLeader() {
		return serverr.ErrNotLeader
	}
	mem := m.st.cluster.Member(transferee)
	if mem == nil || mem.IsLearner {
		return serverr.ErrBadLeaderTransferee
	}
	return m.moveLeader(ctx, transferee)
}

func (m *Member) moveLeader(ctx context.Context, transferee uint64) error {
	start := time.Now()
	m.lg.Info("leadership transfer starting", zap.String("local-member-id", idString(m.id)),
		zap.String("current-leader-member-id", idString(m.Leader())), zap.String("transferee-member-id", idString(transferee)))
	m.raft.node.TransferLeadership(ctx, m.id, transferee)
	for m.Leader() != transferee {
		select {
		case <-m.raft.leaderChanged.wait():
		case <-time.After(time.Duration(m.cfg.TickMs) * time.Millisecond):
		case <-ctx.Done():
			return serverr.ErrTimeoutLeaderTransfer
		case <-m.stopping:
			return serverr.ErrStopped
		}
	}
	m.lg.Info("leadership transfer finished", zap.String("local-member-id", idString(m.id)),
		zap.String("new-leader-member-id", idString(transferee)), zap.Duration("took", time.Since(start)))
	return nil
}

// propose replicates a request through raft and waits until it is
// applied.
func (m *Member) propose(ctx context.Context, r *pb.InternalRaftRequest) (*applyResult, error) {
	if err := m.checkApplyGap(r); err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := m.replicate(ctx, r)
	m.metrics.observeRequest(requestType(r), start, err)
	return res, err
}

// checkApplyGap refuses a new proposal while the applier is too far
// behind the commit index. With PriorityRequest, lease revocations, which
// relieve the pressure, are accepted twice as far behind (etcd's).
func (m *Member) checkApplyGap(r *pb.InternalRaftRequest) error {
	ci, ai := m.raft.committed.Load(), m.applier.appliedIndex.Load()
	if ci <= ai+maxGapBetweenApplyAndCommitIndex {
		return nil
	}
	if m.cfg.PriorityRequest && r != nil && r.LeaseRevoke != nil && ci <= ai+2*maxGapBetweenApplyAndCommitIndex {
		return nil
	}
	return serverr.ErrTooManyRequests
}

// replicate is propose's work: a request ID and a waiter, the proposal,
// and the wait for the applier's result.
func (m *Member) replicate(ctx context.Context, r *pb.InternalRaftRequest) (*applyResult, error) {
	id := m.reqIDs.next()
	r.Header = &pb.RequestHeader{ID: id}
	if info := auth.InfoFromContext(ctx); info != nil && r.Authenticate == nil {
		r.Header.Username, r.Header.AuthRevision = info.Username, info.Revision
	}
	data, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	return m.replicateData(ctx, id, data)
}

// replicateData proposes an entry's data and waits until the applier
// answers the waiter id.
func (m *Member) replicateData(ctx context.Context, id uint64, data []byte) (*applyResult, error) {
	if len(data) > int(m.cfg.MaxRequestBytes) {
		return nil, serverr.ErrRequestTooLarge
	}
	ch := m.waiters.register(id)
	cctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	start := time.Now()
	leaderChanged := m.raft.leaderChanged.wait()
	m.metrics.proposalsPending.Inc()
	defer m.metrics.proposalsPending.Dec()
	for {
		// Raft's verdict is awaited together with the entry: an accepted
		// proposal wakes this goroutine once, when it is applied.
		refused, err := m.raft.node.ProposeAsync(cctx, data)
		if err == nil {
			select {
			case x := <-ch:
				res, _ := x.(*applyResult)
				if res == nil {
					return nil, serverr.ErrStopped
				}
				if res.err != nil {
					return nil, res.err
				}
				return res, nil
			case err = <-refused:
			case <-cctx.Done():
				m.waiters.trigger(id, nil)
				m.metrics.proposalsFailed.Inc()
				return nil, m.proposeError(cctx, cctx.Err(), start)
			case <-m.stopping:
				m.waiters.trigger(id, nil)
				return nil, serverr.ErrStopped
			}
		}
		if !errors.Is(err, raft.ErrNoLeader) && !errors.Is(err, raft.ErrLeaderTransferInProgress) {
			m.waiters.trigger(id, nil)
			m.metrics.proposalsFailed.Inc()
			return nil, m.proposeError(cctx, err, start)
		}
		// An election or a transfer: wait for the next leader.
		select {
		case <-leaderChanged:
			leaderChanged = m.raft.leaderChanged.wait()
		case <-time.After(time.Duration(m.cfg.TickMs) * time.Millisecond):
		case <-cctx.Done():
			m.waiters.trigger(id, nil)
			m.metrics.proposalsFailed.Inc()
			return nil, m.proposeError(cctx, cctx.Err(), start)
		case <-m.stopping:
			m.waiters.trigger(id, nil)
			return nil, serverr.ErrStopped
		}
	}
}

// proposeError maps a proposal's failure to etcd's error.
func (m *Member) proposeError(ctx context.Context, err error, start time.Time) error {
	switch {
	case errors.Is(err, context.Canceled):
		return serverr.ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil && m.Leader() == 0 {
			return serverr.ErrTimeoutDueToLeaderFail
		}
		if time.Since(start) < m.requestTimeout() && ctx.Err() != nil {
			// The client's own deadline ran out first.
			return err
		}
		return serverr.ErrTimeout
	case errors.Is(err, raft.ErrNoLeader):
		return serverr.ErrNoLeader
	case errors.Is(err, raft.ErrStopped):
		return serverr.ErrStopped
	case errors.Is(err, raft.ErrProposalDropped):
		return serverr.ErrTimeout
	}
	return err
}
