package raft

import (
	"encoding/json"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/raft/tracker"
)

func TestStatusJSON(t *testing.T) {
	tests := []struct {
		name   string
		status Status
		want   string
	}{
		{"follower", Status{ID: 0x1a, HardState: pb.HardState{Term: 3, Vote: 0x2b, Commit: 9},
			SoftState: SoftState{Lead: 0x2b, RaftState: StateFollower}, Applied: 8},
			`{"id":"1a","term":3,"vote":"2b","commit":9,"lead":"2b","raftState":"StateFollower","applied":8,"progress":{},"leadtransferee":"0"}`},
		{"leader", Status{ID: 0x1a, HardState: pb.HardState{Term: 4, Vote: 0x1a, Commit: 12},
			SoftState: SoftState{Lead: 0x1a, RaftState: StateLeader}, Applied: 12, LeadTransferee: 0x2b,
			Progress: map[uint64]tracker.Progress{0x1a: {Match: 12, Next: 13, State: tracker.StateReplicate}, 0x2b: {Match: 5, Next: 6, State: tracker.StateProbe}}},
			`{"id":"1a","term":4,"vote":"1a","commit":12,"lead":"1a","raftState":"StateLeader","applied":12,"progress":{"1a":{"match":12,"next":13,"state":"StateReplicate"},"2b":{"match":5,"next":6,"state":"StateProbe"}},"leadtransferee":"2b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}
