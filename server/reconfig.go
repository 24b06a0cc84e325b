package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

// Runtime reconfiguration, as etcd's: every change is one raft conf
// change, checked before it is proposed (--strict-reconfig-check, a
// learner's progress) and validated again when it is applied (see
// applier.applyConfChange), where every member decides alike (given the
// same --max-learners everywhere, as etcd requires too).

// MemberAdd adds a member reached at peerURLs, a learner if isLearner.
func (m *Member) MemberAdd(ctx context.Context, peerURLs []string, isLearner bool) (*pb.MemberAddResponse, error) {
	mem, members, err := m.addMember(ctx, peerURLs, isLearner)
	if err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{Header: &pb.ResponseHeader{}, Member: &pb.Member{ID: mem.ID, PeerURLs: mem.PeerURLs, IsLearner: mem.IsLearner},
		Members: membersPB(members)}, nil
}

// MemberRemove removes member id.
func (m *Member) MemberRemove(ctx context.Context, id uint64) (*pb.MemberRemoveResponse, error) {
	members, err := m.removeMember(ctx, id)
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: &pb.ResponseHeader{}, Members: membersPB(members)}, nil
}

// MemberUpdate replaces the peer URLs of member id.
func (m *Member) MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error) {
	members, err := m.updateMember(ctx, id, peerURLs)
	if err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: &pb.ResponseHeader{}, Members: membersPB(members)}, nil
}

// MemberPromote makes learner id a voter.
func (m *Member) MemberPromote(ctx context.Context, id uint64) (*pb.MemberPromoteResponse, error) {
	members, err := m.promoteOrForward(ctx, id)
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: &pb.ResponseHeader{}, Members: membersPB(members)}, nil
}

func membersPB(members []*membership.Member) []*pb.Member {
	out := make([]*pb.Member, len(members))
	for i, mem := range members {
		out[i] = mem.ToPB()
	}
	return out
}

// healthInterval is how long a peer must have been connected to count as
// active for the strict checks (etcd's HealthInterval).
const healthInterval = 5 * time.Second

// learnerReadyPercent is how far a learner's log must have caught up
// with the leader's before it may be promoted (etcd's threshold).
const learnerReadyPercent = 0.9

// peerPromotePrefix is where a follower forwards MemberPromote to the
// leader, on the peer URLs (etcd's path, with the ID in decimal).
const peerPromotePrefix = "/members/promote/"

// addMember adds a member reached at peerURLs (a learner if isLearner)
// and returns it, with the members once the change is applied. Its ID is
// derived from its URLs and the time, as etcd derives it.
func (m *Member) addMember(ctx context.Context, peerURLs []string, isLearner bool) (*membership.Member, []*membership.Member, error) {
	now := time.Now()
	mem := &membership.Member{ID: membership.MemberIDFor(peerURLs, "", &now), PeerURLs: peerURLs, IsLearner: isLearner}
	if err := m.mayAddMember(mem); err != nil {
		return nil, nil, err
	}
	cc := raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: mem.ID}
	if isLearner {
		cc.Type = raftpb.ConfChangeAddLearnerNode
	}
	members, err := m.configure(ctx, cc, membership.ChangeContext{Member: *mem})
	return mem, members, err
}

// removeMember removes member id.
func (m *Member) removeMember(ctx context.Context, id uint64) ([]*membership.Member, error) {
	if err := m.mayRemoveMember(id); err != nil {
		return nil, err
	}
	return m.configure(ctx, raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode, NodeID: id}, membership.ChangeContext{})
}

// updateMember replaces the peer URLs of member id.
func (m *Member) updateMember(ctx context.Context, id uint64, peerURLs []string) ([]*membership.Member, error) {
	ch := membership.ChangeContext{Member: membership.Member{ID: id, PeerURLs: peerURLs}}
	return m.configure(ctx, raftpb.ConfChange{Type: raftpb.ConfChangeUpdateNode, NodeID: id}, ch)
}

