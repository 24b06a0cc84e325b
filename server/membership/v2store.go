package membership

import (
	"cmp"
	"encoding/json"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// V2StoreJSON is the data of a raft snapshot as etcd writes it
// (etcdserver.GetMembershipInfoInV2Format): the membership kept in a v2
// store, /0/members/<id>/raftAttributes and /attributes,
// /0/removed_members/<id> and /0/version (the cluster version, if set),
// serialized as etcd serializes a v2 store. etcd 3.7 does not read it;
// etcd 3.5 and 3.6 recover their membership from it when they start on a
// data dir, so basalt's snapshot files carry it. Members and removed IDs
// are stored in ID order (etcd's order is its map's).
func V2StoreJSON(members []*Member, removed []uint64, clusterVersion string) ([]byte, error) {
	s := newV2Store("/0", "/1")
	// etcd first checks that the new store holds no members: a read of
	// the missing /0/members.
	s.Stats.GetFail++
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b *Member) int { return cmp.Compare(a.ID, b.ID) })
	for _, m := range members {
		raft, err := json.Marshal(struct {
			PeerURLs  []string `json:"peerURLs"`
			IsLearner bool     `json:"isLearner,omitempty"`
		}{m.PeerURLs, m.IsLearner})
		if err != nil {
			return nil, err
		}
		s.create(path.Join(memberKey(m.ID), "raftAttributes"), string(raft), "create")
		s.Stats.CreateSuccess++
		if m.ClientURLs != nil {
			attrs, err := json.Marshal(struct {
				Name       string   `json:"name,omitempty"`
				ClientURLs []string `json:"clientURLs,omitempty"`
			}{m.Name, m.ClientURLs})
			if err != nil {
				return nil, err
			}
			s.create(path.Join(memberKey(m.ID), "attributes"), string(attrs), "set")
			s.Stats.SetSuccess++
		}
	}
	removed = slices.Clone(removed)
	slices.Sort(removed)
	for _, id := range removed {
		s.create(path.Join("/0/removed_members", strconv.FormatUint(id, 16)), "", "create")
		s.Stats.CreateSuccess++
	}
	if clusterVersion != "" {
		s.create("/0/version", clusterVersion, "set")
		s.Stats.SetSuccess++
	}
	return json.Marshal(s)
}

func memberKey(id uint64) string { return path.Join("/0/members", strconv.FormatUint(id, 16)) }

// The shapes below are those encoding/json gives etcd's v2store types
// (store, node, watcherHub, EventHistory, eventQueue, Event, NodeExtern,
// Stats): field names, order and tags are the format.

type v2Store struct {
	Root           *v2Node
	WatcherHub     *v2WatcherHub
	CurrentIndex   uint64
	Stats          *v2Stats
	CurrentVersion int
}

type v2Node struct {
	Path          string
	CreatedIndex  uint64
	ModifiedIndex uint64
	ExpireTime    time.Time
	Value         string
	Children      map[string]*v2Node
}

type v2WatcherHub struct {
	EventHistory *v2EventHistory
}

type v2EventHistory struct {
	Queue      v2EventQueue
	StartIndex uint64
	LastIndex  uint64
}

type v2EventQueue struct {
	Events   []*v2Event
	Size     int
	Front    int
	Back     int
	Capacity int
}

type v2Event struct {
	Action   string        `json:"action"`
	Node     *v2NodeExtern `json:"node,omitempty"`
	PrevNode *v2NodeExtern `json:"prevNode,omitempty"`
	Refresh  bool          `json:"refresh,omitempty"`
}

type v2NodeExtern struct {
	Key           string          `json:"key,omitempty"`
	Value         *string         `json:"value,omitempty"`
	Dir           bool            `json:"dir,omitempty"`
	Expiration    *time.Time      `json:"expiration,omitempty"`
	TTL           int64           `json:"ttl,omitempty"`
	Nodes         []*v2NodeExtern `json:"nodes,omitempty"`
	ModifiedIndex uint64          `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64          `json:"createdIndex,omitempty"`
}

type v2Stats struct {
	GetSuccess              uint64 `json:"getsSuccess"`
	GetFail                 uint64 `json:"getsFail"`
	SetSuccess              uint64 `json:"setsSuccess"`
	SetFail                 uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}

// v2HistoryCapacity is the events a v2 store keeps.
const v2HistoryCapacity = 1000

func newV2Store(namespaces ...string) *v2Store {
	s := &v2Store{
		Root:           newV2Dir("/", 0),
		WatcherHub:     &v2WatcherHub{EventHistory: &v2EventHistory{Queue: v2EventQueue{Capacity: v2HistoryCapacity, Events: make([]*v2Event, v2HistoryCapacity)}}},
		Stats:          &v2Stats{},
		CurrentVersion: 2,
	}
	for _, ns := range namespaces {
		s.Root.Children[path.Base(ns)] = newV2Dir(ns, 0)
	}
	return s
}

func newV2Dir(p string, index uint64) *v2Node {
	return &v2Node{Path: p, CreatedIndex: index, ModifiedIndex: index, Children: map[string]*v2Node{}}
}

// create adds a permanent key at p (its missing directories made at the
// same index) and records the event, as the v2 store's Create and Set do
// for a key that does not exist.
func (s *v2Store) create(p, value, action string) {
	next := s.CurrentIndex + 1
	dir := s.Root
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for _, name := range parts[:len(parts)-1] {
		child, ok := dir.Children[name]
		if !ok {
			child = newV2Dir(path.Join(dir.Path, name), next)
			dir.Children[name] = child
		}
		dir = child
	}
	dir.Children[parts[len(parts)-1]] = &v2Node{Path: p, CreatedIndex: next, ModifiedIndex: next, Value: value}
	v := value
	s.WatcherHub.EventHistory.add(&v2Event{Action: action, Node: &v2NodeExtern{Key: p, Value: &v, ModifiedIndex: next, CreatedIndex: next}})
	s.CurrentIndex = next
}

func (h *v2EventHistory) add(e *v2Event) {
	q := &h.Queue
	q.Events[q.Back] = e
	q.Back = (q.Back + 1) % q.Capacity
	if q.Size == q.Capacity {
		q.Front = (q.Front + 1) % q.Capacity
	} else {
		q.Size++
	}
	h.LastIndex = e.Node.ModifiedIndex
	h.StartIndex = q.Events[q.Front].Node.ModifiedIndex
}
