package kvapply

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

type noLeases struct{}

func (noLeases) LeaseExists(int64) bool { return false }

func kvTestStore(t *testing.T) *mvcc.Store {
	be, err := backend.Open(backend.Config{Path: filepath.Join(t.TempDir(), "db"), MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s, err := mvcc.NewStore(be, nil, mvcc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); be.Close() })
	// a=3 (rev 2, then 5), b=1 (rev 3), c=2 (rev 4)
	for _, kv := range [][2]string{{"a", "3"}, {"b", "1"}, {"c", "2"}, {"a", "3"}} {
		w := s.Write()
		w.Put([]byte(kv[0]), []byte(kv[1]), 0)
		w.End()
	}
	return s
}

func keysOf(resp *pb.RangeResponse) string {
	out := ""
	for _, kv := range resp.Kvs {
		out += string(kv.Key)
	}
	return out
}

func TestExecuteRangeSortFilterLimit(t *testing.T) {
	s := kvTestStore(t)
	all := func(r *pb.RangeRequest) *pb.RangeRequest { r.Key, r.RangeEnd = []byte{0}, []byte{0}; return r }
	tests := []struct {
		name  string
		req   *pb.RangeRequest
		keys  string
		more  bool
		count int64
	}{
		{"default order", all(&pb.RangeRequest{}), "abc", false, 3},
		{"limit sets more", all(&pb.RangeRequest{Limit: 2}), "ab", true, 3},
		{"descend by key", all(&pb.RangeRequest{SortOrder: pb.RangeRequest_DESCEND}), "cba", false, 3},
		{"by value ascend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE}), "bca", false, 3},
		{"by mod descend with limit", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND, Limit: 1}), "a", true, 3},
		{"by version descend", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_DESCEND, Limit: 1}), "a", true, 3},
		{"min mod revision", all(&pb.RangeRequest{MinModRevision: 4}), "ac", false, 3},
		{"max create revision", all(&pb.RangeRequest{MaxCreateRevision: 3}), "ab", false, 3},
		{"keys only", all(&pb.RangeRequest{KeysOnly: true}), "abc", false, 3},
		{"count only", all(&pb.RangeRequest{CountOnly: true}), "", false, 3},
		{"past revision", all(&pb.RangeRequest{Revision: 3}), "ab", false, 2},
	}
	for _, tt := range tests {
		r := s.Read()
		resp, err := Range(r, tt.req)
		r.End()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if keysOf(resp) != tt.keys || resp.More != tt.more || resp.Count != tt.count {
			t.Errorf("%s: keys %q more %v count %d, want %q %v %d", tt.name, keysOf(resp), resp.More, resp.Count, tt.keys, tt.more, tt.count)
		}
		if tt.req.KeysOnly {
			for _, kv := range resp.Kvs {
				if kv.Value != nil {
					t.Errorf("%s: value returned", tt.name)
				}
			}
		}
	}
}

func TestRunTxnComparesAndAtomicity(t *testing.T) {
	s := kvTestStore(t)
	cmp := func(key string, target pb.Compare_CompareTarget, result pb.Compare_CompareResult, v any) *pb.Compare {
		c := &pb.Compare{Key: []byte(key), Target: target, Result: result}
		switch x := v.(type) {
		case string:
			c.TargetUnion = &pb.Compare_Value{Value: []byte(x)}
		case int64:
			switch target {
			case pb.Compare_VERSION:
				c.TargetUnion = &pb.Compare_Version{Version: x}
			case pb.Compare_MOD:
				c.TargetUnion = &pb.Compare_ModRevision{ModRevision: x}
			case pb.Compare_CREATE:
				c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: x}
			}
		}
		return c
	}
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("x")}}}
	}
	tests := []struct {
		name string
		cmps []*pb.Compare
		want bool
	}{
		{"value equal", []*pb.Compare{cmp("a", pb.Compare_VALUE, pb.Compare_EQUAL, "3")}, true},
		{"value of missing key fails", []*pb.Compare{cmp("zz", pb.Compare_VALUE, pb.Compare_NOT_EQUAL, "3")}, false},
		{"version of missing key is 0", []*pb.Compare{cmp("zz", pb.Compare_VERSION, pb.Compare_EQUAL, int64(0))}, true},
		{"version greater", []*pb.Compare{cmp("a", pb.Compare_VERSION, pb.Compare_GREATER, int64(1))}, true},
		{"mod less", []*pb.Compare{cmp("b", pb.Compare_MOD, pb.Compare_LESS, int64(3))}, false},
		{"create equal", []*pb.Compare{cmp("c", pb.Compare_CREATE, pb.Compare_EQUAL, int64(4))}, true},
		{"range compare all must hold", []*pb.Compare{{Key: []byte("a"), RangeEnd: []byte("d"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 1}}}, false},
	}
	for i, tt := range tests {
		w := s.Write()
		resp, err := Txn(w, w, noLeases{}, &pb.TxnRequest{Compare: tt.cmps, Success: []*pb.RequestOp{put(fmt.Sprint("s", i))}, Failure: []*pb.RequestOp{put(fmt.Sprint("f", i))}})
		w.End()
		if err != nil || resp.Succeeded != tt.want {
			t.Errorf("%s: succeeded %v err %v, want %v", tt.name, resp.GetSucceeded(), err, tt.want)
		}
	}
	// A branch with a put on an unknown lease fails whole: nothing applied.
	before := s.Rev()
	w := s.Write()
	_, err := Txn(w, w, noLeases{}, &pb.TxnRequest{Success: []*pb.RequestOp{
		put("first"),
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("leased"), Lease: 42}}},
	}})
	w.End()
	if err == nil || s.Rev() != before {
		t.Fatalf("txn with unknown lease: err %v, rev %d -> %d", err, before, s.Rev())
	}
}
