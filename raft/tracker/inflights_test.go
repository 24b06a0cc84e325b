package tracker

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// contents returns the messages in flight, oldest first.
func (in *Inflights) contents() []inflight {
	out := make([]inflight, 0, in.count)
	for i := 0; i < in.count; i++ {
		out = append(out, in.buffer[(in.start+i)%in.maxCount])
	}
	return out
}

// naiveInflights is the reference: a plain slice, oldest first.
type naiveInflights struct {
	maxCount int
	maxBytes uint64
	msgs     []inflight
}

func (n *naiveInflights) bytes() uint64 {
	var b uint64
	for _, m := range n.msgs {
		b += m.bytes
	}
	return b
}

func (n *naiveInflights) full() bool {
	return len(n.msgs) >= n.maxCount || (n.maxBytes != 0 && n.bytes() >= n.maxBytes)
}

func (n *naiveInflights) add(index, bytes uint64) { n.msgs = append(n.msgs, inflight{index, bytes}) }

func (n *naiveInflights) freeLE(to uint64) {
	for len(n.msgs) > 0 && n.msgs[0].index <= to {
		n.msgs = n.msgs[1:]
	}
}

func checkInflights(t *testing.T, step string, in *Inflights, want *naiveInflights) {
	t.Helper()
	if got := in.contents(); !reflect.DeepEqual(got, append([]inflight{}, want.msgs...)) {
		t.Fatalf("%s: in flight %v, want %v", step, got, want.msgs)
	}
	if in.Count() != len(want.msgs) || in.Bytes() != want.bytes() || in.Full() != want.full() {
		t.Fatalf("%s: count %d bytes %d full %v; want %d %d %v", step, in.Count(), in.Bytes(), in.Full(), len(want.msgs), want.bytes(), want.full())
	}
}

func TestInflightsWraparound(t *testing.T) {
	in := NewInflights(10, 0)
	want := &naiveInflights{maxCount: 10}
	for i := uint64(0); i < 5; i++ {
		in.Add(i, 1)
		want.add(i, 1)
	}
	checkInflights(t, "five added", in, want)
	in.FreeLE(3)
	want.freeLE(3)
	checkInflights(t, "four freed", in, want)
	if in.start != 4 {
		t.Fatalf("start = %d, want 4", in.start)
	}
	// Nine more: positions 5..9, then round to 0..3.
	for i := uint64(5); i < 14; i++ {
		in.Add(i, 1)
		want.add(i, 1)
	}
	checkInflights(t, "wrapped", in, want)
	if !in.Full() || in.buffer[0].index != 10 || len(in.buffer) != 10 {
		t.Fatalf("full %v, buffer[0] %v, len %d; want full, index 10 at position 0, len 10", in.Full(), in.buffer[0], len(in.buffer))
	}
	if !panics(func() { in.Add(14, 1) }) {
		t.Fatal("Add on a full window did not panic")
	}
	// Freeing across the end of the buffer.
	in.FreeLE(9)
	want.freeLE(9)
	checkInflights(t, "freed across the end", in, want)
	if in.start != 0 {
		t.Fatalf("start = %d after freeing up to the end, want 0", in.start)
	}
	in.FreeLE(12)
	want.freeLE(12)
	checkInflights(t, "freed in the wrapped part", in, want)
	in.FreeLE(100)
	want.freeLE(100)
	checkInflights(t, "all freed", in, want)
	if in.start != 0 {
		t.Fatalf("start = %d on an empty window, want 0", in.start)
	}
}

func TestInflightsFreeLE(t *testing.T) {
	tests := []struct {
		name      string
		to        uint64
		wantCount int
		wantBytes uint64
	}{
		{"below the oldest", 1, 3, 60},
		{"between messages", 4, 2, 50},
		{"exactly one", 2, 2, 50},
		{"two", 5, 1, 30},
		{"all", 8, 0, 0},
		{"beyond all", 100, 0, 0},
	}
	for _, tt := range tests {
		in := NewInflights(4, 0)
		in.Add(2, 10)
		in.Add(5, 20)
		in.Add(8, 30)
		in.FreeLE(tt.to)
		if in.Count() != tt.wantCount || in.Bytes() != tt.wantBytes {
			t.Errorf("%s: FreeLE(%d): count %d bytes %d, want %d %d", tt.name, tt.to, in.Count(), in.Bytes(), tt.wantCount, tt.wantBytes)
		}
	}
}

