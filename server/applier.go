package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/kvapply"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/v2store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// applier is the member's state machine: it applies committed entries to
// the state in log order, installs the snapshots the leader sends, and
// takes the member's own snapshots. It is the only code that changes the
// replicated contents of the state (st) and the only user of its private
// fields, all on one goroutine (run). Readers on other goroutines use st
// (see state) and the applied index it publishes.
type applier struct {
	lg *zap.Logger
	id uint64
	// snapshotCount and catchUpEntries are --snapshot-count and
	// --snapshot-catchup-entries.
	snapshotCount, catchUpEntries uint64
	// maxLearners is --max-learners, which conf changes are validated
	// with; onRemoved is called when a conf change removes this member.
	maxLearners int
	onRemoved   func()
	// warnApply is --warning-apply-duration.
	warnApply time.Duration

	st      *state
	raft    *raftNode
	waiters *waitRegistry
	metrics *metrics

	// The apply goroutine's own: consistIndex is the last entry whose
	// effects are in the backend (entries at or below it are skipped on
	// replay); confState and snapshotIndex are raft's configuration and
	// the index of the newest snapshot taken or installed.
	consistIndex  uint64
	confState     raftpb.ConfState
	snapshotIndex uint64
	// memberAdded: a conf change added a member new to the cluster since
	// the last snapshot, which is then taken at once (see
	// maybeTriggerSnapshot).
	memberAdded bool

	// Published to every goroutine.
	appliedIndex atomic.Uint64
	appliedTerm  atomic.Uint64
	appliedWait  *appliedWait
	// snapshotInstalled fires each time a snapshot from the leader is
	// installed: entries it covers are never applied one by one.
	snapshotInstalled broadcast
}

// toApply is one Ready's work for the applier.
type toApply struct {
	entries  []raftpb.Entry
	snapshot raftpb.Snapshot
	// persisted is closed once the Ready's snapshot, hard state and
	// entries are durable.
	persisted chan struct{}
	// early: every entry is already durable in the local log (written by
	// an earlier Ready), so the applier need not wait for persisted to
	// apply them; see applyEarly.
	early bool
	// applied is closed when the applier is done with this batch.
	applied chan struct{}
}

// applyResult is what a proposer receives when its entry is applied.
type applyResult struct {
	resp proto.Message
	// v2 is a v2 request's event.
	v2  *v2store.Event
	err error
	// physc, for a compaction, closes when the backend is cleaned.
	physc <-chan struct{}
}

// run applies each Ready's snapshot and committed entries, in order: once
// the Ready is durable, or at once when they were all durable before it
// (applyEarly). It returns on stopping, or with the error that must stop
// the member.
func (a *applier) run(applyc <-chan toApply, stopping <-chan struct{}) error {
	for {
		var ap toApply
		select {
		case ap = <-applyc:
		case <-stopping:
			return nil
		}
		if !ap.early && !waitClosed(ap.persisted, stopping) {
			return nil
		}
		if !raft.IsEmptySnap(ap.snapshot) {
			if err := a.installSnapshot(ap.snapshot); err != nil {
				return err
			}
		}
		if err := a.applyEntries(ap.entries); err != nil {
			return err
		}
		close(ap.applied)
		// A snapshot names the applied index, which the WAL's commit index
		// must cover on disk: wait for the Ready's hard state.
		if !waitClosed(ap.persisted, stopping) {
			return nil
		}
		if err := a.maybeTriggerSnapshot(); err != nil {
			return err
		}
	}
}

// waitClosed waits for c to close; false if stopping closed first.
func waitClosed(c, stopping <-chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-stopping:
		return false
	}
}

func (a *applier) applyEntries(ents []raftpb.Entry) error {
	for i := range ents {
		e := &ents[i]
		if e.Index <= a.appliedIndex.Load() {
			continue // in the snapshot installed just before
		}
		var err error
		switch e.Type {
		case raftpb.EntryNormal:
			fpBeforeApplyOneEntryNormal.Hit()
			err = a.applyEntryNormal(e)
		case raftpb.EntryConfChange:
			fpBeforeApplyOneConfChange.Hit()
			err = a.applyConfChange(e)
		}
		if err != nil {
			return err
		}
		a.appliedIndex.Store(e.Index)
		a.appliedTerm.Store(e.Term)
		a.appliedWait.trigger(e.Index)
		a.metrics.applied.Set(float64(e.Index))
	}
	return nil
}

