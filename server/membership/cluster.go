package membership

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/basaltkv/basalt/server/schema"
)

// Writer is the backend batch a change is persisted in (the applier's
// write transaction, with the entry's consistent index).
type Writer interface {
	UnsafePut(bucket, key, value []byte) error
	UnsafeDelete(bucket, key []byte) error
}

// Reader reads the backend (a backend.ReadTx).
type Reader interface {
	ForEach(bucket []byte, f func(k, v []byte) error) error
}

// Cluster is the membership. The applier changes it, in log order; any
// goroutine may read it. Every method is safe for concurrent use, and
// what it returns is a copy.
type Cluster struct {
	id uint64
	mu struct {
		sync.RWMutex
		members map[uint64]*Member
		removed map[uint64]bool
		// provisional members are known before their conf changes are
		// applied (see New).
		provisional map[uint64]bool
	}
}

// New is a cluster with the given members, known before the log's conf
// changes that add them are applied (a new cluster's, or the one a
// joining member learns from its peers): the transport can reach them at
// once, and applying their conf changes persists them. Until then they
// are provisional, and do not count when a change is validated.
func New(id uint64, members ...*Member) *Cluster {
	c := &Cluster{id: id}
	c.mu.members = map[uint64]*Member{}
	c.mu.removed = map[uint64]bool{}
	c.mu.provisional = map[uint64]bool{}
	for _, m := range members {
		c.mu.members[m.ID] = m.Clone()
		c.mu.provisional[m.ID] = true
	}
	return c
}

// ID is the cluster ID.
func (c *Cluster) ID() uint64 { return c.id }

// Member returns the member id, or nil.
func (c *Cluster) Member(id uint64) *Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if m := c.mu.members[id]; m != nil {
		return m.Clone()
	}
	return nil
}

// Members returns the members ordered by ID.
func (c *Cluster) Members() []*Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Member, 0, len(c.mu.members))
	for _, m := range c.mu.members {
		out = append(out, m.Clone())
	}
	slices.SortFunc(out, byID)
	return out
}

// IsRemoved reports whether id was removed from the cluster.
func (c *Cluster) IsRemoved(id uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mu.removed[id]
}

// RemovedIDs returns the IDs of the members removed, in order.
func (c *Cluster) RemovedIDs() []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := make([]uint64, 0, len(c.mu.removed))
	for id := range c.mu.removed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Add records a new member m as its conf change names it (replacing a
// provisional one), persisting it in tx; its published name and client
// URLs come with the log's attribute entries.
func (c *Cluster) Add(tx Writer, m *Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m = m.Clone()
	c.mu.members[m.ID] = m
	delete(c.mu.provisional, m.ID)
	return Save(tx, m)
}

// Remove drops member id, persisting it in tx.
func (c *Cluster) Remove(tx Writer, id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.members, id)
	delete(c.mu.provisional, id)
	c.mu.removed[id] = true
	key := []byte(IDString(id))
	if err := tx.UnsafeDelete(schema.Members, key); err != nil {
		return fmt.Errorf("remove member %s: %w", IDString(id), err)
	}
	if err := tx.UnsafePut(schema.MembersRemoved, key, []byte("removed")); err != nil {
		return fmt.Errorf("remove member %s: %w", IDString(id), err)
	}
	return nil
}

// SetAttributes records a member's published name and client URLs,
// persisting them in tx. A member removed meanwhile is left alone.
func (c *Cluster) SetAttributes(tx Writer, id uint64, name string, clientURLs []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.members[id]
	if m == nil {
		return nil
	}
	m.Name = name
	m.ClientURLs = slices.Clone(clientURLs)
	return Save(tx, m)
}

// Recover replaces the membership with the one persisted in r: at start,
// and when a database snapshot from the leader is installed. On error the
// membership is unchanged.
func (c *Cluster) Recover(r Reader) error {
	members, removed, err := read(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.mu.members, c.mu.removed = members, removed
	c.mu.provisional = map[uint64]bool{}
	c.mu.Unlock()
	return nil
}

// Save persists m in tx.
func Save(tx Writer, m *Member) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal member %s: %w", IDString(m.ID), err)
	}
	if err := tx.UnsafePut(schema.Members, []byte(IDString(m.ID)), data); err != nil {
		return fmt.Errorf("save member %s: %w", IDString(m.ID), err)
	}
	return nil
}

func read(r Reader) (map[uint64]*Member, map[uint64]bool, error) {
	members := map[uint64]*Member{}
	removed := map[uint64]bool{}
	err := r.ForEach(schema.Members, func(k, v []byte) error {
		var m Member
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode member %s: %w", k, err)
		}
		members[m.ID] = &m
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read members: %w", err)
	}
	err = r.ForEach(schema.MembersRemoved, func(k, _ []byte) error {
		var id uint64
		if _, err := fmt.Sscanf(string(k), "%x", &id); err == nil {
			removed[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read removed members: %w", err)
	}
	return members, removed, nil
}
