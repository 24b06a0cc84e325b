package rafthttp

import (
	"slices"
	"testing"
)

// TestSetPeers: the peers become exactly those given, URLs updated, the
// others removed; this member itself is never a peer.
func TestSetPeers(t *testing.T) {
	tr := New(Config{ID: 1, ClusterID: 9, Raft: newFakeRaft()})
	defer tr.Stop()
	tr.AddPeer(2, []string{"http://127.0.0.1:1"})
	tr.AddPeer(3, []string{"http://127.0.0.1:2"})
	tr.SetPeers(map[uint64][]string{1: {"http://127.0.0.1:9"}, 3: {"http://127.0.0.1:3"}, 4: {"http://127.0.0.1:4"}})
	tr.mu.RLock()
	var ids []uint64
	for id := range tr.mu.peers {
		ids = append(ids, id)
	}
	tr.mu.RUnlock()
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{3, 4}) {
		t.Fatalf("peers %v, want [3 4]", ids)
	}
	p := tr.peer(3)
	p.mu.Lock()
	got := p.mu.urls[0].String()
	p.mu.Unlock()
	if got != "http://127.0.0.1:3" {
		t.Errorf("peer 3 at %s, want http://127.0.0.1:3", got)
	}
}