// applyEntryNormal applies one client request. Its effects and the
// consistent index go into the backend in one batch, so a crash either
// keeps both or loses both, and a replayed entry is skipped exactly when
// its effects are already there.
func (a *applier) applyEntryNormal(e *raftpb.Entry) error {
	if v2, err := v2store.RequestFromEntry(e.Data); err != nil {
		a.lg.Error("cannot decode v2 request; skipping it", zap.Uint64("index", e.Index), zap.Error(err))
	} else if v2 != nil {
		return a.applyV2Entry(e, v2)
	}
	if e.Index <= a.consistIndex {
		// Already in the backend: replayed after a restart, so nobody
		// waits for it (this life's proposals come after the log's end).
		return nil
	}
	if len(e.Data) == 0 {
		// A new leader's empty entry.
		return a.commitIndex(a.st.kv.Write(), e)
	}
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(e.Data, &r); err != nil {
		a.lg.Error("cannot decode entry; skipping it", zap.Uint64("index", e.Index), zap.Error(err))
		return a.commitIndex(a.st.kv.Write(), e)
	}
	id := r.ID
	if r.Header != nil {
		id = r.Header.ID
	}
	var res *applyResult
	var tw *mvcc.WriteTxn
	applyStart := time.Now()
	if a.st.alarms.active(pb.AlarmType_CORRUPT) && refusedWhenCorrupt(&r) {
		// A member found corrupt stops the cluster's changes, as etcd's
		// does, until the alarm is disarmed.
		res, tw = &applyResult{err: serverr.ErrCorrupt}, a.st.kv.Write()
	} else if r.Compaction != nil {
		// Compaction takes the backend batch itself.
		res = a.applyCompaction(r.Compaction)
		tw = a.st.kv.Write()
	} else if err := a.authorize(&r); err != nil {
		res, tw = &applyResult{err: err}, a.st.kv.Write()
	} else {
		start := time.Now()
		tw = a.st.kv.Write()
		res = a.applyRequest(tw, &r, e.Index)
		a.warnIfSlow(start, "", &r, res.err)
	}
	if err := a.commitIndex(tw, e); err != nil {
		return err
	}
	a.metrics.observeApply(&r, applyStart, res.err)
	if res.err != nil {
		if !isExpectedApplyError(res.err) {
			a.lg.Warn("failed to apply request", zap.Uint64("index", e.Index), zap.Error(res.err))
		}
		a.metrics.proposalsFailed.Inc()
	}
	a.waiters.trigger(id, res)
	return nil
}

// warnIfSlow logs and counts a request that took longer than
// --warning-apply-duration, as etcd does (the request described without
// its values).
func (a *applier) warnIfSlow(start time.Time, prefix string, r *pb.InternalRaftRequest, err error) {
	warnIfSlow(a.lg, a.metrics, a.warnApply, start, prefix, r, err)
}

func warnIfSlow(lg *zap.Logger, mt *metrics, limit time.Duration, start time.Time, prefix string, r *pb.InternalRaftRequest, err error) {
	took := time.Since(start)
	if took <= limit {
		return
	}
	lg.Warn("apply request took too long", zap.Duration("took", took), zap.Duration("expected-duration", limit),
		zap.String("prefix", prefix), zap.String("request", describeRequest(r)), zap.Error(err))
	mt.slowApplies.Inc()
}

// describeRequest names a request and its keys, never its values or
// passwords.
func describeRequest(r *pb.InternalRaftRequest) string {
	switch {
	case r.Range != nil:
		return fmt.Sprintf("range:<key:%q range_end:%q limit:%d>", r.Range.Key, r.Range.RangeEnd, r.Range.Limit)
	case r.Put != nil:
		return fmt.Sprintf("put:<key:%q value_size:%d lease:%d>", r.Put.Key, len(r.Put.Value), r.Put.Lease)
	case r.DeleteRange != nil:
		return fmt.Sprintf("delete_range:<key:%q range_end:%q>", r.DeleteRange.Key, r.DeleteRange.RangeEnd)
	case r.Txn != nil:
		return fmt.Sprintf("txn:<compare:%d success:%d failure:%d>", len(r.Txn.Compare), len(r.Txn.Success), len(r.Txn.Failure))
	}
	for _, f := range []struct {
		set  bool
		name string
	}{
		{r.LeaseGrant != nil, "lease_grant"}, {r.LeaseRevoke != nil, "lease_revoke"}, {r.LeaseCheckpoint != nil, "lease_checkpoint"},
		{r.Alarm != nil, "alarm"}, {r.Compaction != nil, "compaction"}, {r.ClusterMemberAttrSet != nil, "cluster_member_attr_set"},
		{r.Authenticate != nil, "authenticate"}, {r.AuthUserAdd != nil, "auth_user_add"}, {r.AuthUserChangePassword != nil, "auth_user_change_password"},
	} {
		if f.set {
			return f.name
		}
	}
	return "other"
}

