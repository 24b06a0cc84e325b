package server

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestRevisionCompactionInterval(t *testing.T) {
	tests := []struct {
		env  string
		want time.Duration
	}{
		{"", 5 * time.Minute},
		{"100ms", 100 * time.Millisecond},
		{"nonsense", 5 * time.Minute},
		{"-1s", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Setenv("BASALT_TEST_REVISION_COMPACTION_INTERVAL", tt.env)
		if got := revisionCompactionInterval(); got != tt.want {
			t.Errorf("with %q: %v, want %v", tt.env, got, tt.want)
		}
	}
}

// fakeCluster is what a compactor sees: the member's role and revision,
// and the compactions it asked for.
type fakeCluster struct {
	leader    bool
	rev       int64
	compacted []int64
}

func (f *fakeCluster) compactor() *compactor {
	return &compactor{
		lg:       zap.NewNop(),
		isLeader: func() bool { return f.leader },
		rev:      func() int64 { return f.rev },
		compact:  func(r int64) error { f.compacted = append(f.compacted, r); return nil },
	}
}

// TestRevisionCompactor: on the leader the revision compactor keeps the
// last keep revisions, once per revision reached; on a follower it does
// nothing.
func TestRevisionCompactor(t *testing.T) {
	f := &fakeCluster{rev: 12}
	c, sched := f.compactor(), &byRevision{keep: 5}
	steps := []struct {
		leader bool
		rev    int64
		want   []int64
	}{
		{leader: false, rev: 12, want: nil},
		{leader: true, rev: 3, want: nil}, // keep 5 from 3: nothing
		{leader: true, rev: 12, want: []int64{7}},
		{leader: true, rev: 12, want: []int64{7}}, // once per revision
		{leader: true, rev: 13, want: []int64{7, 8}},
		{leader: false, rev: 20, want: []int64{7, 8}},
	}
	for i, st := range steps {
		f.leader, f.rev = st.leader, st.rev
		sched.tick(c)
		if !slices.Equal(f.compacted, st.want) {
			t.Fatalf("tick %d (leader %v, revision %d): compacted to %v, want %v", i, st.leader, st.rev, f.compacted, st.want)
		}
	}
}

// TestPeriodicCompactor: the periodic compactor compacts to the revision
// sampled a period (need ticks) ago, on the leader, never twice to one
// revision.
func TestPeriodicCompactor(t *testing.T) {
	f := &fakeCluster{leader: true}
	c, sched := f.compactor(), &periodic{period: time.Hour, need: 3}
	steps := []struct {
		leader bool
		rev    int64
		want   []int64
	}{
		{leader: true, rev: 10, want: nil},
		{leader: true, rev: 10, want: nil},
		{leader: true, rev: 20, want: nil}, // samples 10 10 20: a period not yet sampled
		{leader: true, rev: 30, want: []int64{10}},
		{leader: true, rev: 30, want: []int64{10}},  // 10 again: done already
		{leader: false, rev: 30, want: []int64{10}}, // 20, but a follower
		{leader: true, rev: 40, want: []int64{10, 30}},
	}
	for i, st := range steps {
		f.leader, f.rev = st.leader, st.rev
		sched.tick(c)
		if !slices.Equal(f.compacted, st.want) {
			t.Fatalf("tick %d (leader %v, revision %d): compacted to %v, want %v", i, st.leader, st.rev, f.compacted, st.want)
		}
	}
}
