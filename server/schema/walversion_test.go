package schema

import (
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	etcdwal "go.etcd.io/etcd/server/v3/storage/wal"
	etcdraftpb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func request(t *testing.T, r *pb.InternalRaftRequest) raftpb.Entry {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return raftpb.Entry{Type: raftpb.EntryNormal, Data: b}
}

// TestMinimalEtcdVersionMatchesEtcd compares MinimalEtcdVersion with
// etcd's own (its server module's wal package, the reference, in this
// test only) on entries that reach each kind of annotation, and on what
// etcd deliberately skips (repeated fields).
func TestMinimalEtcdVersionMatchesEtcd(t *testing.T) {
	cc, err := (&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: 2}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ccv2, err := proto.Marshal(&etcdraftpb.ConfChangeV2{Transition: etcdraftpb.ConfChangeTransitionJointExplicit.Enum(),
		Changes: []*etcdraftpb.ConfChangeSingle{{Type: etcdraftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(3)}}, Context: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ents func(t *testing.T) []raftpb.Entry
		want string // "" for none
	}{
		{"no entries", func(*testing.T) []raftpb.Entry { return nil }, ""},
		{"empty normal entry", func(*testing.T) []raftpb.Entry { return []raftpb.Entry{{Type: raftpb.EntryNormal}} }, "3.0.0"},
		{"put", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k")}})}
		}, "3.0.0"},
		{"put with prev_kv (field 3.1)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), PrevKv: true}})}
		}, "3.1.0"},
		{"header with auth revision (nested field 3.1)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Header: &pb.RequestHeader{AuthRevision: 2}})}
		}, "3.1.0"},
		{"range sorted (enum values)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k"),
				SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD, MaxModRevision: 3}})}
		}, "3.1.0"},
		{"txn: lists not descended", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
				Compare: []*pb.Compare{{Result: pb.Compare_NOT_EQUAL, Target: pb.Compare_LEASE, Key: []byte("k")}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{}}}},
			}})}
		}, "3.0.0"},
		{"lease checkpoint (field 3.4)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{}})}
		}, "3.4.0"},
		{"cluster version set (3.5)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{
				request(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k")}}),
				request(t, &pb.InternalRaftRequest{ClusterVersionSet: &membershippb.ClusterVersionSetRequest{Ver: "3.7.0"}}),
			}
		}, "3.5.0"},
		{"alarm CORRUPT (enum value 3.3)", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_CORRUPT}})}
		}, "3.3.0"},
		{"downgrade version test names its version", func(t *testing.T) []raftpb.Entry {
			return []raftpb.Entry{request(t, &pb.InternalRaftRequest{DowngradeVersionTest: &pb.DowngradeVersionTestRequest{Ver: "3.7.2"}})}
		}, "3.7.2"},
		{"conf change", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: raftpb.EntryConfChange, Data: cc}}
		}, "3.0.0"},
		{"conf change not decodable", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: raftpb.EntryConfChange, Data: []byte{0xff}}}
		}, ""},
		{"conf change v2", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: entryConfChangeV2, Data: ccv2}}
		}, "3.4.0"},
		{"conf change v2 with a field of another wire type (unknown to protobuf-go)", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: entryConfChangeV2, Data: []byte{0x0a, 0x00}}} // field 1 as bytes
		}, "3.4.0"},
		{"conf change v2 with a truncated change", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: entryConfChangeV2, Data: []byte{0x12, 0x02, 0x0a, 0x05}}}
		}, ""},
		{"conf change v2 truncated", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: entryConfChangeV2, Data: []byte{0x12, 0x05, 0x08}}}
		}, ""},
		{"conf change with a field of another wire type", func(*testing.T) []raftpb.Entry {
			return []raftpb.Entry{{Type: raftpb.EntryConfChange, Data: []byte{0x0a, 0x00}}}
		}, "3.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ents := tt.ents(t)
			got, err := MinimalEtcdVersion(ents)
			if err != nil {
				t.Fatal(err)
			}
			theirs := make([]*etcdraftpb.Entry, len(ents))
			for i, e := range ents {
				theirs[i] = &etcdraftpb.Entry{Type: etcdraftpb.EntryType(e.Type).Enum(), Term: proto.Uint64(e.Term), Index: proto.Uint64(e.Index), Data: e.Data}
			}
			ref := etcdwal.MinimalEtcdVersion(theirs)
			str := func(v interface{ String() string }, isNil bool) string {
				if isNil {
					return ""
				}
				return v.String()
			}
			if g, r := str(got, got == nil), str(ref, ref == nil); g != tt.want || r != tt.want {
				t.Fatalf("MinimalEtcdVersion %q, etcd's %q, want %q", g, r, tt.want)
			}
		})
	}
}

// TestMinimalEtcdVersionRefuses: what etcd panics on is an error.
func TestMinimalEtcdVersionRefuses(t *testing.T) {
	for name, e := range map[string]raftpb.Entry{
		"normal entry not a request": {Type: raftpb.EntryNormal, Data: []byte{0xff}},
		"unknown entry type":         {Type: 7},
		"bad test version":           request(t, &pb.InternalRaftRequest{DowngradeVersionTest: &pb.DowngradeVersionTestRequest{Ver: "x"}}),
	} {
		if _, err := MinimalEtcdVersion([]raftpb.Entry{e}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