// commitIndex records e as applied in tw and ends it.
func (a *applier) commitIndex(tw *mvcc.WriteTxn, e *raftpb.Entry) error {
	tw.SetConsistentIndex(e.Index, e.Term)
	if err := tw.End(); err != nil {
		return fmt.Errorf("commit the backend at index %d: %w", e.Index, err)
	}
	a.consistIndex = e.Index
	return nil
}

func isExpectedApplyError(err error) bool {
	for _, e := range []error{serverr.ErrNoSpace, serverr.ErrCorrupt, serverr.ErrKeyNotFound, lease.ErrLeaseNotFound, lease.ErrLeaseExists,
		mvcc.ErrCompacted, mvcc.ErrFutureRev} {
		if errors.Is(err, e) {
			return true
		}
	}
	// Every auth refusal is the user's doing, not the member's.
	return strings.HasPrefix(err.Error(), "auth: ")
}

// applyRequest is the one dispatch switch over request types; the quota
// wrapper (NOSPACE) is applied here, visibly.
// refusedWhenCorrupt are the requests etcd refuses while a CORRUPT alarm
// is raised.
func refusedWhenCorrupt(r *pb.InternalRaftRequest) bool {
	return r.Range != nil || r.Put != nil || r.DeleteRange != nil || r.Txn != nil || r.Compaction != nil ||
		r.LeaseGrant != nil || r.LeaseRevoke != nil
}

func (a *applier) applyRequest(tw *mvcc.WriteTxn, r *pb.InternalRaftRequest, index uint64) *applyResult {
	if res, ok := a.applyAuth(tw, r, index); ok {
		return res
	}
	noSpace := a.st.alarms.active(pb.AlarmType_NOSPACE)
	leases := leaseExists{a.st.lessor}
	switch {
	case r.Range != nil:
		start := time.Now()
		resp, err := kvapply.Range(tw, r.Range)
		a.metrics.observeRange(start, err)
		return &applyResult{resp: resp, err: err}
	case r.Put != nil:
		if noSpace {
			return &applyResult{err: serverr.ErrNoSpace}
		}
		if err := kvapply.CheckPut(tw, leases, r.Put); err != nil {
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
		resp, err := kvapply.Txn(tw, tw, leases, r.Txn)
		return &applyResult{resp: resp, err: err}
	case r.LeaseGrant != nil:
		if noSpace {
			return &applyResult{err: serverr.ErrNoSpace}
		}
		l, err := a.st.lessor.Grant(tw, lease.ID(r.LeaseGrant.ID), r.LeaseGrant.TTL)
		if err != nil {
			return &applyResult{err: err}
		}
		return &applyResult{resp: &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{}, ID: int64(r.LeaseGrant.ID), TTL: l.TTL()}}
	case r.LeaseRevoke != nil:
		err := a.st.lessor.Revoke(tw, lease.ID(r.LeaseRevoke.ID))
		return &applyResult{resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: tw.Rev()}}, err: err}
	case r.LeaseCheckpoint != nil:
		for _, cp := range r.LeaseCheckpoint.Checkpoints {
			if err := a.st.lessor.Checkpoint(tw, lease.ID(cp.ID), cp.Remaining_TTL); err != nil && !errors.Is(err, lease.ErrLeaseNotFound) {
				return &applyResult{err: err}
			}
		}
		return &applyResult{resp: &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{}}}
	case r.Alarm != nil:
		resp, err := a.st.alarms.apply(tw, r.Alarm)
		return &applyResult{resp: resp, err: err}
	case r.ClusterMemberAttrSet != nil:
		attrs := r.ClusterMemberAttrSet
		err := a.st.cluster.SetAttributes(tw, attrs.Member_ID, attrs.MemberAttributes.GetName(), attrs.MemberAttributes.GetClientUrls())
		return &applyResult{err: err}
	case r.ClusterVersionSet != nil:
		err := tw.UnsafePut(schema.Cluster, schema.ClusterVersionKey, []byte(r.ClusterVersionSet.Ver))
		return &applyResult{err: err}
	}
	return &applyResult{err: serverr.ErrUnknownMethod}
}

func (a *applier) applyCompaction(c *pb.CompactionRequest) *applyResult {
	physc, err := a.st.kv.Compact(c.Revision)
	if err != nil {
		return &applyResult{err: err}
	}
	return &applyResult{resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: a.st.kv.Rev()}}, physc: physc}
}

