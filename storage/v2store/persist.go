package v2store

import (
	"container/list"
	"encoding/json"
	"fmt"
	"path"
)

// saved is the store's saved form (see doc.go).
type saved struct {
	Root           *node
	WatcherHub     savedHub
	CurrentIndex   uint64
	Stats          *Stats
	CurrentVersion int
}

type savedHub struct {
	EventHistory *eventHistory
}

// Save is the store as JSON, for a raft snapshot.
func (s *Store) Save() ([]byte, error) { return s.SaveWith(nil) }

// SaveWith saves the store with some top-level directories taken from
// another saved store instead (the member's membership, kept elsewhere,
// goes into its snapshots as etcd's /0 so that etcd reads it).
func (s *Store) SaveWith(other []byte, namespaces ...string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	root := s.root
	if len(namespaces) > 0 {
		var o saved
		if err := json.Unmarshal(other, &o); err != nil {
			return nil, fmt.Errorf("decode the saved store to take %v from: %w", namespaces, err)
		}
		// A shallow copy of the root with the grafted namespaces: the
		// tree itself is only read.
		r := *root
		r.Children = make(map[string]*node, len(root.Children))
		for k, v := range root.Children {
			r.Children[k] = v
		}
		for _, ns := range namespaces {
			name := path.Base(ns)
			if o.Root != nil && o.Root.Children[name] != nil {
				r.Children[name] = o.Root.Children[name]
			}
		}
		root = &r
	}
	s.hub.mu.Lock()
	history := s.hub.history.clone()
	s.hub.mu.Unlock()
	st := s.stats.snapshot()
	return json.Marshal(saved{Root: root, WatcherHub: savedHub{EventHistory: history}, CurrentIndex: s.index, Stats: &st, CurrentVersion: s.version})
}

// Recover replaces the store's contents with a saved store. Watchers are
// dropped: their events may never come (etcd's "watcher cleared").
func (s *Store) Recover(data []byte) error {
	var o saved
	if err := json.Unmarshal(data, &o); err != nil {
		return fmt.Errorf("decode the saved v2 store: %w", err)
	}
	if o.Root == nil || o.Root.Children == nil {
		return fmt.Errorf("decode the saved v2 store: no root directory")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root = o.Root
	s.index = o.CurrentIndex
	if o.CurrentVersion != 0 {
		s.version = o.CurrentVersion
	}
	if o.Stats != nil {
		s.stats = o.Stats
	}
	s.ttls = nil
	s.link(s.root, nil)
	// Namespaces the saved store lacks are created, as New would.
	for ns := range s.readonly {
		if ns != "/" && s.root.Children[path.Base(ns)] == nil {
			s.root.Children[path.Base(ns)] = newDir(ns, 0, s.root, Permanent)
		}
	}
	h := o.WatcherHub.EventHistory
	if h == nil || h.Queue.Capacity == 0 || len(h.Queue.Events) != h.Queue.Capacity {
		h = newEventHistory(historyCapacity)
	}
	s.hub.clear(h)
	return nil
}

// link sets the parents and the TTL heap of a decoded tree.
func (s *Store) link(n, parent *node) {
	n.parent = parent
	n.heapIndex = -1
	for _, c := range n.Children {
		s.link(c, n)
	}
	if !n.isPermanent() {
		s.ttls.push(n)
	}
}

// clear forgets every watcher and installs a history. The watchers' channels
// stay open and receive nothing more (as etcd's after a recovery): their
// HTTP requests end at their timeout and clients watch again.
func (h *watcherHub) clear(history *eventHistory) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.watchers {
		for el := l.Front(); el != nil; el = el.Next() {
			w := el.Value.(*watcher)
			w.removed = true
			h.metrics.watchers.Dec()
		}
	}
	h.watchers = map[string]*list.List{}
	h.count = 0
	h.history = history
}
