package v2store

import (
	"container/list"
	"path"
	"strings"
	"sync"
)

// Watcher receives the events of a watch. A watcher that is not a stream
// receives one event; a stream receives events until removed. A watcher
// too slow to take its events (100 buffered) is dropped and its channel
// left to drain.
type Watcher interface {
	// EventChan delivers the events; it is closed by Remove.
	EventChan() chan *Event
	// StartIndex is the store's index when the watch began
	// (X-Etcd-Index of the response).
	StartIndex() uint64
	// Remove ends the watch.
	Remove()
}

type watcher struct {
	events     chan *Event
	recursive  bool
	stream     bool
	sinceIndex uint64
	startIndex uint64
	hub        *watcherHub
	// removed and remove are guarded by hub.mu.
	removed bool
	remove  func()
}

func (w *watcher) EventChan() chan *Event { return w.events }
func (w *watcher) StartIndex() uint64     { return w.startIndex }

func (w *watcher) Remove() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	close(w.events)
	if w.remove != nil {
		w.remove()
	}
}

// notifyLocked hands e to the watcher if it wants it; true if it was
// handed (or the watcher was too slow and is now removed).
func (w *watcher) notifyLocked(e *Event, originalPath, deleted bool) bool {
	if !(w.recursive || originalPath || deleted) || e.Index() < w.sinceIndex {
		return false
	}
	select {
	case w.events <- e:
	default:
		w.remove()
	}
	return true
}

// watcherHub holds the watchers by the key they watch, and the history.
type watcherHub struct {
	mu       sync.Mutex
	watchers map[string]*list.List
	count    int64
	history  *eventHistory
	metrics  *storeMetrics
}

func newWatcherHub(capacity int, m *storeMetrics) *watcherHub {
	return &watcherHub{watchers: map[string]*list.List{}, history: newEventHistory(capacity), metrics: m}
}

// watch starts a watch of key from index; storeIndex is the store's
// current index. An event already in the history is delivered at once.
func (h *watcherHub) watch(key string, recursive, stream bool, index, storeIndex uint64) (Watcher, *Error) {
	h.metrics.watchRequests.Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	e, err := h.history.scan(key, recursive, index)
	if err != nil {
		err.Index = storeIndex
		return nil, err
	}
	w := &watcher{events: make(chan *Event, 100), recursive: recursive, stream: stream, sinceIndex: index, startIndex: storeIndex, hub: h}
	if e != nil {
		c := e.Clone()
		c.EtcdIndex = storeIndex
		w.events <- c
		return w, nil
	}
	l, ok := h.watchers[key]
	if !ok {
		l = list.New()
		h.watchers[key] = l
	}
	elem := l.PushBack(w)
	w.remove = func() {
		if w.removed {
			return
		}
		w.removed = true
		l.Remove(elem)
		h.count--
		h.metrics.watchers.Dec()
		if l.Len() == 0 {
			delete(h.watchers, key)
		}
	}
	h.count++
	h.metrics.watchers.Inc()
	return w, nil
}

// add records e in the history without telling watchers (a refresh).
func (h *watcherHub) add(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history.add(e)
}

// notify records e and tells the watchers of its key and of every
// directory above it.
func (h *watcherHub) notify(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history.add(e)
	p := "/"
	for _, seg := range strings.Split(e.Node.Key, "/") {
		p = path.Join(p, seg)
		h.notifyWatchersLocked(e, p, false)
	}
}

// notifyWatchers tells the watchers of nodePath, a node e deleted.
func (h *watcherHub) notifyWatchers(e *Event, nodePath string, deleted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyWatchersLocked(e, nodePath, deleted)
}

func (h *watcherHub) notifyWatchersLocked(e *Event, nodePath string, deleted bool) {
	l, ok := h.watchers[nodePath]
	if !ok {
		return
	}
	originalPath := e.Node.Key == nodePath
	for el := l.Front(); el != nil; {
		next := el.Next()
		w := el.Value.(*watcher)
		if (originalPath || !hiddenBelow(nodePath, e.Node.Key)) && w.notifyLocked(e, originalPath, deleted) && !w.stream {
			w.remove()
		}
		el = next
	}
}

// hiddenBelow: keyPath lies under a hidden node below watchPath.
func hiddenBelow(watchPath, keyPath string) bool {
	if len(watchPath) > len(keyPath) {
		return false
	}
	return strings.Contains(path.Clean("/"+keyPath[len(watchPath):]), "/_")
}

func (h *watcherHub) watcherCount() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}
