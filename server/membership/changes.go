package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// The refusals of a membership change, with etcd's messages (the API
// layer maps them to etcd's gRPC errors).
var (
	ErrIDRemoved        = errors.New("membership: ID removed")
	ErrIDExists         = errors.New("membership: ID exists")
	ErrIDNotFound       = errors.New("membership: ID not found")
	ErrPeerURLExists    = errors.New("membership: peerURL exists")
	ErrMemberNotLearner = errors.New("membership: can only promote a learner member")
	ErrTooManyLearners  = errors.New("membership: too many learner members in cluster")
)

// ChangeContext is the Context of an AddNode, AddLearnerNode or
// UpdateNode conf change, as etcd writes it: the member's JSON, and for
// the promotion of a learner (an AddNode of a learner) isPromote.
type ChangeContext struct {
	Member
	IsPromote bool `json:"isPromote,omitempty"`
}

// DecodeChange reads the context of cc.
func DecodeChange(cc raftpb.ConfChange) (ChangeContext, error) {
	var c ChangeContext
	if cc.Type == raftpb.ConfChangeRemoveNode {
		return c, nil
	}
	if err := json.Unmarshal(cc.Context, &c); err != nil {
		return c, fmt.Errorf("decode the member of conf change %v for %s: %w", cc.Type, IDString(cc.NodeID), err)
	}
	c.ID = cc.NodeID
	return c, nil
}

// Validate decides whether cc may be applied to the membership as it
// stands, with etcd's rules; maxLearners bounds the learners (etcd's
// --max-learners). The members a start knows before their conf changes
// are applied (see New) do not count: validation sees what the log has
// applied. Every member applies the same entries to the same membership,
// so every member decides alike, provided all run with the same
// --max-learners (as in etcd, it is each member's own flag).
func (c *Cluster) Validate(cc raftpb.ConfChange, ch ChangeContext, maxLearners int) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id := cc.NodeID
	if c.mu.removed[id] {
		return ErrIDRemoved
	}
	applied := c.appliedLocked()
	switch cc.Type {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if ch.IsPromote {
			m := applied[id]
			if m == nil {
				return ErrIDNotFound
			}
			if !m.IsLearner {
				return ErrMemberNotLearner
			}
			return nil
		}
		if applied[id] != nil {
			return ErrIDExists
		}
		if urlTaken(applied, id, ch.PeerURLs) {
			return ErrPeerURLExists
		}
		if cc.Type == raftpb.ConfChangeAddLearnerNode && ch.IsLearner {
			learners := 0
			for _, m := range applied {
				if m.IsLearner {
					learners++
				}
			}
			if learners+1 > maxLearners {
				return ErrTooManyLearners
			}
		}
	case raftpb.ConfChangeRemoveNode:
		if applied[id] == nil {
			return ErrIDNotFound
		}
	case raftpb.ConfChangeUpdateNode:
		if applied[id] == nil {
			return ErrIDNotFound
		}
		if urlTaken(applied, id, ch.PeerURLs) {
			return ErrPeerURLExists
		}
	default:
		return fmt.Errorf("unknown conf change type %v", cc.Type)
	}
	return nil
}

// appliedLocked are the members whose conf changes were applied.
func (c *Cluster) appliedLocked() map[uint64]*Member {
	out := make(map[uint64]*Member, len(c.mu.members))
	for id, m := range c.mu.members {
		if !c.mu.provisional[id] {
			out[id] = m
		}
	}
	return out
}

// urlTaken reports whether a member other than id has one of urls.
func urlTaken(members map[uint64]*Member, id uint64, urls []string) bool {
	for _, m := range members {
		if m.ID == id {
			continue
		}
		for _, u := range m.PeerURLs {
			if slices.Contains(urls, u) {
				return true
			}
		}
	}
	return false
}

// Promote makes learner id a voter, persisting it in tx.
func (c *Cluster) Promote(tx Writer, id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.members[id]
	if m == nil {
		return fmt.Errorf("promote member %s: %w", IDString(id), ErrIDNotFound)
	}
	m.IsLearner = false
	return Save(tx, m)
}

// UpdatePeerURLs records new peer URLs of member id, persisting them in tx.
func (c *Cluster) UpdatePeerURLs(tx Writer, id uint64, urls []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.members[id]
	if m == nil {
		return fmt.Errorf("update member %s: %w", IDString(id), ErrIDNotFound)
	}
	m.PeerURLs = slices.Clone(urls)
	return Save(tx, m)
}

// VotingMembers are the members that are not learners, ordered by ID.
func (c *Cluster) VotingMembers() []*Member {
	var out []*Member
	for _, m := range c.Members() {
		if !m.IsLearner {
			out = append(out, m)
		}
	}
	return out
}

// IsStarted reports whether the member has published its name, which it
// does once it has started (etcd's test for a started member).
func (m *Member) IsStarted() bool { return m.Name != "" }

// ReadyToAddVoter is etcd's strict check before adding a voter: the
// started voters must stay a quorum of the grown cluster (one started
// voter may always take a second member, to restore a cluster).
func (c *Cluster) ReadyToAddVoter() bool {
	members, started := 1, 0
	for _, m := range c.VotingMembers() {
		if m.IsStarted() {
			started++
		}
		members++
	}
	if started == 1 && members == 2 {
		return true
	}
	return started >= members/2+1
}

// ReadyToRemoveVoter is etcd's strict check before removing voter id: the
// started voters left must be a quorum of the cluster left.
func (c *Cluster) ReadyToRemoveVoter(id uint64) bool {
	members, started := 0, 0
	for _, m := range c.VotingMembers() {
		if m.ID == id {
			continue
		}
		if m.IsStarted() {
			started++
		}
		members++
	}
	return started >= members/2+1
}

// ReadyToPromote is etcd's strict check before promoting a learner, which
// counts as a started voter.
func (c *Cluster) ReadyToPromote() bool {
	members, started := 1, 1
	for _, m := range c.VotingMembers() {
		if m.IsStarted() {
			started++
		}
		members++
	}
	return started >= members/2+1
}
