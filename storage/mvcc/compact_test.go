package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/failpoint"
	"github.com/basaltkv/basalt/storage/backend"
)

// keyBucketDump is the key bucket's content, for comparing two stores.
func keyBucketDump(s *Store) string {
	view := s.b.ReadTx()
	defer view.End()
	var b bytes.Buffer
	_ = view.ForEach(KeyBucket, func(k, v []byte) error {
		fmt.Fprintf(&b, "%x=%x\n", k, v)
		return nil
	})
	return b.String()
}

// waitCompactions waits until the backend cleaning of every compaction
// started so far (resumed on start too) has ended.
func waitCompactions(t *testing.T, s *Store) {
	t.Helper()
	s.compactMu.Lock()
	done := s.compactDone
	s.compactMu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("compaction did not end")
	}
}

// TestCompactionCrashResumes stops a compaction at each crash point — the
// database file as it is on disk there is what a crash would leave — and
// reopens that file: the store resumes the compaction and ends equal to
// the one that went on (every range at every revision, the key bucket,
// the compaction records, HashKV).
func TestCompactionCrashResumes(t *testing.T) {
	points := []struct {
		p   *failpoint.Point
		hit int // the hit to crash at
		// committed is the number of batches of deletes on disk then.
		committed int
		// lost: the scheduled record is not on disk yet, so the reopened
		// store knows nothing of the compaction, which the member then
		// applies again from its log.
		lost bool
	}{
		{fpCompactBeforeCommitScheduledCompact, 1, 0, true},
		{fpCompactAfterCommitScheduledCompact, 1, 0, false},
		{fpCompactAfterAcquiredBatchTxLock, 1, 0, false},
		{fpCompactAfterAcquiredBatchTxLock, 3, 2, false},
		{fpCompactBeforeCommitBatch, 1, 0, false},
		{fpCompactBeforeCommitBatch, 3, 2, false},
		{fpCompactAfterCommitBatch, 1, 1, false},
		{fpCompactAfterCommitBatch, 3, 3, false},
		{fpCompactBeforeSetFinishedCompact, 1, -1, false},
		{fpCompactAfterSetFinishedCompact, 1, -1, false},
	}
	// No background commit: the file changes only when the store commits.
	bcfg := func(path string) backend.Config {
		return backend.Config{Path: path, BatchInterval: time.Hour, MmapSize: 1 << 24}
	}
	cfg := Config{CompactionBatchLimit: 10, CompactionSleepInterval: time.Millisecond}
	for _, pt := range points {
		t.Run(fmt.Sprintf("%s#%d", pt.p.Name(), pt.hit), func(t *testing.T) {
			dir := t.TempDir()
			path, crashPath := filepath.Join(dir, "db"), filepath.Join(dir, "crashed")
			open := func(path string) (*backend.Backend, *Store) {
				t.Helper()
				b, err := backend.Open(bcfg(path))
				if err != nil {
					t.Fatal(err)
				}
				s, err := NewStore(b, nil, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return b, s
			}
			b, s := open(path)
			rng := rand.New(rand.NewPCG(7, 7))
			m := newModel()
			write := func(n int) {
				for i := 0; i < n; i++ {
					ops := randomOps(rng, i)
					applyOps(s, ops)
					m.apply(ops)
				}
			}
			compact := func(rev int64) {
				done, err := s.Compact(rev)
				if err != nil {
					t.Fatal(err)
				}
				<-done
			}
			write(60)
			compact(20) // the crashed compaction is not the first
			write(40)
			if err := b.ForceCommit(); err != nil { // the writes are not what a crash loses here
				t.Fatal(err)
			}
			const rev = 70
			before := len(keyBucketRevs(s))
			hits := 0
			s.testAt = func(p *failpoint.Point) {
				if p != pt.p {
					return
				}
				if hits++; hits != pt.hit {
					return
				}
				data, err := os.ReadFile(path)
				if err == nil {
					err = os.WriteFile(crashPath, data, 0o600)
				}
				if err != nil {
					t.Error(err)
				}
			}
			compact(rev)
			if hits < pt.hit {
				t.Fatalf("point hit %d times, want at least %d", hits, pt.hit)
			}
			checkAllRevisions(t, s, m, rev, "went on")
			s.Close()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}

			// Each batch but the last commits its deletes: batchLimit
			// records read, those not kept deleted.
			onDisk := 0
			if _, _, err := backend.ScanFile(crashPath, func(bucket, _, _ []byte) error {
				if bytes.Equal(bucket, KeyBucket) {
					onDisk++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			switch {
			case pt.committed == 0 && onDisk != before:
				t.Fatalf("%d records on disk, want all %d: no batch committed yet", onDisk, before)
			case pt.committed > 0 && onDisk > before-pt.committed:
				t.Fatalf("%d records on disk of %d, want %d batches of deletes committed", onDisk, before, pt.committed)
			}

			reopen := func(path string) *Store {
				b, s := open(path)
				t.Cleanup(func() { s.Close(); b.Close() })
				waitCompactions(t, s)
				return s
			}
			ref, crashed := reopen(path), reopen(crashPath)
			if pt.lost {
				if got := crashed.CompactRev(); got != 20 {
					t.Fatalf("compact revision %d with the compaction lost, want the one before, 20", got)
				}
				done, err := crashed.Compact(rev) // the member's replay
				if err != nil {
					t.Fatal(err)
				}
				<-done
			}
			checkAllRevisions(t, crashed, m, rev, "crashed and resumed")
			if crashed.CompactRev() != rev {
				t.Fatalf("compact revision %d, want %d", crashed.CompactRev(), rev)
			}
			if got, want := keyBucketDump(crashed), keyBucketDump(ref); got != want {
				t.Fatalf("key bucket differs:\n%s\nwant\n%s", got, want)
			}
			gs, gf := compactRecords(crashed)
			ws, wf := compactRecords(ref)
			if gs != ws || gf != wf {
				t.Fatalf("compaction records %d/%d, want %d/%d", gs, gf, ws, wf)
			}
			for r := int64(rev - 1); r <= m.rev(); r++ {
				if pt.lost && r == rev {
					continue // the replayed compaction stored its hash; the reopened reference has none
				}
				got, gerr := crashed.HashKV(r)
				want, werr := ref.HashKV(r)
				if got != want || !errors.Is(gerr, werr) {
					t.Fatalf("HashKV(%d) = %+v, %v; want %+v, %v", r, got, gerr, want, werr)
				}
			}
		})
	}
}

// TestCompactionsCleanInOrder: a compaction's backend cleaning waits for
// the one before it, so the finished record ends at the newest compaction
// even if the older one's cleaning is slow.
func TestCompactionsCleanInOrder(t *testing.T) {
	s, _ := newTestStore(t)
	s.cfg.CompactionBatchLimit = 5
	rng := rand.New(rand.NewPCG(8, 8))
	for i := 0; i < 80; i++ {
		applyOps(s, randomOps(rng, i))
	}
	second := make(chan (<-chan struct{}), 1)
	hits := 0
	s.testAt = func(p *failpoint.Point) {
		if p != fpCompactAfterCommitBatch {
			return
		}
		if hits++; hits != 1 {
			return
		}
		// The first compaction stalls here until the second one is done,
		// or long enough for it to be.
		select {
		case done := <-second:
			select {
			case <-done:
			case <-time.After(300 * time.Millisecond):
			}
		case <-time.After(10 * time.Second):
			t.Error("second compaction not started")
		}
	}
	first, err := s.Compact(30)
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.Compact(60)
	if err != nil {
		t.Fatal(err)
	}
	second <- done
	<-first
	<-done
	if sched, fin := compactRecords(s); sched != 60 || fin != 60 {
		t.Fatalf("compaction records: scheduled %d, finished %d; want 60, 60", sched, fin)
	}
}
