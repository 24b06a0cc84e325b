package v2store

import (
	"path"
	"slices"
	"strings"
	"time"
)

// Permanent is the expiry time of a node without a TTL.
var Permanent time.Time

// minExpireTime: an expiry time before it means no TTL (as in etcd, so a
// zero or bogus expiration never expires a key at once).
var minExpireTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// node is a key (Children nil) or a directory. Its exported fields are the
// saved form.
type node struct {
	Path          string
	CreatedIndex  uint64
	ModifiedIndex uint64
	ExpireTime    time.Time
	Value         string
	Children      map[string]*node

	parent *node
	// heapIndex is the node's place in the TTL heap, -1 when not in it.
	heapIndex int
}

func newKey(p, value string, index uint64, parent *node, expire time.Time) *node {
	return &node{Path: p, CreatedIndex: index, ModifiedIndex: index, ExpireTime: expire, Value: value, parent: parent, heapIndex: -1}
}

func newDir(p string, index uint64, parent *node, expire time.Time) *node {
	return &node{Path: p, CreatedIndex: index, ModifiedIndex: index, ExpireTime: expire, Children: map[string]*node{}, parent: parent, heapIndex: -1}
}

func (n *node) isDir() bool       { return n.Children != nil }
func (n *node) isPermanent() bool { return n.ExpireTime.IsZero() }
func (n *node) name() string      { return path.Base(n.Path) }

// isHidden: the node's name begins with '_'.
func (n *node) isHidden() bool { return strings.HasPrefix(n.name(), "_") }

// expirationAndTTL are what clients see of a TTL: the expiry time in UTC
// and the seconds left, rounded up.
func (n *node) expirationAndTTL(now time.Time) (*time.Time, int64) {
	if n.isPermanent() {
		return nil, 0
	}
	left := n.ExpireTime.Sub(now)
	ttl := left / time.Second
	if left%time.Second > 0 {
		ttl++
	}
	t := n.ExpireTime.UTC()
	return &t, int64(ttl)
}

// compare tells whether the node matches the given previous value and
// index (empty and 0 match anything) and, if not, the cause etcd reports.
func (n *node) compare(prevValue string, prevIndex uint64) (bool, string) {
	indexOK := prevIndex == 0 || n.ModifiedIndex == prevIndex
	valueOK := prevValue == "" || n.Value == prevValue
	switch {
	case indexOK && valueOK:
		return true, ""
	case indexOK:
		return false, "[" + prevValue + " != " + n.Value + "]"
	case valueOK:
		return false, "[" + uitoa(prevIndex) + " != " + uitoa(n.ModifiedIndex) + "]"
	default:
		return false, "[" + prevValue + " != " + n.Value + "] [" + uitoa(prevIndex) + " != " + uitoa(n.ModifiedIndex) + "]"
	}
}

// extern is the node as clients see it; a directory lists its visible
// children, and their subtrees when recursive.
func (n *node) extern(recursive, sorted bool, now time.Time) *NodeExtern {
	e := &NodeExtern{Key: n.Path, ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
	e.Expiration, e.TTL = n.expirationAndTTL(now)
	if !n.isDir() {
		v := n.Value
		e.Value = &v
		return e
	}
	e.Dir = true
	if recursive {
		e.Nodes = n.externChildren(recursive, sorted, now)
	}
	return e
}

// externChildren are the visible children of a directory.
func (n *node) externChildren(recursive, sorted bool, now time.Time) []*NodeExtern {
	nodes := make([]*NodeExtern, 0, len(n.Children))
	for _, c := range n.Children {
		if !c.isHidden() {
			nodes = append(nodes, c.extern(recursive, sorted, now))
		}
	}
	if sorted {
		slices.SortFunc(nodes, func(a, b *NodeExtern) int { return strings.Compare(a.Key, b.Key) })
	}
	return nodes
}

// clone copies the subtree under a new parent.
func (n *node) clone(parent *node) *node {
	c := &node{Path: n.Path, CreatedIndex: n.CreatedIndex, ModifiedIndex: n.ModifiedIndex, ExpireTime: n.ExpireTime, Value: n.Value, parent: parent, heapIndex: -1}
	if n.Children != nil {
		c.Children = make(map[string]*node, len(n.Children))
		for k, child := range n.Children {
			c.Children[k] = child.clone(c)
		}
	}
	return c
}