func TestInflightsByteLimit(t *testing.T) {
	tests := []struct {
		name     string
		maxCount int
		maxBytes uint64
		adds     []uint64 // bytes of each message
		wantFull bool
	}{
		{"under the byte limit", 10, 100, []uint64{30, 60}, false},
		{"at the byte limit", 10, 100, []uint64{40, 60}, true},
		// One message may exceed the limit by itself: it must go out.
		{"one large message", 10, 100, []uint64{1000}, true},
		{"count limit first", 2, 100, []uint64{1, 1}, true},
		{"no byte limit", 10, 0, []uint64{1 << 40, 1 << 40}, false},
		{"empty messages never fill bytes", 10, 1, []uint64{0, 0, 0}, false},
	}
	for _, tt := range tests {
		in := NewInflights(tt.maxCount, tt.maxBytes)
		for i, b := range tt.adds {
			in.Add(uint64(i+1), b)
		}
		if in.Full() != tt.wantFull {
			t.Errorf("%s: Full = %v, want %v", tt.name, in.Full(), tt.wantFull)
		}
	}

	// Freeing bytes reopens the window.
	in := NewInflights(10, 100)
	in.Add(1, 60)
	in.Add(2, 40)
	if !in.Full() {
		t.Fatal("100 bytes in flight with a 100-byte limit is not full")
	}
	in.FreeLE(1)
	if in.Full() || in.Bytes() != 40 {
		t.Fatalf("after freeing 60 bytes: full %v bytes %d", in.Full(), in.Bytes())
	}
}

func TestInflightsResetAndClone(t *testing.T) {
	in := NewInflights(3, 50)
	in.Add(1, 10)
	in.Add(2, 20)
	c := in.Clone()
	in.FreeLE(1)
	in.Add(3, 30)
	if got := c.contents(); !reflect.DeepEqual(got, []inflight{{1, 10}, {2, 20}}) || c.Bytes() != 30 {
		t.Fatalf("clone changed with the original: %v, %d bytes", got, c.Bytes())
	}
	in.Reset()
	if in.Count() != 0 || in.Bytes() != 0 || in.Full() {
		t.Fatalf("after Reset: count %d bytes %d full %v", in.Count(), in.Bytes(), in.Full())
	}
	in.Add(7, 5)
	if got := in.contents(); !reflect.DeepEqual(got, []inflight{{7, 5}}) {
		t.Fatalf("after Reset and Add: %v", got)
	}
}

// TestInflightsRandomized compares Inflights with the naive reference over
// random sequences of the operations the leader performs.
func TestInflightsRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	configs := []struct {
		maxCount int
		maxBytes uint64
	}{{1, 0}, {2, 0}, {3, 10}, {7, 0}, {16, 100}, {256, 1000}}
	for _, cfg := range configs {
		in := NewInflights(cfg.maxCount, cfg.maxBytes)
		want := &naiveInflights{maxCount: cfg.maxCount, maxBytes: cfg.maxBytes}
		var next uint64 = 1
		for step := 0; step < 5000; step++ {
			var desc string
			switch op := rng.IntN(10); {
			case op < 5:
				if want.full() {
					desc = "full, no add"
					break
				}
				next += uint64(rng.IntN(3)) // indexes grow, sometimes repeat (empty probes)
				b := uint64(rng.IntN(int(cfg.maxBytes/2) + 2))
				in.Add(next, b)
				want.add(next, b)
				desc = "add"
			case op < 9:
				// Acknowledgements mostly inside the window, sometimes
				// stale or beyond it.
				to := next - uint64(rng.IntN(int(min(next, 2*uint64(cfg.maxCount)+2))))
				if rng.IntN(10) == 0 {
					to = next + uint64(rng.IntN(5))
				}
				in.FreeLE(to)
				want.freeLE(to)
				desc = "free"
			default:
				if rng.IntN(10) == 0 {
					in.Reset()
					want.msgs = nil
					desc = "reset"
				} else {
					in = in.Clone()
					desc = "clone"
				}
			}
			checkInflights(t, desc, in, want)
		}
	}
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

// BenchmarkInflightsAddFreeLE is the leader's per-MsgApp bookkeeping in
// steady replication: one message sent, one acknowledged.
func BenchmarkInflightsAddFreeLE(b *testing.B) {
	in := NewInflights(256, 0)
	for i := uint64(1); i <= 128; i++ {
		in.Add(i, 64)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := uint64(129); i < uint64(b.N)+129; i++ {
		in.Add(i, 64)
		in.FreeLE(i - 128)
	}
}
