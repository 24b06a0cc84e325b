package server

import (
	"encoding/json"
	"errors"
	"github.com/basaltkv/basalt/server/kvapply"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// applyResult is what a proposer receives when its entry is applied.
type applyResult struct {
	resp proto.Message
	err  error
	// physc, for a compaction, closes when the backend is cleaned.
	physc <-chan struct{}
}

// applyLoop applies each Ready's committed entries, in order: once the
// Ready is durable, or at once when they were all durable before it
// (applyEarly).
func (m *Member) applyLoop() {
	for {
		select {
		case ap := <-m.applyc:
			if !ap.early {
				select {
				case <-ap.persisted:
				case <-m.stopping:
					return
				}
			}
			if !raft.IsEmptySnap(ap.snapshot) {
				m.applySnapshot(ap.snapshot)
			}
			m.applyEntries(ap.entries)
			close(ap.applied)
			// A snapshot names the applied index, which the WAL's commit
			// index must cover on disk: wait for the Ready's hard state.
			select {
			case <-ap.persisted:
			case <-m.stopping:
				return
			}
			m.maybeTriggerSnapshot()
		case <-m.stopping:
			return
		}
	}
}

func (m *Member) applyEntries(ents []raftpb.Entry) {
	for i := range ents {
		e := &ents[i]
		if e.Index <= m.appliedIndex.Load() {
			continue // in the snapshot applied just before
		}
		switch e.Type {
		case raftpb.EntryNormal:
			m.applyEntryNormal(e)
		case raftpb.EntryConfChange:
			m.applyConfChange(e)
		}
		m.appliedIndex.Store(e.Index)
		m.appliedTerm.Store(e.Term)
		m.appliedWait.trigger(e.Index)
		m.metrics.applied.Set(float64(e.Index))
	}
}

// applyEntryNormal applies one client request. Its effects and the
// consistent index go into the backend in one batch, so a crash either
// keeps both or loses both, and a replayed entry is skipped exactly when
// its effects are already there.
func (m *Member) applyEntryNormal(e *raftpb.Entry) {
	if len(e.Data) == 0 {
		// A new leader's empty entry.
		if e.Index > m.consistIndex {
			tw := m.Store().Write()
			tw.SetConsistentIndex(e.Index, e.Term)
			m.endTxn(tw)
		}
		return
	}
	if e.Index <= m.consistIndex {
		// Already in the backend: replayed after a restart, so nobody
		// waits for it (this life's proposals come after the log's end).
		return
	}
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(e.Data, &r); err != nil {
		m.lg.Error("cannot decode entry; skipping it", zap.Uint64("index", e.Index), zap.Error(err))
		return
	}
	id := r.ID
	if r.Header != nil {
		id = r.Header.ID
	}
	var res *applyResult
	if r.Compaction != nil {
		// Compaction takes the backend batch itself.
		res = m.applyCompaction(r.Compaction)
		tw := m.Store().Write()
		tw.SetConsistentIndex(e.Index, e.Term)
		m.endTxn(tw)
	} else {
		tw := m.Store().Write()
		res = m.applyRequest(tw, &r)
		tw.SetConsistentIndex(e.Index, e.Term)
		m.endTxn(tw)
	}
	if res.err != nil && !isExpectedApplyError(res.err) {
		m.lg.Warn("failed to apply request", zap.Uint64("index", e.Index), zap.Error(res.err))
	}
	if res.err != nil {
		m.metrics.proposalsFailed.Inc()
	}
	m.w.trigger(id, res)
}

func isExpectedApplyError(err error) bool {
	for _, e := range []error{serverr.ErrNoSpace, serverr.ErrKeyNotFound, lease.ErrLeaseNotFound, lease.ErrLeaseExists,
		mvcc.ErrCompacted, mvcc.ErrFutureRev} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (m *Member) endTxn(tw *mvcc.WriteTxn) {
	if err := tw.End(); err != nil {
		m.fatal("failed to commit the backend", err)
	}
}

// applyRequest is the one dispatch switch over request types; the quota
// wrapper (NOSPACE) is applied here, visibly.
func (m *Member) applyRequest(tw *mvcc.WriteTxn, r *pb.InternalRaftRequest) *applyResult {
	noSpace := m.alarms.active(pb.AlarmType_NOSPACE)
	switch {
	case r.Range != nil:
		resp, err := kvapply.Range(tw, r.Range)
		return &applyResult{resp: resp, err: err}
	case r.Put != nil:
		if noSpace {
			return &applyResult{err: serverr.ErrNoSpace}
		}
		if err := kvapply.CheckPut(tw, leaseExists{m.lessor}, r.Put); err != nil {
			return &applyResult{err: err}
		}
		resp, err := kvapply.Put(tw, r.Put)
		return &applyResult{resp: resp, err: err}
	case r.DeleteRange != nil:
		resp, err := kvapply.DeleteRange(tw, r.DeleteRange)
		return &applyResult{resp: resp, err: err}
	case r.Txn != nil:
		if noSpace && !kvapply.IsTxnReadonly(r.Txn) {
			return &applyResult{err: serverr.ErrNoSpace}
		}
		resp, err := kvapply.Txn(tw, tw, leaseExists{m.lessor}, r.Txn)
		return &applyResult{resp: resp, err: err}
	case r.LeaseGrant != nil:
		if noSpace {
			return &applyResult{err: serverr.ErrNoSpace}
		}
		l, err := m.lessor.Grant(tw, lease.ID(r.LeaseGrant.ID), r.LeaseGrant.TTL)
		if err != nil {
			return &applyResult{err: err}
		}
		return &applyResult{resp: &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{}, ID: int64(r.LeaseGrant.ID), TTL: l.TTL()}}
	case r.LeaseRevoke != nil:
		err := m.lessor.Revoke(tw, lease.ID(r.LeaseRevoke.ID))
		return &applyResult{resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: tw.Rev()}}, err: err}
	case r.LeaseCheckpoint != nil:
		for _, cp := range r.LeaseCheckpoint.Checkpoints {
			if err := m.lessor.Checkpoint(tw, lease.ID(cp.ID), cp.Remaining_TTL); err != nil && !errors.Is(err, lease.ErrLeaseNotFound) {
				return &applyResult{err: err}
			}
		}
		return &applyResult{resp: &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{}}}
	case r.Alarm != nil:
		resp, err := m.applyAlarm(tw, r.Alarm)
		return &applyResult{resp: resp, err: err}
	case r.ClusterMemberAttrSet != nil:
		a := r.ClusterMemberAttrSet
		err := m.cluster.setAttributes(tw, a.Member_ID, a.MemberAttributes.GetName(), a.MemberAttributes.GetClientUrls())
		return &applyResult{err: err}
	case r.ClusterVersionSet != nil:
		err := tw.UnsafePut(clusterBucket, clusterVersionKey, []byte(r.ClusterVersionSet.Ver))
		return &applyResult{err: err}
	}
	return &applyResult{err: serverr.ErrUnknownMethod}
}

