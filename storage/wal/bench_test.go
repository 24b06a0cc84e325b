package wal

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

// BenchmarkWALSave measures saves of one 128-byte entry on the real disk
// (vfs.OS in b.TempDir()):
//
//   - sync-each: one caller, every Save fsyncs (raft's rule for entries).
//   - shared-fsync: many goroutines append (SaveNoSync, in index order)
//     and then Sync; concurrent Syncs share one fsync.
//   - batch-16: one caller, SaveNoSync 16 times then one Sync.
//
// It reports saves/s, fsyncs/s and fsyncs per save.
func BenchmarkWALSave(b *testing.B) {
	cases := []struct {
		name string
		run  func(b *testing.B, w *WAL)
	}{
		{"sync-each", func(b *testing.B, w *WAL) {
			for i := range b.N {
				idx := uint64(i + 1)
				if err := w.Save(raftpb.HardState{Term: 1, Commit: idx - 1}, mkEnts(idx, idx, 1, 128)); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"shared-fsync", func(b *testing.B, w *WAL) {
			var mu sync.Mutex
			next := uint64(1)
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					idx := next
					next++
					err := w.SaveNoSync(raftpb.HardState{}, mkEnts(idx, idx, 1, 128))
					mu.Unlock()
					if err == nil {
						err = w.Sync()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}},
		{"batch-16", func(b *testing.B, w *WAL) {
			for i := range b.N {
				idx := uint64(i + 1)
				if err := w.SaveNoSync(raftpb.HardState{}, mkEnts(idx, idx, 1, 128)); err != nil {
					b.Fatal(err)
				}
				if idx%16 == 0 || i == b.N-1 {
					if err := w.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var fsyncs atomic.Int64
			w, err := Create(vfs.OS, filepath.Join(b.TempDir(), "wal"), testMeta,
				WithSegmentSize(64<<20), WithFsyncObserver(func(time.Duration) { fsyncs.Add(1) }))
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			fsyncs.Store(0)
			b.ResetTimer()
			start := time.Now()
			bc.run(b, w)
			elapsed := time.Since(start).Seconds()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed, "saves/s")
			b.ReportMetric(float64(fsyncs.Load())/elapsed, "fsyncs/s")
			b.ReportMetric(float64(fsyncs.Load())/float64(b.N), "fsyncs/save")
		})
	}
}

// BenchmarkReplay measures what a restart does with a WAL of 200,000
// entries of 256 bytes on the real disk (vfs.OS in b.TempDir(), etcd's 64
// MB segments): list the snapshot markers, open at the zero marker and
// read every entry. It reports entries/s.
func BenchmarkReplay(b *testing.B) {
	const entries, batch = 200_000, 100
	dir := filepath.Join(b.TempDir(), "wal")
	w, err := Create(vfs.OS, dir, testMeta, WithSegmentSize(64*1000*1000), WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	for i := uint64(1); i <= entries; i += batch {
		if err := w.Save(raftpb.HardState{Term: 1, Commit: i - 1}, mkEnts(i, i+batch-1, 1, 256)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ValidSnapshotMarkers(vfs.OS, dir); err != nil {
			b.Fatal(err)
		}
		w, err := Open(vfs.OS, dir, Marker{}, WithSegmentSize(64*1000*1000))
		if err != nil {
			b.Fatal(err)
		}
		_, _, ents, err := w.ReadAll()
		if err != nil || len(ents) != entries {
			b.Fatalf("read %d entries, %v", len(ents), err)
		}
		w.Close()
	}
	b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "entries/s")
}
