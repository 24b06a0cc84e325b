package v2store

import (
	"reflect"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestRequestRoundTrip(t *testing.T) {
	yes, no := true, false
	for _, r := range []Request{
		{ID: 7, Method: "PUT", Path: "/1/a", Val: "v", PrevExist: &no, Expiration: 123, Refresh: &yes},
		{ID: 8, Method: "DELETE", Path: "/1/d", Dir: true, Recursive: true, PrevValue: "p", PrevIndex: 4},
		{ID: 9, Method: "SYNC", Time: 99},
		{ID: 10, Method: "QGET", Path: "/1", Sorted: true, Quorum: true},
	} {
		got, err := RequestFromEntry(r.Marshal())
		if err != nil || got == nil || !reflect.DeepEqual(*got, r) {
			t.Errorf("%+v: decoded %+v, %v", r, got, err)
		}
	}
}

// TestRequestFromEntryTellsKinds: bare requests, requests wrapped in an
// InternalRaftRequest's field 2, and v3 requests (never v2).
func TestRequestFromEntryTellsKinds(t *testing.T) {
	bare := (&Request{ID: 1, Method: "POST", Path: "/1/q", Val: "x"}).Marshal()
	wrapped := protowire.AppendBytes(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5), 2, protowire.BytesType), bare)
	v3, err := proto.Marshal(&pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 3}, Put: &pb.PutRequest{Key: []byte("PUT"), Value: []byte("POST")}})
	if err != nil {
		t.Fatal(err)
	}
	rng, _ := proto.Marshal(&pb.InternalRaftRequest{ID: 4, Range: &pb.RangeRequest{Key: []byte("k")}})
	tests := []struct {
		name   string
		data   []byte
		method string
	}{
		{"bare", bare, "POST"},
		{"wrapped", wrapped, "POST"},
		{"v3 put", v3, ""},
		{"v3 range", rng, ""},
		{"empty", nil, ""},
		{"garbage", []byte{0xff, 0xff, 0xff}, ""},
	}
	for _, tc := range tests {
		r, err := RequestFromEntry(tc.data)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		switch {
		case tc.method == "" && r != nil:
			t.Errorf("%s: decoded as v2 %+v", tc.name, r)
		case tc.method != "" && (r == nil || r.Method != tc.method):
			t.Errorf("%s: %+v, want method %s", tc.name, r, tc.method)
		}
	}
}
