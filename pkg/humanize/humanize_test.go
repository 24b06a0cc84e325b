package humanize

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 9: "9 B", 10: "10 B", 999: "999 B", 1000: "1.0 kB", 1049: "1.0 kB", 1050: "1.1 kB",
		24576: "25 kB", 12288: "12 kB", 999999: "1000 kB", 1000000: "1.0 MB", 2147483648: "2.1 GB", 1e15: "1.0 PB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
