package mvcc

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/basaltkv/basalt/storage/backend"
)

func benchStore(b *testing.B) (*Store, *backend.Backend, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "db")
	be, err := backend.Open(backend.Config{Path: path, MmapSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewStore(be, nil, Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(); be.Close() })
	return s, be, path
}

func BenchmarkPut(b *testing.B) {
	s, _, _ := benchStore(b)
	val := make([]byte, 256)
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key%08d", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := s.Write()
		w.Put(keys[i&(len(keys)-1)], val, 0)
		w.End()
	}
}

func BenchmarkRange(b *testing.B) {
	s, _, _ := benchStore(b)
	val := make([]byte, 256)
	for i := 0; i < 10000; i++ {
		w := s.Write()
		w.Put([]byte(fmt.Sprintf("key%08d", i)), val, 0)
		w.End()
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				start := (i * 7919) % (10000 - n)
				r := s.Read()
				key := []byte(fmt.Sprintf("key%08d", start))
				var end []byte
				if n > 1 {
					end = []byte(fmt.Sprintf("key%08d", start+n))
				}
				if _, err := r.Range(key, end, RangeOptions{}); err != nil {
					b.Fatal(err)
				}
				r.End()
			}
		})
	}
}

// BenchmarkTxn is a compare-and-swap: read a key, write it.
func BenchmarkTxn(b *testing.B) {
	s, _, _ := benchStore(b)
	val := make([]byte, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w := s.Write()
		key := []byte(fmt.Sprintf("key%04d", i%1000))
		if _, err := w.Range(key, nil, RangeOptions{}); err != nil {
			b.Fatal(err)
		}
		w.Put(key, val, 0)
		w.End()
	}
}

// BenchmarkIndexMillionKeys reports the key index's memory per million
// keys and the time to rebuild it from the backend on start.
func BenchmarkIndexMillionKeys(b *testing.B) {
	const n = 1000000
	s, be, _ := benchStore(b)
	val := make([]byte, 8)
	for i := 0; i < n; i += 1000 {
		w := s.Write()
		for j := i; j < i+1000; j++ {
			w.Put([]byte(fmt.Sprintf("key%08d", j)), val, 0)
		}
		w.End()
	}
	if err := be.ForceCommit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		st, err := s.rebuild(be)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(took.Seconds(), "rebuild-s/1M-keys")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "index-MiB/1M-keys")
		runtime.KeepAlive(st)
	}
}
