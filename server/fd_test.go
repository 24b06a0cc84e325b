package server

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestCountDirEntries(t *testing.T) {
	for _, n := range []int{0, 1, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			for i := range n {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := countDirEntries(dir)
			if err != nil || got != uint64(n) {
				t.Fatalf("countDirEntries = %d, %v; want %d", got, err, n)
			}
		})
	}
	if _, err := countDirEntries(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("counted a missing directory")
	}
}

// TestFDUsed: each file opened is one more descriptor counted.
func TestFDUsed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file descriptors are counted in /proc/self/fd, on Linux")
	}
	before, err := fdUsed()
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	after, err := fdUsed()
	if err != nil {
		t.Fatal(err)
	}
	// Other goroutines of the test binary may open or close descriptors
	// meanwhile; none does in this package's tests.
	if after-before != n {
		t.Errorf("fdUsed went from %d to %d with %d files opened", before, after, n)
	}
	limit, err := fdLimit()
	if err != nil || limit < after {
		t.Errorf("fdLimit = %d, %v; want at least the %d in use", limit, err, after)
	}
}

func TestFDNearLimit(t *testing.T) {
	tests := []struct {
		used, limit uint64
		want        bool
	}{
		{0, 1024, false},
		// 1024/5*4 is 816 in integers (819.2 exactly).
		{815, 1024, false},
		{816, 1024, true},
		{1024, 1024, true},
		{0, 0, true},
	}
	for _, tt := range tests {
		if got := fdNearLimit(tt.used, tt.limit); got != tt.want {
			t.Errorf("fdNearLimit(%d, %d) = %v, want %v", tt.used, tt.limit, got, tt.want)
		}
	}
}
