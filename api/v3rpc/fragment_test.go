package v3rpc

import (
	"bytes"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

func TestSendFragments(t *testing.T) {
	event := func(i, size int) *mvccpb.Event {
		return &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte(fmt.Sprintf("k%03d", i)), Value: bytes.Repeat([]byte("v"), size), ModRevision: int64(i)}}
	}
	tests := []struct {
		name      string
		sizes     []int
		limit     int
		wantFrags int
	}{
		{"small response whole", []int{10, 10, 10}, 1000, 1},
		{"single huge event whole", []int{5000}, 1000, 1},
		{"even split", []int{400, 400, 400, 400}, 1000, 2},
		{"huge event alone in its fragment", []int{10, 5000, 10}, 1000, 3},
		{"many small", make([]int, 100), 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 9}, WatchId: 3}
			for i, s := range tt.sizes {
				r.Events = append(r.Events, event(i, s))
			}
			var frags []*pb.WatchResponse
			if err := sendFragments(r, tt.limit, func(f *pb.WatchResponse) error {
				frags = append(frags, f)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tt.wantFrags > 0 && len(frags) != tt.wantFrags {
				t.Fatalf("%d fragments, want %d", len(frags), tt.wantFrags)
			}
			var all []*mvccpb.Event
			for i, f := range frags {
				last := i == len(frags)-1
				if f.Fragment == last {
					t.Fatalf("fragment %d: Fragment=%v", i, f.Fragment)
				}
				if f.WatchId != 3 || f.Header.Revision != 9 {
					t.Fatalf("fragment %d lost its header or ID: %v", i, f)
				}
				if len(f.Events) > 1 && proto.Size(f) >= tt.limit {
					t.Fatalf("fragment %d is %d bytes, limit %d", i, proto.Size(f), tt.limit)
				}
				all = append(all, f.Events...)
			}
			if len(all) != len(r.Events) {
				t.Fatalf("%d events after reassembly, want %d", len(all), len(r.Events))
			}
			for i := range all {
				if all[i] != r.Events[i] {
					t.Fatalf("event %d out of order", i)
				}
			}
		})
	}
}
