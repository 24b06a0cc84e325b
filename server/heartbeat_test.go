package server

import (
	"testing"
	"time"
)

func TestHeartbeatTracker(t *testing.T) {
	const interval = 100 * time.Millisecond
	start := time.Unix(1000, 0)
	type beat struct {
		to   uint64
		at   time.Duration // since start
		late time.Duration
	}
	tests := []struct {
		name  string
		beats []beat
		// resetAfter resets the tracker after that many beats (0: never).
		resetAfter int
	}{
		{name: "first is never late", beats: []beat{{to: 2, at: 10 * time.Second}}},
		{name: "on time", beats: []beat{{to: 2, at: 0}, {to: 2, at: interval}, {to: 2, at: 3 * interval}}},
		{name: "late", beats: []beat{{to: 2, at: 0}, {to: 2, at: 350 * time.Millisecond, late: 150 * time.Millisecond}}},
		{name: "per follower", beats: []beat{{to: 2, at: 0}, {to: 3, at: 300 * time.Millisecond}, {to: 3, at: 400 * time.Millisecond}, {to: 2, at: 500 * time.Millisecond, late: 300 * time.Millisecond}}},
		{name: "reset", beats: []beat{{to: 2, at: 0}, {to: 2, at: time.Second}}, resetAfter: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newHeartbeatTracker(interval)
			for i, b := range tt.beats {
				if got := tr.observe(b.to, start.Add(b.at)); got != b.late {
					t.Errorf("beat %d to %d at %v: late by %v, want %v", i, b.to, b.at, got, b.late)
				}
				if i+1 == tt.resetAfter {
					tr.reset()
				}
			}
		})
	}
}
