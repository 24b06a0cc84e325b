package raftpb_test

import (
	"bytes"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	etcdpb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ours is a basalt raftpb message.
type ours interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// TestEncodingIsEtcds: each message basalt writes to its WAL, snapshots
// or peers decodes with etcd 3.7's raftpb into the same values, and
// etcd's encoding of those values decodes with basalt's. (etcd's are
// proto2 messages: a field is set there when basalt's is not zero.)
func TestEncodingIsEtcds(t *testing.T) {
	u := proto.Uint64
	cs := raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	etcdCS := func() *etcdpb.ConfState { return &etcdpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}} }
	ents := []raftpb.Entry{
		{Type: raftpb.EntryNormal, Term: 3, Index: 17, Data: []byte("request")},
		{Type: raftpb.EntryConfChange, Term: 4, Index: 18, Data: []byte{1, 2}},
	}
	etcdEnts := func() []*etcdpb.Entry {
		return []*etcdpb.Entry{
			{Term: u(3), Index: u(17), Data: []byte("request")},
			{Type: etcdpb.EntryConfChange.Enum(), Term: u(4), Index: u(18), Data: []byte{1, 2}},
		}
	}
	tests := []struct {
		name  string
		ours  ours
		empty func() ours
		etcds proto.Message
	}{
		{"entry", &ents[0], func() ours { return &raftpb.Entry{} }, etcdEnts()[0]},
		{"conf change entry", &ents[1], func() ours { return &raftpb.Entry{} }, etcdEnts()[1]},
		{"hard state", &raftpb.HardState{Term: 5, Vote: 2, Commit: 99}, func() ours { return &raftpb.HardState{} },
			&etcdpb.HardState{Term: u(5), Vote: u(2), Commit: u(99)}},
		{"conf state", &cs, func() ours { return &raftpb.ConfState{} }, etcdCS()},
		{"conf change", &raftpb.ConfChange{ID: 7, Type: raftpb.ConfChangeAddLearnerNode, NodeID: 0xabc, Context: []byte(`{"id":1}`)},
			func() ours { return &raftpb.ConfChange{} },
			&etcdpb.ConfChange{Id: u(7), Type: etcdpb.ConfChangeAddLearnerNode.Enum(), NodeId: u(0xabc), Context: []byte(`{"id":1}`)}},
		{"snapshot", &raftpb.Snapshot{Data: []byte("state"), Metadata: raftpb.SnapshotMetadata{ConfState: cs, Index: 40, Term: 6}},
			func() ours { return &raftpb.Snapshot{} },
			&etcdpb.Snapshot{Data: []byte("state"), Metadata: &etcdpb.SnapshotMetadata{ConfState: etcdCS(), Index: u(40), Term: u(6)}}},
		{"append", &raftpb.Message{Type: raftpb.MsgApp, To: 2, From: 1, Term: 6, LogTerm: 5, Index: 16, Entries: ents, Commit: 15},
			func() ours { return &raftpb.Message{} },
			&etcdpb.Message{Type: etcdpb.MsgApp.Enum(), To: u(2), From: u(1), Term: u(6), LogTerm: u(5), Index: u(16), Entries: etcdEnts(), Commit: u(15)}},
		{"rejected append", &raftpb.Message{Type: raftpb.MsgAppResp, To: 1, From: 2, Term: 6, Index: 12, Reject: true, RejectHint: 11, LogTerm: 4},
			func() ours { return &raftpb.Message{} },
			&etcdpb.Message{Type: etcdpb.MsgAppResp.Enum(), To: u(1), From: u(2), Term: u(6), Index: u(12), Reject: proto.Bool(true), RejectHint: u(11), LogTerm: u(4)}},
		{"heartbeat with context", &raftpb.Message{Type: raftpb.MsgHeartbeat, To: 3, From: 1, Term: 6, Commit: 15, Context: []byte("read")},
			func() ours { return &raftpb.Message{} },
			&etcdpb.Message{Type: etcdpb.MsgHeartbeat.Enum(), To: u(3), From: u(1), Term: u(6), Commit: u(15), Context: []byte("read")}},
		{"snapshot message", &raftpb.Message{Type: raftpb.MsgSnap, To: 3, From: 1, Term: 6,
			Snapshot: &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{ConfState: cs, Index: 40, Term: 6}}},
			func() ours { return &raftpb.Message{} },
			&etcdpb.Message{Type: etcdpb.MsgSnap.Enum(), To: u(3), From: u(1), Term: u(6),
				Snapshot: &etcdpb.Snapshot{Metadata: &etcdpb.SnapshotMetadata{ConfState: etcdCS(), Index: u(40), Term: u(6)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.ours.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got := tt.etcds.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatalf("etcd cannot decode ours: %v", err)
			}
			if !proto.Equal(got, tt.etcds) {
				t.Errorf("etcd decodes ours as %v, want %v", got, tt.etcds)
			}

			b, err = proto.Marshal(tt.etcds)
			if err != nil {
				t.Fatal(err)
			}
			back := tt.empty()
			if err := back.Unmarshal(b); err != nil {
				t.Fatalf("we cannot decode etcd's: %v", err)
			}
			want, _ := tt.ours.Marshal()
			if again, _ := back.Marshal(); !bytes.Equal(again, want) {
				t.Errorf("we decode etcd's as %+v, want %+v", back, tt.ours)
			}
		})
	}
}
