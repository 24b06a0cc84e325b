package bench

import (
	"context"
	"testing"
	"time"
)

func TestKeyOf(t *testing.T) {
	tests := []struct {
		size int
		n    int64
		want []byte
	}{
		{8, 0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{8, 1, []byte{2, 0, 0, 0, 0, 0, 0, 0}},
		{8, 300, []byte{0xd8, 0x04, 0, 0, 0, 0, 0, 0}},
		{1, 300, []byte{0xd8}}, // too short: truncated, never a panic
		{0, 5, []byte{}},
	}
	for _, tt := range tests {
		k := make([]byte, tt.size)
		for i := range k {
			k[i] = 0xff // keyOf must clear what a previous key left
		}
		keyOf(k, tt.n)
		if string(k) != string(tt.want) {
			t.Errorf("keyOf(size %d, %d) = %x, want %x", tt.size, tt.n, k, tt.want)
		}
	}
}

func TestSIBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 9: "9 B", 999: "999 B", 1000: "1.0 kB", 1234567: "1.2 MB", 25 << 20: "26 MB"} {
		if got := siBytes(n); got != want {
			t.Errorf("siBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	if l := newLimiter(0, 1); l != nil {
		t.Fatal("rate 0 must mean no limiter")
	}
	var none *limiter
	if err := none.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 20 requests at 200/s with no burst take at least 19 intervals.
	l := newLimiter(200, 1)
	start := time.Now()
	for range 20 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 19*5*time.Millisecond {
		t.Errorf("20 waits at 200/s took %v", d)
	}
	// A burst of 50 lets 50 through at once.
	l = newLimiter(1, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 50 {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("wait %d of the burst: %v", i, err)
		}
	}
	// The 51st waits a second; a cancelled context ends the wait.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := l.Wait(cctx); err == nil {
		t.Error("wait past the burst with a cancelled context returned nil")
	}
}
