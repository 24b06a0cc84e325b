package snap

import (
	"bytes"
	"hash/crc32"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap/snappb"
	etcdraftpb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestFileIsEtcds: a .snap file basalt writes is one etcd 3.7 reads (its
// snappb framing, CRC over the data, a raftpb.Snapshot inside), and a
// file as etcd writes it decodes here.
func TestFileIsEtcds(t *testing.T) {
	s := mkSnap(4, 1234, 100)
	b, err := encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	var theirs snappb.Snapshot
	if err := proto.Unmarshal(b, &theirs); err != nil {
		t.Fatalf("etcd cannot decode basalt's file: %v", err)
	}
	if crc32.Checksum(theirs.GetData(), crcTable) != theirs.GetCrc() {
		t.Fatal("etcd's CRC check fails on basalt's file")
	}
	var rs etcdraftpb.Snapshot
	if err := proto.Unmarshal(theirs.GetData(), &rs); err != nil {
		t.Fatal(err)
	}
	if rs.GetMetadata().GetIndex() != 1234 || rs.GetMetadata().GetTerm() != 4 || !bytes.Equal(rs.GetData(), s.Data) {
		t.Errorf("etcd reads %v", &rs)
	}

	// As etcd's Snapshotter.save writes it.
	data, err := proto.Marshal(&etcdraftpb.Snapshot{Data: []byte("v2 store"), Metadata: &etcdraftpb.SnapshotMetadata{
		ConfState: &etcdraftpb.ConfState{Voters: []uint64{1, 2, 3}}, Index: proto.Uint64(77), Term: proto.Uint64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	crc := crc32.Update(0, crcTable, data)
	file, err := proto.Marshal(&snappb.Snapshot{Crc: &crc, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(file)
	if err != nil {
		t.Fatalf("basalt cannot decode etcd's file: %v", err)
	}
	want := raftpb.Snapshot{Data: []byte("v2 store"), Metadata: raftpb.SnapshotMetadata{
		ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}, Index: 77, Term: 5}}
	if !snapEqual(got, want) {
		t.Errorf("basalt reads %+v, want %+v", got, want)
	}
}
