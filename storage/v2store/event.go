package v2store

import (
	"strconv"
	"time"
)

// The actions of events, as clients see them.
const (
	Get              = "get"
	Create           = "create"
	Set              = "set"
	Update           = "update"
	Delete           = "delete"
	CompareAndSwap   = "compareAndSwap"
	CompareAndDelete = "compareAndDelete"
	Expire           = "expire"
)

// Event is the result of an operation and what watchers receive; its JSON
// is the v2 API's response body.
type Event struct {
	Action   string      `json:"action"`
	Node     *NodeExtern `json:"node,omitempty"`
	PrevNode *NodeExtern `json:"prevNode,omitempty"`
	// EtcdIndex is the store's index when the event was answered
	// (X-Etcd-Index).
	EtcdIndex uint64 `json:"-"`
	// Refresh marks a TTL refresh: kept in the history, never sent to
	// watchers.
	Refresh bool `json:"refresh,omitempty"`
}

// NodeExtern is a node in a response.
type NodeExtern struct {
	Key           string        `json:"key,omitempty"`
	Value         *string       `json:"value,omitempty"`
	Dir           bool          `json:"dir,omitempty"`
	Expiration    *time.Time    `json:"expiration,omitempty"`
	TTL           int64         `json:"ttl,omitempty"`
	Nodes         []*NodeExtern `json:"nodes,omitempty"`
	ModifiedIndex uint64        `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64        `json:"createdIndex,omitempty"`
}

func newEvent(action, key string, modifiedIndex, createdIndex uint64) *Event {
	return &Event{Action: action, Node: &NodeExtern{Key: key, ModifiedIndex: modifiedIndex, CreatedIndex: createdIndex}}
}

// IsCreated: the event made a new node (HTTP 201).
func (e *Event) IsCreated() bool {
	return e.Action == Create || (e.Action == Set && e.PrevNode == nil)
}

// Index is the index the event happened at.
func (e *Event) Index() uint64 { return e.Node.ModifiedIndex }

// Clone is a deep copy, without the refresh mark (as etcd's).
func (e *Event) Clone() *Event {
	return &Event{Action: e.Action, EtcdIndex: e.EtcdIndex, Node: e.Node.Clone(), PrevNode: e.PrevNode.Clone()}
}

// Clone is a deep copy.
func (n *NodeExtern) Clone() *NodeExtern {
	if n == nil {
		return nil
	}
	c := *n
	if n.Value != nil {
		v := *n.Value
		c.Value = &v
	}
	if n.Expiration != nil {
		t := *n.Expiration
		c.Expiration = &t
	}
	if n.Nodes != nil {
		c.Nodes = make([]*NodeExtern, len(n.Nodes))
		for i, child := range n.Nodes {
			c.Nodes[i] = child.Clone()
		}
	}
	return &c
}

func uitoa(i uint64) string { return strconv.FormatUint(i, 10) }
