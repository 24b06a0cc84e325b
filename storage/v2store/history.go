package v2store

import (
	"fmt"
	"path"
	"strings"
)

// historyCapacity is how many events the store keeps for watchers that
// ask for a past index.
const historyCapacity = 1000

// eventQueue is a ring of the last Capacity events; its fields are the
// saved form.
type eventQueue struct {
	Events   []*Event
	Size     int
	Front    int
	Back     int
	Capacity int
}

func (q *eventQueue) insert(e *Event) {
	q.Events[q.Back] = e
	q.Back = (q.Back + 1) % q.Capacity
	if q.Size == q.Capacity {
		q.Front = (q.Front + 1) % q.Capacity
	} else {
		q.Size++
	}
}

// eventHistory is the ring with the indexes of its first and last events.
type eventHistory struct {
	Queue      eventQueue
	StartIndex uint64
	LastIndex  uint64
}

func newEventHistory(capacity int) *eventHistory {
	return &eventHistory{Queue: eventQueue{Capacity: capacity, Events: make([]*Event, capacity)}}
}

func (h *eventHistory) add(e *Event) {
	h.Queue.insert(e)
	h.LastIndex = e.Index()
	h.StartIndex = h.Queue.Events[h.Queue.Front].Index()
}

// scan finds the first event at or after index that a watcher of key
// (recursive or not) is told of: nil when none has happened yet, an
// EcodeEventIndexCleared error when index is older than the history.
func (h *eventHistory) scan(key string, recursive bool, index uint64) (*Event, *Error) {
	if index < h.StartIndex {
		return nil, NewError(EcodeEventIndexCleared, fmt.Sprintf("the requested history has been cleared [%v/%v]", h.StartIndex, index), 0)
	}
	if index > h.LastIndex || h.Queue.Size == 0 {
		return nil, nil
	}
	prefix := path.Clean(key)
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	i := (h.Queue.Front + int(index-h.StartIndex)) % h.Queue.Capacity
	for {
		e := h.Queue.Events[i]
		if !e.Refresh && matches(e, key, prefix, recursive) {
			return e, nil
		}
		i = (i + 1) % h.Queue.Capacity
		if i == h.Queue.Back {
			return nil, nil
		}
	}
}

// matches: a watcher of key is told of e. A deleted or expired directory
// is news for watchers of anything under it.
func matches(e *Event, key, prefix string, recursive bool) bool {
	if e.Node.Key == key || (recursive && strings.HasPrefix(e.Node.Key, prefix)) {
		return true
	}
	return (e.Action == Delete || e.Action == Expire) && e.PrevNode != nil && e.PrevNode.Dir && strings.HasPrefix(key, e.PrevNode.Key)
}

func (h *eventHistory) clone() *eventHistory {
	c := *h
	c.Queue.Events = make([]*Event, len(h.Queue.Events))
	copy(c.Queue.Events, h.Queue.Events)
	return &c
}