func (m *Member) applyCompaction(c *pb.CompactionRequest) *applyResult {
	physc, err := m.Store().Compact(c.Revision)
	if err != nil {
		return &applyResult{err: err}
	}
	return &applyResult{resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: m.Store().Rev()}}, physc: physc}
}

// applyConfChange changes the membership. Changes at or below the
// consistent index are in the backend already, but raft must still learn
// of them.
func (m *Member) applyConfChange(e *raftpb.Entry) {
	var cc raftpb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		m.lg.Error("cannot decode conf change; skipping it", zap.Uint64("index", e.Index), zap.Error(err))
		return
	}
	cs, err := m.node.ApplyConfChange(cc)
	if err != nil {
		m.lg.Warn("raft refused conf change", zap.Uint64("index", e.Index), zap.Error(err))
	} else {
		m.confState = cs
	}
	if e.Index > m.consistIndex {
		tw := m.Store().Write()
		if err == nil {
			m.applyMembership(tw, cc)
		}
		tw.SetConsistentIndex(e.Index, e.Term)
		m.endTxn(tw)
	}
	m.w.trigger(cc.ID, &applyResult{err: err})
}

func (m *Member) applyMembership(tw *mvcc.WriteTxn, cc raftpb.ConfChange) {
	switch cc.Type {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode, raftpb.ConfChangeUpdateNode:
		var mem MemberInfo
		if err := json.Unmarshal(cc.Context, &mem); err != nil {
			m.lg.Error("cannot decode member in conf change", zap.Error(err))
			return
		}
		if old := m.cluster.member(mem.ID); old != nil && mem.Name == "" {
			// Keep published attributes.
			mem.Name, mem.ClientURLs = old.Name, old.ClientURLs
		}
		if err := m.cluster.add(tw, &mem); err != nil {
			m.fatal("failed to save member", err)
		}
		if mem.ID != m.id {
			m.transport.AddPeer(mem.ID, mem.PeerURLs)
		}
	case raftpb.ConfChangeRemoveNode:
		if err := m.cluster.remove(tw, cc.NodeID); err != nil {
			m.fatal("failed to remove member", err)
		}
		if cc.NodeID != m.id {
			m.transport.RemovePeer(cc.NodeID)
		}
	}
}
