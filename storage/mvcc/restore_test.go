package mvcc

import (
	"path/filepath"
	"testing"
	"time"
)

// setCompactRecords writes (rev > 0) or deletes (rev == 0) the meta
// bucket's scheduled and finished compaction records.
func setCompactRecords(t *testing.T, s *Store, scheduled, finished int64) {
	t.Helper()
	tx := s.b.BatchTx()
	tx.Lock()
	for _, r := range []struct {
		key []byte
		rev int64
	}{{scheduledCompactKey, scheduled}, {finishedCompactKey, finished}} {
		var err error
		if r.rev > 0 {
			err = tx.UnsafePut(MetaBucket, r.key, revToBytes(Revision{Main: r.rev}, false))
		} else {
			err = tx.UnsafeDelete(MetaBucket, r.key)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// compactRecords reads them back, 0 for a missing one.
func compactRecords(s *Store) (scheduled, finished int64) {
	view := s.b.ReadTx()
	defer view.End()
	scheduled, _ = readCompactRev(view.Get, scheduledCompactKey)
	finished, _ = readCompactRev(view.Get, finishedCompactKey)
	return scheduled, finished
}

// TestRestoreCompactionRecords: on start, the compaction revision is the
// finished one (-1 if none), a compaction is resumed only if one was
// scheduled after it, and the current revision is at least both.
func TestRestoreCompactionRecords(t *testing.T) {
	tests := []struct {
		name                string
		writes              int // puts, at revisions 2..writes+1
		scheduled, finished int64
		wantCompact         int64
		wantRev             int64
		wantResumed         bool
	}{
		{"new store", 0, 0, 0, -1, 1, false},
		{"never compacted", 5, 0, 0, -1, 6, false},
		{"compaction finished", 5, 3, 3, 3, 6, false},
		{"only finished recorded", 5, 0, 3, 3, 6, false},
		{"interrupted", 5, 4, 3, 4, 6, true},
		{"first one interrupted", 5, 4, 0, 4, 6, true},
		{"finished past every record", 5, 9, 9, 9, 9, false},
		{"interrupted past every record", 5, 9, 3, 9, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			b := openBackend(t, path)
			cfg := Config{CompactionSleepInterval: time.Millisecond}
			s, err := NewStore(b, nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.writes; i++ {
				applyOps(s, []op{{key: "a", val: "v"}})
			}
			setCompactRecords(t, s, tt.scheduled, tt.finished)
			s.Close()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = openBackend(t, path)
			defer b.Close()
			if s, err = NewStore(b, nil, cfg); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.CompactRev(); got != tt.wantCompact {
				t.Errorf("CompactRev %d, want %d", got, tt.wantCompact)
			}
			if got := s.Rev(); got != tt.wantRev {
				t.Errorf("Rev %d, want %d", got, tt.wantRev)
			}
			h, err := s.HashKV(0)
			if err != nil {
				t.Fatal(err)
			}
			if h.CompactRevision != tt.wantCompact || h.CurrentRevision != tt.wantRev {
				t.Errorf("HashKV reports compact revision %d, current %d; want %d, %d", h.CompactRevision, h.CurrentRevision, tt.wantCompact, tt.wantRev)
			}
			wantFinished := tt.finished
			if tt.wantResumed {
				wantFinished = tt.scheduled
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				sched, fin := compactRecords(s)
				if sched == tt.scheduled && fin == wantFinished {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("compaction records: scheduled %d, finished %d; want %d, %d", sched, fin, tt.scheduled, wantFinished)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