// promoteOrForward makes learner id a voter. Only the leader knows how far
// the learner has caught up: a follower forwards the request to it.
func (m *Member) promoteOrForward(ctx context.Context, id uint64) ([]*membership.Member, error) {
	members, err := m.promoteMember(ctx, id)
	if err == nil {
		m.metrics.learnerPromoteSucceed.Inc()
		return members, nil
	}
	if !errors.Is(err, serverr.ErrNotLeader) {
		m.metrics.learnerPromoteFailed.WithLabelValues(err.Error()).Inc()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	for cctx.Err() == nil {
		lead := m.Leader()
		if lead == 0 || lead == m.id {
			select {
			case <-m.raft.leaderChanged.wait():
			case <-time.After(time.Duration(m.cfg.TickMs) * time.Millisecond):
			case <-cctx.Done():
			case <-m.stopping:
				return nil, serverr.ErrStopped
			}
			continue
		}
		members, err := m.forwardPromote(cctx, lead, id)
		if err == nil || errors.Is(err, serverr.ErrLearnerNotReady) ||
			errors.Is(err, membership.ErrIDNotFound) || errors.Is(err, membership.ErrMemberNotLearner) {
			return members, err
		}
		select {
		case <-time.After(time.Duration(m.cfg.TickMs) * time.Millisecond):
		case <-cctx.Done():
		case <-m.stopping:
			return nil, serverr.ErrStopped
		}
	}
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return nil, serverr.ErrTimeout
	}
	return nil, serverr.ErrCanceled
}

func (m *Member) promoteMember(ctx context.Context, id uint64) ([]*membership.Member, error) {
	if err := m.learnerReady(id); err != nil {
		return nil, err
	}
	if m.cfg.StrictReconfigCheck && !m.st.cluster.ReadyToPromote() {
		m.lg.Warn("rejecting member promote request; not enough healthy members", zap.String("local-member-id", idString(m.id)),
			zap.String("requested-member-remove-id", idString(id)), zap.Error(serverr.ErrNotEnoughStartedMembers))
		return nil, serverr.ErrNotEnoughStartedMembers
	}
	ch := membership.ChangeContext{Member: membership.Member{ID: id}, IsPromote: true}
	return m.configure(ctx, raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: id}, ch)
}

// learnerReady is etcd's isLearnerReady: on the leader, the learner's
// log must match at least 90% of the leader's. A member not in raft's
// progress is not found; a voter passes (the apply refuses it).
func (m *Member) learnerReady(id uint64) error {
	if err := m.waitAppliedCommit(); err != nil {
		return err
	}
	st := m.raft.node.Status()
	if st.Progress == nil {
		return serverr.ErrNotLeader
	}
	pr, ok := st.Progress[id]
	if !ok {
		return membership.ErrIDNotFound
	}
	leaderMatch := st.Progress[st.ID].Match
	if ready := float64(pr.Match) / float64(leaderMatch); ready < learnerReadyPercent {
		m.lg.Error("rejecting promote learner: learner is not ready", zap.Float64("learner-ready-percent", ready),
			zap.Float64("ready-percent-threshold", learnerReadyPercent))
		return serverr.ErrLearnerNotReady
	}
	return nil
}

// mayAddMember is the strict check before an add: the started voters
// must stay a quorum, and this member must be connected to a quorum of
// the grown cluster (the new member counted as down).
func (m *Member) mayAddMember(mem *membership.Member) error {
	if !m.cfg.StrictReconfigCheck {
		return nil
	}
	if !mem.IsLearner && !m.st.cluster.ReadyToAddVoter() {
		m.lg.Warn("rejecting member add request; not enough healthy members", zap.String("local-member-id", idString(m.id)),
			zap.String("requested-member-add", fmt.Sprintf("%+v", *mem)), zap.Error(serverr.ErrNotEnoughStartedMembers))
		return serverr.ErrNotEnoughStartedMembers
	}
	voters := m.st.cluster.VotingMembers()
	if len(voters) > 1 && m.connectedSince(time.Now().Add(-healthInterval), voters) < (len(voters)+1)/2+1 {
		m.lg.Warn("rejecting member add request; local member has not been connected to majority peers, reconfigure breaks active quorum",
			zap.String("local-member-id", idString(m.id)), zap.String("requested-member-add", fmt.Sprintf("%+v", *mem)), zap.Error(serverr.ErrUnhealthy))
		return serverr.ErrUnhealthy
	}
	return nil
}

