package membership

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
)

type memWriter struct{}

func (memWriter) UnsafePut(_, _, _ []byte) error { return nil }
func (memWriter) UnsafeDelete(_, _ []byte) error { return nil }

func change(t *testing.T, typ raftpb.ConfChangeType, id uint64, ch ChangeContext) (raftpb.ConfChange, ChangeContext) {
	t.Helper()
	cc := raftpb.ConfChange{Type: typ, NodeID: id}
	if typ != raftpb.ConfChangeRemoveNode {
		data, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		cc.Context = data
	}
	got, err := DecodeChange(cc)
	if err != nil {
		t.Fatal(err)
	}
	return cc, got
}

// TestValidate: etcd's rules for a membership change, against the
// members whose conf changes were applied (provisional ones do not
// count).
func TestValidate(t *testing.T) {
	c := New(7, &Member{ID: 9, PeerURLs: []string{"http://p:9"}}) // provisional
	for _, m := range []*Member{
		{ID: 1, PeerURLs: []string{"http://a:1"}},
		{ID: 2, PeerURLs: []string{"http://b:1"}},
		{ID: 3, PeerURLs: []string{"http://c:1"}, IsLearner: true},
	} {
		if err := c.Add(memWriter{}, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Remove(memWriter{}, 4); err != nil {
		t.Fatal(err)
	}
	add := raftpb.ConfChangeAddNode
	learner := raftpb.ConfChangeAddLearnerNode
	tests := []struct {
		name string
		typ  raftpb.ConfChangeType
		id   uint64
		ch   ChangeContext
		max  int
		want error
	}{
		{"add a new voter", add, 5, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}}}, 1, nil},
		{"add a provisional member", add, 9, ChangeContext{Member: Member{PeerURLs: []string{"http://p:9"}}}, 1, nil},
		{"add an existing ID", add, 2, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}}}, 1, ErrIDExists},
		{"add a removed ID", add, 4, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}}}, 1, ErrIDRemoved},
		{"add a taken peer URL", add, 5, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1", "http://b:1"}}}, 1, ErrPeerURLExists},
		{"add a learner past --max-learners", learner, 5, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}, IsLearner: true}}, 1, ErrTooManyLearners},
		{"add a learner within --max-learners", learner, 5, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}, IsLearner: true}}, 2, nil},
		{"promote a learner", add, 3, ChangeContext{IsPromote: true}, 1, nil},
		{"promote a voter", add, 2, ChangeContext{IsPromote: true}, 1, ErrMemberNotLearner},
		{"promote an unknown member", add, 5, ChangeContext{IsPromote: true}, 1, ErrIDNotFound},
		{"remove a member", raftpb.ConfChangeRemoveNode, 2, ChangeContext{}, 1, nil},
		{"remove an unknown member", raftpb.ConfChangeRemoveNode, 5, ChangeContext{}, 1, ErrIDNotFound},
		{"remove a removed member", raftpb.ConfChangeRemoveNode, 4, ChangeContext{}, 1, ErrIDRemoved},
		{"update to its own URLs", raftpb.ConfChangeUpdateNode, 2, ChangeContext{Member: Member{PeerURLs: []string{"http://b:1"}}}, 1, nil},
		{"update to another's URL", raftpb.ConfChangeUpdateNode, 2, ChangeContext{Member: Member{PeerURLs: []string{"http://a:1"}}}, 1, ErrPeerURLExists},
		{"update an unknown member", raftpb.ConfChangeUpdateNode, 5, ChangeContext{Member: Member{PeerURLs: []string{"http://e:1"}}}, 1, ErrIDNotFound},
	}
	for _, tt := range tests {
		cc, ch := change(t, tt.typ, tt.id, tt.ch)
		if err := c.Validate(cc, ch, tt.max); !errors.Is(err, tt.want) || (err != nil) != (tt.want != nil) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestReadiness: etcd's strict checks count started voters (those that
// published a name).
func TestReadiness(t *testing.T) {
	started := func(id uint64) *Member { return &Member{ID: id, Name: "n", PeerURLs: []string{"http://x"}} }
	unstarted := func(id uint64) *Member { return &Member{ID: id, PeerURLs: []string{"http://x"}} }
	tests := []struct {
		name                  string
		members               []*Member
		add, remove1, promote bool
	}{
		{"one started", []*Member{started(1)}, true, false, true},
		{"one started, one not", []*Member{started(1), unstarted(2)}, false, false, true},
		{"three started", []*Member{started(1), started(2), started(3)}, true, true, true},
		{"two of four started", []*Member{started(1), started(2), unstarted(3), unstarted(4)}, false, false, true},
		{"one of four started", []*Member{started(1), unstarted(2), unstarted(3), unstarted(4)}, false, false, false},
		{"learners do not count", []*Member{started(1), {ID: 2, IsLearner: true}}, true, false, true},
	}
	for _, tt := range tests {
		c := New(1, tt.members...)
		if got := c.ReadyToAddVoter(); got != tt.add {
			t.Errorf("%s: ReadyToAddVoter = %v", tt.name, got)
		}
		if got := c.ReadyToRemoveVoter(1); got != tt.remove1 {
			t.Errorf("%s: ReadyToRemoveVoter(1) = %v", tt.name, got)
		}
		if got := c.ReadyToPromote(); got != tt.promote {
			t.Errorf("%s: ReadyToPromote = %v", tt.name, got)
		}
	}
}

func TestRemovedIDs(t *testing.T) {
	c := New(7)
	if got := c.RemovedIDs(); len(got) != 0 {
		t.Fatalf("RemovedIDs of a new cluster = %v", got)
	}
	for _, id := range []uint64{5, 2, 9} {
		if err := c.Remove(memWriter{}, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.RemovedIDs(); !slices.Equal(got, []uint64{2, 5, 9}) {
		t.Errorf("RemovedIDs = %v, want [2 5 9]", got)
	}
}