// applyConfChange changes the membership, with etcd's validation: a
// change the membership refuses (see membership.Validate) changes nothing,
// neither raft's configuration nor the membership, and its refusal goes
// to the proposer. Changes at or below the consistent index are in the
// backend already (a restart replays them), but raft must still learn of
// them, unless they were refused: the refusal was recorded then, since
// the membership it was decided against is gone.
func (a *applier) applyConfChange(e *raftpb.Entry) error {
	var cc raftpb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		a.lg.Error("cannot decode conf change; skipping it", zap.Uint64("index", e.Index), zap.Error(err))
		return nil
	}
	replay := e.Index <= a.consistIndex
	var ch membership.ChangeContext
	var refusal error
	if replay {
		ch, _ = membership.DecodeChange(cc)
		if reason, refused := a.refusedConfChange(e.Index); refused {
			refusal = refusalError(reason)
		}
	} else if ch, refusal = membership.DecodeChange(cc); refusal == nil && cc.ID != 0 {
		// Changes without a request ID were not proposed by a client but
		// written by this member's start (a new cluster's members, the
		// configuration --force-new-cluster imposes): they define the
		// membership and are applied as they are.
		refusal = a.st.cluster.Validate(cc, ch, a.maxLearners)
	}
	if refusal == nil {
		// A member the membership knows nothing of is new to the cluster
		// (not one of a new cluster's, not a joining member's replay).
		known := a.st.cluster.Member(cc.NodeID) != nil
		cs, err := a.raft.node.ApplyConfChange(cc)
		if err != nil {
			refusal = err
		} else {
			a.confState = cs
			if (cc.Type == raftpb.ConfChangeAddNode || cc.Type == raftpb.ConfChangeAddLearnerNode) && !ch.IsPromote && !known {
				a.memberAdded = true
			}
		}
	}
	if refusal != nil {
		a.lg.Warn("refused conf change", zap.Uint64("index", e.Index), zap.String("type", cc.Type.String()),
			zap.String("member-id", idString(cc.NodeID)), zap.Error(refusal))
	}
	if !replay {
		tw := a.st.kv.Write()
		var err error
		if refusal == nil {
			err = a.applyMembership(tw, cc, ch)
		} else {
			if err = tw.UnsafeCreateBucket(schema.RefusedConfChanges); err == nil {
				err = tw.UnsafePut(schema.RefusedConfChanges, indexKey(e.Index), []byte(refusal.Error()))
			}
		}
		if cerr := a.commitIndex(tw, e); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	a.waiters.trigger(cc.ID, &applyResult{err: refusal})
	if refusal == nil && cc.Type == raftpb.ConfChangeRemoveNode && cc.NodeID == a.id && a.onRemoved != nil {
		a.onRemoved()
	}
	return nil
}

// refusedConfChange reads the refusal recorded for the conf change at
// index, if any.
func (a *applier) refusedConfChange(index uint64) (string, bool) {
	view := a.st.be.ReadTx()
	defer view.End()
	v, ok := view.Get(schema.RefusedConfChanges, indexKey(index))
	return string(v), ok
}

// refusalError is the error a recorded refusal was: a client waiting
// for a change the member replays gets etcd's error for it.
func refusalError(reason string) error {
	for _, e := range []error{membership.ErrIDRemoved, membership.ErrIDExists, membership.ErrIDNotFound, membership.ErrPeerURLExists,
		membership.ErrMemberNotLearner, membership.ErrTooManyLearners, raft.ErrRemoveLastVoter, raft.ErrDemoteVoter} {
		if reason == e.Error() {
			return e
		}
	}
	return errors.New(reason)
}

func indexKey(index uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], index)
	return k[:]
}

func (a *applier) applyMembership(tw *mvcc.WriteTxn, cc raftpb.ConfChange, ch membership.ChangeContext) error {
	var err error
	switch {
	case cc.Type == raftpb.ConfChangeRemoveNode:
		err = a.st.cluster.Remove(tw, cc.NodeID)
	case cc.Type == raftpb.ConfChangeUpdateNode:
		err = a.st.cluster.UpdatePeerURLs(tw, cc.NodeID, ch.PeerURLs)
	case ch.IsPromote:
		err = a.st.cluster.Promote(tw, cc.NodeID)
	default:
		err = a.st.cluster.Add(tw, &ch.Member)
	}
	if err != nil {
		return fmt.Errorf("apply conf change %v of member %s: %w", cc.Type, idString(cc.NodeID), err)
	}
	a.connectPeer(cc)
	return nil
}

// connectPeer tells the transport of an added, updated or removed peer.
func (a *applier) connectPeer(cc raftpb.ConfChange) {
	if cc.NodeID == a.id {
		return
	}
	switch cc.Type {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if mem := a.st.cluster.Member(cc.NodeID); mem != nil {
			a.raft.transport.AddPeer(mem.ID, mem.PeerURLs)
		}
	case raftpb.ConfChangeUpdateNode:
		if mem := a.st.cluster.Member(cc.NodeID); mem != nil {
			a.raft.transport.UpdatePeer(mem.ID, mem.PeerURLs)
		}
	case raftpb.ConfChangeRemoveNode:
		a.raft.transport.RemovePeer(cc.NodeID)
	}
}
