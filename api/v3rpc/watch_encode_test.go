package v3rpc

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// A response encoded with shared events is byte for byte what
// proto.Marshal writes for it, and the codec sends exactly those bytes.
func TestEncodedResponseIsMarshal(t *testing.T) {
	put := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: &mvccpb.KeyValue{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 300), CreateRevision: 2, ModRevision: 7, Version: 3, Lease: 9}}
	del := &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte("k2"), ModRevision: 7}}
	hdr := &pb.ResponseHeader{ClusterId: 1, MemberId: 2, Revision: 7, RaftTerm: 3}
	for _, tc := range []struct {
		name string
		r    *pb.WatchResponse
	}{
		{"one event", &pb.WatchResponse{Header: hdr, WatchId: 5, Events: []*mvccpb.Event{put}}},
		{"watch id 0", &pb.WatchResponse{Header: hdr, Events: []*mvccpb.Event{put}}},
		{"two events", &pb.WatchResponse{Header: hdr, WatchId: 1 << 40, Events: []*mvccpb.Event{put, del}}},
		{"no header", &pb.WatchResponse{WatchId: -1, Events: []*mvccpb.Event{put}}},
		{"large values", &pb.WatchResponse{Header: &pb.ResponseHeader{ClusterId: 1 << 63, MemberId: 1 << 62, Revision: 1 << 60, RaftTerm: 1 << 33}, WatchId: 1 << 62, CompactRevision: 1 << 61, Events: []*mvccpb.Event{put}}},
		{"every field", &pb.WatchResponse{Header: hdr, WatchId: 3, Created: true, Canceled: true, CompactRevision: 4, CancelReason: "x", Fragment: true, Events: []*mvccpb.Event{del}}},
	} {
		want, err := proto.Marshal(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		var enc eventsEncoder
		for range 2 { // encoded, then from the encoder's memory
			e, err := enc.encode(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			out, err := newServerCodec(false).Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Materialize(); !bytes.Equal(got, want) {
				t.Errorf("%s: encoded\n%x\nwant\n%x", tc.name, got, want)
			}
		}
		if len(tc.r.Events) == 0 {
			t.Errorf("%s: encode lost the response's events", tc.name)
		}
	}
}

// The encoder reuses bytes only for the very same events: equal-looking
// events at other addresses, or a different slice, are encoded anew.
func TestEventsEncoderReuse(t *testing.T) {
	a := &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("1")}}
	b := &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("a"), Value: []byte("2")}}
	var enc eventsEncoder
	first, _ := enc.encode(&pb.WatchResponse{Events: []*mvccpb.Event{a}})
	again, _ := enc.encode(&pb.WatchResponse{WatchId: 2, Events: []*mvccpb.Event{a}})
	if &first.events[0] != &again.events[0] {
		t.Error("the same events were encoded twice")
	}
	other, _ := enc.encode(&pb.WatchResponse{Events: []*mvccpb.Event{b}})
	if bytes.Equal(other.events, first.events) {
		t.Error("other events got the first events' bytes")
	}
}

// appendHead knows every field of WatchResponse and ResponseHeader; a
// newer API with more fields must be taught to it.
func TestAppendHeadKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		m    proto.Message
		want int
	}{
		{&pb.WatchResponse{}, 8},
		{&pb.ResponseHeader{}, 4},
	} {
		if n := tc.m.ProtoReflect().Descriptor().Fields().Len(); n != tc.want {
			t.Errorf("%T has %d fields; appendHead encodes %d", tc.m, n, tc.want)
		}
	}
}
