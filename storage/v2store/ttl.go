package v2store

import "container/heap"

// ttlHeap orders the nodes with a TTL by expiry time, earliest first.
type ttlHeap []*node

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].ExpireTime.Before(h[j].ExpireTime) }
func (h ttlHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
func (h *ttlHeap) Push(x any) {
	n := x.(*node)
	n.heapIndex = len(*h)
	*h = append(*h, n)
}
func (h *ttlHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	n.heapIndex = -1
	return n
}

func (h *ttlHeap) top() *node {
	if len(*h) == 0 {
		return nil
	}
	return (*h)[0]
}

func (h *ttlHeap) push(n *node) { heap.Push(h, n) }

func (h *ttlHeap) remove(n *node) {
	if n.heapIndex >= 0 && n.heapIndex < len(*h) && (*h)[n.heapIndex] == n {
		heap.Remove(h, n.heapIndex)
	}
}

// update moves n after its expiry time changed, adding it if absent.
func (h *ttlHeap) update(n *node) {
	if n.heapIndex >= 0 && n.heapIndex < len(*h) && (*h)[n.heapIndex] == n {
		heap.Fix(h, n.heapIndex)
		return
	}
	h.push(n)
}
