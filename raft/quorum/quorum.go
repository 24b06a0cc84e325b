// Package quorum holds the arithmetic of majorities: which index a majority
// of voters has acknowledged, and whether an election is won, lost or
// still open. It knows nothing of messages or terms.
package quorum

import (
	"slices"
	"strconv"
	"strings"
)

// VoteResult is the outcome of counting votes.
type VoteResult int

const (
	// VotePending means neither a majority of yes nor of no votes yet.
	VotePending VoteResult = iota + 1
	// VoteLost means a majority voted no (or cannot vote yes any more).
	VoteLost
	// VoteWon means a majority voted yes.
	VoteWon
)

func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(" + strconv.Itoa(int(v)) + ")"
}

// AckedIndexer reports the highest index a voter has acknowledged.
type AckedIndexer interface {
	AckedIndex(voterID uint64) (idx uint64, found bool)
}

// MapAckIndexer is an AckedIndexer over a plain map.
type MapAckIndexer map[uint64]uint64

// AckedIndex implements AckedIndexer.
func (m MapAckIndexer) AckedIndex(id uint64) (uint64, bool) {
	idx, ok := m[id]
	return idx, ok
}

// MajorityConfig is a set of voters; a majority of them is a quorum.
type MajorityConfig map[uint64]struct{}

// NewMajorityConfig returns the configuration of the given voters.
func NewMajorityConfig(ids ...uint64) MajorityConfig {
	c := make(MajorityConfig, len(ids))
	for _, id := range ids {
		c[id] = struct{}{}
	}
	return c
}

// Slice returns the voters in ascending order.
func (c MajorityConfig) Slice() []uint64 {
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c MajorityConfig) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range c.Slice() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteByte(')')
	return b.String()
}

// Quorum is the number of voters that make a majority.
func (c MajorityConfig) Quorum() int { return len(c)/2 + 1 }

// CommittedIndex returns the largest index that a majority of voters has
// acknowledged. A voter absent from l counts as having acknowledged
// nothing. An empty configuration commits everything (math.MaxUint64), so
// that it never holds back a joint configuration built on it.
func (c MajorityConfig) CommittedIndex(l AckedIndexer) uint64 {
	n := len(c)
	if n == 0 {
		return ^uint64(0)
	}
	// Small clusters are the common case: sort on the stack.
	var stack [7]uint64
	var acked []uint64
	if n <= len(stack) {
		acked = stack[:n]
	} else {
		acked = make([]uint64, n)
	}
	i := 0
	for id := range c {
		idx, _ := l.AckedIndex(id)
		acked[i] = idx
		i++
	}
	// Insertion sort, descending: n is tiny.
	for a := 1; a < n; a++ {
		for b := a; b > 0 && acked[b-1] < acked[b]; b-- {
			acked[b-1], acked[b] = acked[b], acked[b-1]
		}
	}
	// The q-th largest acknowledgement is held by at least q voters.
	return acked[c.Quorum()-1]
}

// VoteResult counts votes: true is yes, false is no, absent is not yet
// voted. An empty configuration wins every election.
func (c MajorityConfig) VoteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	yes, missing := 0, 0
	for id := range c {
		v, voted := votes[id]
		switch {
		case !voted:
			missing++
		case v:
			yes++
		}
	}
	q := c.Quorum()
	if yes >= q {
		return VoteWon
	}
	if yes+missing >= q {
		return VotePending
	}
	return VoteLost
}