// mayRemoveMember is the strict check before a remove: the started voters
// left must be a quorum, and so must the active ones, unless the member
// removed is down already.
func (m *Member) mayRemoveMember(id uint64) error {
	if !m.cfg.StrictReconfigCheck {
		return nil
	}
	if mem := m.st.cluster.Member(id); mem != nil && mem.IsLearner {
		return nil
	}
	if !m.st.cluster.ReadyToRemoveVoter(id) {
		m.lg.Warn("rejecting member remove request; not enough healthy members", zap.String("local-member-id", idString(m.id)),
			zap.String("requested-member-remove-id", idString(id)), zap.Error(serverr.ErrNotEnoughStartedMembers))
		return serverr.ErrNotEnoughStartedMembers
	}
	if id != m.id && m.raft.transport.ActiveSince(id).IsZero() {
		return nil
	}
	voters := m.st.cluster.VotingMembers()
	if active := m.connectedSince(time.Now().Add(-healthInterval), voters); active-1 < 1+(len(voters)-1)/2 {
		m.lg.Warn("rejecting member remove request; local member has not been connected to all peers, reconfigure breaks active quorum",
			zap.String("local-member-id", idString(m.id)), zap.String("requested-member-remove", idString(id)),
			zap.Int("active-peers", active), zap.Error(serverr.ErrUnhealthy))
		return serverr.ErrUnhealthy
	}
	return nil
}

// connectedSince counts the members (this one included) this member has
// been connected to since t.
func (m *Member) connectedSince(t time.Time, members []*membership.Member) int {
	n := 0
	for _, mem := range members {
		if mem.ID == m.id {
			n++
			continue
		}
		if since := m.raft.transport.ActiveSince(mem.ID); !since.IsZero() && since.Before(t) {
			n++
		}
	}
	return n
}

