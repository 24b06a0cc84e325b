package wal

import (
	"fmt"
	"testing"
)

// TestNextFrameAmongZeros: a frame is found wherever it sits
// among zeros (inside a zero block, at a block's edge, at the very end),
// and zeros alone hold none.
func TestNextFrameAmongZeros(t *testing.T) {
	rec, _ := appendBytesFrame(nil, entryType, 0, []byte("payload"))
	for _, at := range []int{0, 8, 4088, 4096, 4104, 3*4096 - 8, 5 * 4096} {
		for _, from := range []int{0, 1, at} {
			if from > at {
				continue // an aligned start past the record
			}
			t.Run(fmt.Sprintf("at %d from %d", at, from), func(t *testing.T) {
				buf := make([]byte, at+len(rec)+4096)
				copy(buf[at:], rec)
				if got := nextFrame(buf, from); got != at {
					t.Errorf("nextFrame = %d, want %d", got, at)
				}
				if isZero(buf) || !isZero(buf[:at]) || !isZero(buf[at+len(rec):]) {
					t.Error("isZero wrong around the record")
				}
			})
		}
	}
	if got := nextFrame(make([]byte, 3*4096+24), 0); got != -1 {
		t.Errorf("nextFrame in zeros = %d", got)
	}
	for _, n := range []int{0, 1, 7, 4095, 4097} {
		b := make([]byte, n)
		if !isZero(b) {
			t.Errorf("isZero(%d zeros) = false", n)
		}
		if n > 0 {
			b[n-1] = 1
			if isZero(b) {
				t.Errorf("isZero with its last of %d bytes set = true", n)
			}
		}
	}
}
