package server

import (
	"testing"
	"time"
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
