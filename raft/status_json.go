package raft

import (
	"encoding/json"
	"fmt"
)

// MarshalJSON renders the status as etcd's raft does (etcd's
// /debug/vars "raft.status"): IDs in hexadecimal, states by name, the
// progress of each member on the leader.
func (s Status) MarshalJSON() ([]byte, error) {
	type progress struct {
		Match uint64 `json:"match"`
		Next  uint64 `json:"next"`
		State string `json:"state"`
	}
	out := struct {
		ID             string              `json:"id"`
		Term           uint64              `json:"term"`
		Vote           string              `json:"vote"`
		Commit         uint64              `json:"commit"`
		Lead           string              `json:"lead"`
		RaftState      string              `json:"raftState"`
		Applied        uint64              `json:"applied"`
		Progress       map[string]progress `json:"progress"`
		LeadTransferee string              `json:"leadtransferee"`
	}{
		ID: fmt.Sprintf("%x", s.ID), Term: s.Term, Vote: fmt.Sprintf("%x", s.Vote), Commit: s.Commit,
		Lead: fmt.Sprintf("%x", s.Lead), RaftState: s.RaftState.String(), Applied: s.Applied,
		Progress: make(map[string]progress, len(s.Progress)), LeadTransferee: fmt.Sprintf("%x", s.LeadTransferee),
	}
	for id, pr := range s.Progress {
		out.Progress[fmt.Sprintf("%x", id)] = progress{Match: pr.Match, Next: pr.Next, State: pr.State.String()}
	}
	return json.Marshal(out)
}
