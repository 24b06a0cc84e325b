package tracker

// Inflights is the window of MsgApp messages sent to one follower and not
// yet acknowledged: at most a number of messages and a number of bytes.
// Each message is remembered by its last entry index, in send order.
type Inflights struct {
	start    int // ring buffer: the oldest message is buffer[start]
	count    int
	bytes    uint64
	maxCount int
	maxBytes uint64 // 0: no limit on bytes

	buffer []inflight
}

type inflight struct {
	index uint64
	bytes uint64
}

// NewInflights returns a window of at most maxCount messages and maxBytes
// bytes (0 for no byte limit).
func NewInflights(maxCount int, maxBytes uint64) *Inflights {
	return &Inflights{maxCount: maxCount, maxBytes: maxBytes}
}

// Clone returns an independent copy.
func (in *Inflights) Clone() *Inflights {
	c := *in
	c.buffer = append([]inflight(nil), in.buffer...)
	return &c
}

// Add records a message whose last entry is index and whose entries weigh
// bytes. The caller must check Full first.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		panic("tracker: Add on a full inflights window")
	}
	next := in.start + in.count
	size := len(in.buffer)
	if next >= in.maxCount {
		next -= in.maxCount
	}
	if next >= size {
		in.grow()
	}
	in.buffer[next] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// grow doubles the buffer up to maxCount: most followers never need it all.
func (in *Inflights) grow() {
	n := len(in.buffer) * 2
	if n == 0 {
		n = 1
	}
	if n > in.maxCount {
		n = in.maxCount
	}
	b := make([]inflight, n)
	copy(b, in.buffer)
	in.buffer = b
}

// FreeLE frees every message whose last index is at or below to.
func (in *Inflights) FreeLE(to uint64) {
	if in.count == 0 || to < in.buffer[in.start].index {
		return
	}
	idx := in.start
	var i int
	var freed uint64
	for i = 0; i < in.count; i++ {
		if to < in.buffer[idx].index {
			break
		}
		freed += in.buffer[idx].bytes
		idx++
		if idx >= in.maxCount {
			idx -= in.maxCount
		}
	}
	in.count -= i
	in.bytes -= freed
	in.start = idx
	if in.count == 0 {
		in.start = 0
	}
}

// Full reports whether no more messages may be sent.
func (in *Inflights) Full() bool {
	return in.count >= in.maxCount || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

// Count is the number of messages in flight.
func (in *Inflights) Count() int { return in.count }

// Bytes is the size of the entries in flight.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// Reset forgets every message.
func (in *Inflights) Reset() {
	in.count, in.bytes, in.start = 0, 0, 0
}
