package membership

import (
	"encoding/json"
	"os"
	"testing"
)

// TestV2StoreJSONIsEtcds: the data of a raft snapshot etcd 3.7.3 took on a
// one-member cluster (member m1, its URLs, cluster version 3.7.0; the
// testdata file is that snapshot's Data, byte for byte) is what basalt
// writes for the same membership.
func TestV2StoreJSONIsEtcds(t *testing.T) {
	want, err := os.ReadFile("testdata/etcd-3.7.3-snapshot-data.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := V2StoreJSON([]*Member{{ID: 0xbdae9bbc11dd390d, Name: "m1",
		PeerURLs: []string{"http://127.0.0.1:23801"}, ClientURLs: []string{"http://127.0.0.1:23791"}}}, nil, "3.7.0")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("basalt's snapshot data differs from etcd's:\n got %s\nwant %s", got, want)
	}
}

// TestV2StoreJSONMembers: learners, members that never published their
// attributes, removed members and an unset cluster version land where
// etcd's membership reads them (node values as etcd's member JSON), with
// indexes in creation order and one event each.
func TestV2StoreJSONMembers(t *testing.T) {
	b, err := V2StoreJSON([]*Member{
		{ID: 0x2, PeerURLs: []string{"http://b:2380"}, IsLearner: true},
		{ID: 0x1, Name: "a", PeerURLs: []string{"http://a:2380"}, ClientURLs: []string{"http://a:2379"}},
	}, []uint64{0x9, 0x3}, "")
	if err != nil {
		t.Fatal(err)
	}
	var s savedStore
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	zero := s.Root.Children["0"]
	tests := []struct {
		path  []string
		value string
		index uint64
	}{
		{[]string{"members", "1", "raftAttributes"}, `{"peerURLs":["http://a:2380"]}`, 1},
		{[]string{"members", "1", "attributes"}, `{"name":"a","clientURLs":["http://a:2379"]}`, 2},
		{[]string{"members", "2", "raftAttributes"}, `{"peerURLs":["http://b:2380"],"isLearner":true}`, 3},
		{[]string{"removed_members", "3"}, "", 4},
		{[]string{"removed_members", "9"}, "", 5},
	}
	for _, tt := range tests {
		n := zero
		for _, p := range tt.path {
			if n = n.Children[p]; n == nil {
				t.Fatalf("%v missing", tt.path)
			}
		}
		if n.Value != tt.value || n.CreatedIndex != tt.index || n.ModifiedIndex != tt.index {
			t.Errorf("%v: %q at %d/%d, want %q at %d", tt.path, n.Value, n.CreatedIndex, n.ModifiedIndex, tt.value, tt.index)
		}
	}
	if _, ok := zero.Children["members"].Children["2"].Children["attributes"]; ok {
		t.Error("attributes stored for a member that never published them")
	}
	if _, ok := zero.Children["version"]; ok {
		t.Error("a cluster version stored though none is set")
	}
	h := s.WatcherHub.EventHistory
	if s.CurrentIndex != 5 || h.Queue.Size != 5 || h.StartIndex != 1 || h.LastIndex != 5 || len(h.Queue.Events) != 1000 {
		t.Errorf("index %d, history %+v", s.CurrentIndex, h)
	}
	if h.Queue.Events[1].Action != "set" || h.Queue.Events[0].Action != "create" {
		t.Errorf("events %s, %s: want create, set", h.Queue.Events[0].Action, h.Queue.Events[1].Action)
	}
}

// savedStore is the part of a saved v2 store the tests read.
type savedStore struct {
	Root       *savedNode
	WatcherHub struct {
		EventHistory struct {
			Queue struct {
				Events []*struct {
					Action string `json:"action"`
				}
				Size int
			}
			StartIndex, LastIndex uint64
		}
	}
	CurrentIndex uint64
}

type savedNode struct {
	Path                        string
	CreatedIndex, ModifiedIndex uint64
	Value                       string
	Children                    map[string]*savedNode
}
