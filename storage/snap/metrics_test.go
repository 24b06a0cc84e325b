package snap

import (
	"bytes"
	"errors"
	"testing"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsObserved: each save observes its steps once; a save that
// fails observes the steps it went through, not the total.
func TestMetricsObserved(t *testing.T) {
	hists := map[string]prometheus.Histogram{
		"marshal": saveMarshalSec, "save": saveSec, "fsync": fsyncSec,
		"db-save": dbSaveSec, "db-fsync": dbFsyncSec,
	}
	reject := WithDBVerifier(func(vfs.FS, string) error { return errors.New("rejected") })
	tests := []struct {
		name    string
		opts    []Option
		save    func(s *Snapshotter) error
		wantErr bool
		want    map[string]uint64
	}{
		{
			name: "snapshot",
			save: func(s *Snapshotter) error { return s.SaveSnap(mkSnap(1, 10, 100)) },
			want: map[string]uint64{"marshal": 1, "save": 1, "fsync": 1},
		},
		{
			name: "database",
			save: func(s *Snapshotter) error {
				_, err := s.SaveDBFrom(bytes.NewReader(make([]byte, 1000)), 10)
				return err
			},
			want: map[string]uint64{"db-save": 1, "db-fsync": 1},
		},
		{
			name: "database rejected",
			opts: []Option{reject},
			save: func(s *Snapshotter) error {
				_, err := s.SaveDBFrom(bytes.NewReader(make([]byte, 1000)), 10)
				return err
			},
			wantErr: true,
			want:    map[string]uint64{"db-fsync": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := newSnapshotter(t, tt.opts...)
			before := map[string]uint64{}
			for name, h := range hists {
				before[name] = testutil.HistogramCount(t, h)
			}
			if err := tt.save(s); (err != nil) != tt.wantErr {
				t.Fatalf("save: %v, want error %v", err, tt.wantErr)
			}
			for name, h := range hists {
				if got := testutil.HistogramCount(t, h) - before[name]; got != tt.want[name] {
					t.Errorf("%s: %d observations, want %d", name, got, tt.want[name])
				}
			}
		})
	}
}
