package quorum

import (
	"math/rand/v2"
	"testing"
)

// naiveCommitted is the reference: the largest index i such that at least
// a majority of voters acknowledged an index >= i.
func naiveCommitted(c MajorityConfig, l MapAckIndexer) uint64 {
	if len(c) == 0 {
		return ^uint64(0)
	}
	var best uint64
	for _, cand := range l {
		n := 0
		for id := range c {
			if l[id] >= cand {
				n++
			}
		}
		if n > len(c)/2 && cand > best {
			best = cand
		}
	}
	return best
}

// naiveVote is the reference for VoteResult.
func naiveVote(c MajorityConfig, votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	yes, no := 0, 0
	for id := range c {
		if v, ok := votes[id]; ok {
			if v {
				yes++
			} else {
				no++
			}
		}
	}
	switch {
	case 2*yes > len(c):
		return VoteWon
	case 2*no >= len(c)+len(c)%2 && 2*(len(c)-no) <= len(c):
		return VoteLost
	}
	return VotePending
}

func TestCommittedIndexTable(t *testing.T) {
	tests := []struct {
		name   string
		voters []uint64
		acked  MapAckIndexer
		want   uint64
	}{
		{"empty config commits all", nil, MapAckIndexer{}, ^uint64(0)},
		{"single voter", []uint64{1}, MapAckIndexer{1: 5}, 5},
		{"single voter not acked", []uint64{1}, MapAckIndexer{}, 0},
		{"three voters", []uint64{1, 2, 3}, MapAckIndexer{1: 5, 2: 3, 3: 1}, 3},
		{"three voters one missing", []uint64{1, 2, 3}, MapAckIndexer{1: 5, 2: 3}, 3},
		{"four voters need three", []uint64{1, 2, 3, 4}, MapAckIndexer{1: 9, 2: 8, 3: 2, 4: 1}, 2},
		{"non-voter ignored", []uint64{1, 2, 3}, MapAckIndexer{1: 5, 2: 1, 3: 1, 9: 100}, 1},
		{"eight voters", []uint64{1, 2, 3, 4, 5, 6, 7, 8}, MapAckIndexer{1: 8, 2: 7, 3: 6, 4: 5, 5: 4, 6: 3, 7: 2, 8: 1}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewMajorityConfig(tt.voters...)
			if got := c.CommittedIndex(tt.acked); got != tt.want {
				t.Fatalf("CommittedIndex = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestVoteResultTable(t *testing.T) {
	tests := []struct {
		name   string
		voters []uint64
		votes  map[uint64]bool
		want   VoteResult
	}{
		{"empty config wins", nil, nil, VoteWon},
		{"one yes of one", []uint64{1}, map[uint64]bool{1: true}, VoteWon},
		{"one no of one", []uint64{1}, map[uint64]bool{1: false}, VoteLost},
		{"pending", []uint64{1, 2, 3}, map[uint64]bool{1: true}, VotePending},
		{"two of three", []uint64{1, 2, 3}, map[uint64]bool{1: true, 3: true}, VoteWon},
		{"two no of three", []uint64{1, 2, 3}, map[uint64]bool{1: true, 2: false, 3: false}, VoteLost},
		{"two of four pending", []uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true}, VotePending},
		{"two no of four lost", []uint64{1, 2, 3, 4}, map[uint64]bool{1: false, 2: false}, VoteLost},
		{"non-voter ignored", []uint64{1, 2, 3}, map[uint64]bool{1: true, 7: true, 8: true}, VotePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewMajorityConfig(tt.voters...).VoteResult(tt.votes); got != tt.want {
				t.Fatalf("VoteResult = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAgainstNaiveReference compares both functions with their naive
// references on random configurations.
func TestAgainstNaiveReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 20000; iter++ {
		n := rng.IntN(10)
		c := MajorityConfig{}
		acked := MapAckIndexer{}
		votes := map[uint64]bool{}
		for i := 0; i < n; i++ {
			id := uint64(rng.IntN(12) + 1)
			c[id] = struct{}{}
		}
		for id := uint64(1); id <= 12; id++ {
			if rng.IntN(4) > 0 {
				acked[id] = uint64(rng.IntN(10))
			}
			if r := rng.IntN(3); r > 0 {
				votes[id] = r == 1
			}
		}
		if got, want := c.CommittedIndex(acked), naiveCommitted(c, acked); got != want {
			t.Fatalf("config %v acked %v: CommittedIndex = %d, naive %d", c, acked, got, want)
		}
		if got, want := c.VoteResult(votes), naiveVote(c, votes); got != want {
			t.Fatalf("config %v votes %v: VoteResult = %v, naive %v", c, votes, got, want)
		}
	}
}
