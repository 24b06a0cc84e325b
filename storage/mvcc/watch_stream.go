package mvcc

import (
	"sync"
)

// WatchStream multiplexes many watchers onto one channel, as one gRPC
// watch stream does.
type WatchStream struct {
	s  *Store
	ch chan WatchResponse

	mu       sync.Mutex
	nextID   WatchID
	watchers map[WatchID]*watcher
	closed   bool
}

// NewWatchStream returns a stream with no watchers.
func (s *Store) NewWatchStream() *WatchStream {
	watchStreamGauge.Inc()
	return &WatchStream{s: s, ch: make(chan WatchResponse, chanBufLen), watchers: map[WatchID]*watcher{}}
}

// Watch adds a watcher on [key, end) (end as in TxnRead.Range) from
// startRev (0: from the next write) and returns its ID. id is the
// client's choice, or AutoWatchID.
func (ws *WatchStream) Watch(id WatchID, key, end []byte, startRev int64, filters ...FilterFunc) (WatchID, error) {
	end = normalizeEnd(end)
	if len(end) > 0 && string(end) <= string(key) {
		return -1, ErrEmptyWatcherRange
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return -1, ErrClosed
	}
	if id == AutoWatchID {
		for ws.watchers[ws.nextID] != nil {
			ws.nextID++
		}
		id = ws.nextID
		ws.nextID++
	} else if ws.watchers[id] != nil {
		return -1, ErrWatcherDuplicateID
	}
	w := &watcher{key: append([]byte(nil), key...), id: id, filters: filters, stream: ws}
	if end != nil {
		w.end = append([]byte{}, end...)
	}
	ws.watchers[id] = w
	ws.s.watch.add(w, startRev)
	watcherGauge.Inc()
	return id, nil
}

// Chan delivers the responses of every watcher of the stream. Report the
// events of every response taken from it with EventsReceived.
func (ws *WatchStream) Chan() <-chan WatchResponse { return ws.ch }

// Cancel removes a watcher. Responses already queued may still arrive.
func (ws *WatchStream) Cancel(id WatchID) error {
	ws.mu.Lock()
	w := ws.watchers[id]
	delete(ws.watchers, id)
	ws.mu.Unlock()
	if w == nil {
		return ErrWatcherNotExist
	}
	ws.s.watch.remove(w)
	watcherGauge.Dec()
	return nil
}

// RequestProgress sends the watcher an empty response at the current
// revision, if it is caught up (otherwise its next events will tell).
func (ws *WatchStream) RequestProgress(id WatchID) {
	ws.mu.Lock()
	w := ws.watchers[id]
	ws.mu.Unlock()
	if w == nil {
		return
	}
	st := ws.s.watch
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.synced.contains(w) {
		return
	}
	select {
	case ws.ch <- WatchResponse{WatchID: id, Revision: st.currentRevLocked()}:
	default:
	}
}

// AllSynced reports whether every watcher of the stream is caught up, and
// the revision they are current to: a stream-wide progress notification
// may be sent only then.
func (ws *WatchStream) AllSynced() (bool, int64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	st := ws.s.watch
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, w := range ws.watchers {
		if !st.synced.contains(w) {
			return false, 0
		}
	}
	return true, st.currentRevLocked()
}

// Rev is the store's current revision.
func (ws *WatchStream) Rev() int64 { return ws.s.Rev() }

// Close cancels every watcher of the stream.
func (ws *WatchStream) Close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return
	}
	ws.closed = true
	watchStreamGauge.Dec()
	watcherGauge.Sub(float64(len(ws.watchers)))
	for id, w := range ws.watchers {
		ws.s.watch.remove(w)
		delete(ws.watchers, id)
	}
}
