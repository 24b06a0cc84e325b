package server

import (
	"sync"
)

// waitRegistry wakes the request waiting on an ID when its entry is
// applied. A proposal registers before proposing and selects on the
// channel and its context: nothing else blocks a client request.
type waitRegistry struct {
	mu sync.Mutex
	m  map[uint64]chan any
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: map[uint64]chan any{}} }

func (w *waitRegistry) register(id uint64) <-chan any {
	ch := make(chan any, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// trigger delivers x to the waiter of id, if any, and forgets it.
func (w *waitRegistry) trigger(id uint64, x any) {
	w.mu.Lock()
	ch := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ch != nil {
		ch <- x
		close(ch)
	}
}

// appliedWait wakes waiters once the applied index reaches theirs.
type appliedWait struct {
	mu      sync.Mutex
	applied uint64
	waiters map[uint64][]chan struct{}
}

func newAppliedWait(applied uint64) *appliedWait {
	return &appliedWait{applied: applied, waiters: map[uint64][]chan struct{}{}}
}

// wait returns a channel closed when the applied index is at least index.
func (w *appliedWait) wait(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if index <= w.applied {
		close(ch)
		return ch
	}
	w.waiters[index] = append(w.waiters[index], ch)
	return ch
}

// trigger records that index is applied.
func (w *appliedWait) trigger(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if index <= w.applied {
		return
	}
	w.applied = index
	for i, chs := range w.waiters {
		if i <= index {
			for _, ch := range chs {
				close(ch)
			}
			delete(w.waiters, i)
		}
	}
}
