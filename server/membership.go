package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Membership is persisted as etcd persists it, in bucket "members": key
// the member ID in hex, value the member as JSON. Removed members' IDs go
// to bucket "members_removed".
var (
	membersBucket        = []byte("members")
	membersRemovedBucket = []byte("members_removed")
)

// MemberInfo is one member of the cluster.
type MemberInfo struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

func (m *MemberInfo) clone() *MemberInfo {
	c := *m
	c.PeerURLs = slices.Clone(m.PeerURLs)
	c.ClientURLs = slices.Clone(m.ClientURLs)
	return &c
}

// toPB renders a member for MemberList.
func (m *MemberInfo) toPB() *pb.Member {
	return &pb.Member{
		ID:         m.ID,
		Name:       m.Name,
		PeerURLs:   slices.Clone(m.PeerURLs),
		ClientURLs: slices.Clone(m.ClientURLs),
		IsLearner:  m.IsLearner,
	}
}

// cluster is the membership as applied from the log.
type cluster struct {
	id      uint64
	mu      sync.RWMutex
	members map[uint64]*MemberInfo
	removed map[uint64]bool
}

func newCluster(id uint64) *cluster {
	return &cluster{id: id, members: map[uint64]*MemberInfo{}, removed: map[uint64]bool{}}
}

func (c *cluster) member(id uint64) *MemberInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if m := c.members[id]; m != nil {
		return m.clone()
	}
	return nil
}

// list returns the members ordered by ID.
func (c *cluster) list() []*MemberInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*MemberInfo, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, m.clone())
	}
	slices.SortFunc(out, func(a, b *MemberInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func (c *cluster) isRemoved(id uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.removed[id]
}

// add records a member, persisting it in tx.
func (c *cluster) add(tx *mvcc.WriteTxn, m *MemberInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[m.ID] = m.clone()
	return saveMember(tx, m)
}

// remove drops a member, persisting it in tx.
func (c *cluster) remove(tx *mvcc.WriteTxn, id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, id)
	c.removed[id] = true
	key := []byte(idString(id))
	if err := tx.UnsafeDelete(membersBucket, key); err != nil {
		return err
	}
	return tx.UnsafePut(membersRemovedBucket, key, []byte("removed"))
}

// setAttributes records a member's published name and client URLs.
func (c *cluster) setAttributes(tx *mvcc.WriteTxn, id uint64, name string, clientURLs []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[id]
	if m == nil {
		return nil // removed meanwhile
	}
	m.Name = name
	m.ClientURLs = slices.Clone(clientURLs)
	return saveMember(tx, m)
}

func saveMember(tx *mvcc.WriteTxn, m *MemberInfo) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal member %s: %w", idString(m.ID), err)
	}
	return tx.UnsafePut(membersBucket, []byte(idString(m.ID)), data)
}

func createMembershipBuckets(tx *mvcc.WriteTxn) error {
	for _, b := range [][]byte{membersBucket, membersRemovedBucket} {
		if err := tx.UnsafeCreateBucket(b); err != nil {
			return err
		}
	}
	return nil
}

// load reads the membership from the backend.
func (c *cluster) load(s *mvcc.Store) error {
	view := s.Backend().ReadTx()
	defer view.End()
	members := map[uint64]*MemberInfo{}
	removed := map[uint64]bool{}
	err := view.ForEach(membersBucket, func(k, v []byte) error {
		var m MemberInfo
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode member %s: %w", k, err)
		}
		members[m.ID] = &m
		return nil
	})
	if err != nil {
		return err
	}
	err = view.ForEach(membersRemovedBucket, func(k, _ []byte) error {
		var id uint64
		if _, err := fmt.Sscanf(string(k), "%x", &id); err == nil {
			removed[id] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.members, c.removed = members, removed
	c.mu.Unlock()
	return nil
}