// configure proposes cc and waits until it is applied; it returns the
// members after it, or the refusal of the apply.
func (m *Member) configure(ctx context.Context, cc raftpb.ConfChange, ch membership.ChangeContext) ([]*membership.Member, error) {
	if cc.Type != raftpb.ConfChangeRemoveNode {
		data, err := json.Marshal(ch)
		if err != nil {
			return nil, fmt.Errorf("encode conf change: %w", err)
		}
		cc.Context = data
	}
	cc.ID = m.reqIDs.next()
	wait := m.waiters.register(cc.ID)
	cctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	start := time.Now()
	fail := func(err error) ([]*membership.Member, error) {
		m.waiters.trigger(cc.ID, nil)
		if errors.Is(err, serverr.ErrStopped) && cc.Type == raftpb.ConfChangeRemoveNode && cc.NodeID == m.id && m.removed.Load() {
			// This member was asked to remove itself and stopped because
			// it was removed: the change was made (the leader may stop
			// talking to a member it removed before telling it so).
			return othersThan(m.st.cluster.Members(), m.id), nil
		}
		return nil, err
	}
	// A proposal forwarded to the leader can be lost: the leader failed,
	// or, just elected, it drops conf changes until it has applied its
	// log. When the leader changes, or an election timeout passes, before
	// the change is applied, it is proposed again. Applying an add, remove
	// or promotion twice is harmless (the second is refused: the ID
	// exists, was removed, or is no learner), and the waiter hears the
	// first. An update is not proposed again: a stale copy applied after a
	// later update would bring old URLs back.
	again := cc.Type != raftpb.ConfChangeUpdateNode
	proposed := false
	for {
		leaderChanged := m.raft.leaderChanged.wait()
		var retry, reproposal <-chan time.Time
		if !proposed || again {
			switch err := m.raft.node.ProposeConfChange(cctx, cc); {
			case err == nil:
				proposed = true
			case errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrLeaderTransferInProgress), errors.Is(err, raft.ErrConfChangePending):
				// Refused for now: no leader yet, a transfer, or the
				// previous change not yet applied on the leader.
				retry = time.After(time.Duration(m.cfg.TickMs) * time.Millisecond)
			default:
				return fail(m.proposeError(cctx, err, start))
			}
		}
		if proposed && again && retry == nil {
			reproposal = time.After(m.cfg.ElectionTimeout())
		}
		select {
		case x := <-wait:
			res, _ := x.(*applyResult)
			if res == nil {
				return fail(serverr.ErrStopped)
			}
			if res.err != nil {
				return nil, res.err
			}
			m.lg.Info("applied a configuration change through raft", zap.String("local-member-id", idString(m.id)),
				zap.String("raft-conf-change", cc.Type.String()), zap.String("raft-conf-change-node-id", idString(cc.NodeID)))
			return m.st.cluster.Members(), nil
		case <-retry:
		case <-reproposal:
			m.lg.Info("configuration change not applied within an election timeout; proposing it again",
				zap.String("local-member-id", idString(m.id)), zap.String("raft-conf-change", cc.Type.String()))
		case <-leaderChanged:
			if proposed && again {
				m.lg.Info("leader changed while a configuration change was pending; proposing it again",
					zap.String("local-member-id", idString(m.id)), zap.String("raft-conf-change", cc.Type.String()))
			}
		case <-cctx.Done():
			return fail(m.proposeError(cctx, cctx.Err(), start))
		case <-m.stopping:
			return fail(serverr.ErrStopped)
		}
	}
}

// forwardPromote asks the leader to promote learner id, over the peer
// URLs, as etcd's followers do.
func (m *Member) forwardPromote(ctx context.Context, lead, id uint64) ([]*membership.Member, error) {
	mem := m.st.cluster.Member(lead)
	if mem == nil {
		return nil, errForwardFailed
	}
	for _, u := range mem.PeerURLs {
		a, err := callPeer(ctx, m.leases.http, http.MethodPost, u+peerPromotePrefix+strconv.FormatUint(id, 10), nil, "", m.ClusterID())
		if err != nil {
			continue
		}
		if a.status == http.StatusOK {
			var members []*membership.Member
			if err := json.Unmarshal(a.body, &members); err != nil {
				return nil, fmt.Errorf("decode the leader's answer to promote: %w", err)
			}
			return members, nil
		}
		msg := strings.TrimSpace(string(a.body))
		for _, known := range []error{membership.ErrIDNotFound, membership.ErrMemberNotLearner, serverr.ErrLearnerNotReady} {
			if msg == known.Error() {
				return nil, known
			}
		}
	}
	return nil, errForwardFailed
}

// servePromote answers a promotion forwarded by a follower.
func (m *Member) servePromote(w http.ResponseWriter, r *http.Request) {
	if !m.checkPeerRequest(w, r, http.MethodPost) {
		return
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, peerPromotePrefix), 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("member %s not found in cluster", strings.TrimPrefix(r.URL.Path, peerPromotePrefix)), http.StatusNotFound)
		return
	}
	members, err := m.promoteOrForward(r.Context(), id)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(members)
	case errors.Is(err, membership.ErrIDNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, membership.ErrMemberNotLearner), errors.Is(err, serverr.ErrLearnerNotReady):
		http.Error(w, err.Error(), http.StatusPreconditionFailed)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func othersThan(members []*membership.Member, id uint64) []*membership.Member {
	out := members[:0]
	for _, mem := range members {
		if mem.ID != id {
			out = append(out, mem)
		}
	}
	return out
}
