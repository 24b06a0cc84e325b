package v3rpc

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func put(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key)}}}
}

func del(key, end string) *pb.RequestOp {
	r := &pb.DeleteRangeRequest{Key: []byte(key)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}

func get(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key)}}}
}

func txnOp(success, failure []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: success, Failure: failure}}}
}

func ops(n int, f func(i int) *pb.RequestOp) []*pb.RequestOp {
	out := make([]*pb.RequestOp, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestCheckRequests(t *testing.T) {
	tests := []struct {
		name  string
		check func() error
		want  error
	}{
		{"range ok", func() error { return checkRangeRequest(&pb.RangeRequest{Key: []byte("a")}) }, nil},
		{"range empty key", func() error { return checkRangeRequest(&pb.RangeRequest{}) }, rpctypes.ErrGRPCEmptyKey},
		{"range nil", func() error { return checkRangeRequest(nil) }, rpctypes.ErrGRPCEmptyKey},
		{"range bad sort order", func() error {
			return checkRangeRequest(&pb.RangeRequest{Key: []byte("a"), SortOrder: 7})
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range bad sort target", func() error {
			return checkRangeRequest(&pb.RangeRequest{Key: []byte("a"), SortTarget: 9})
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range sort by value descending", func() error {
			return checkRangeRequest(&pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND})
		}, nil},
		{"put ok", func() error { return checkPutRequest(&pb.PutRequest{Key: []byte("a"), Value: []byte("v")}) }, nil},
		{"put empty key", func() error { return checkPutRequest(&pb.PutRequest{Value: []byte("v")}) }, rpctypes.ErrGRPCEmptyKey},
		{"put ignore value with value", func() error {
			return checkPutRequest(&pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true})
		}, rpctypes.ErrGRPCValueProvided},
		{"put ignore lease with lease", func() error {
			return checkPutRequest(&pb.PutRequest{Key: []byte("a"), Lease: 5, IgnoreLease: true})
		}, rpctypes.ErrGRPCLeaseProvided},
		{"put ignore value and lease alone", func() error {
			return checkPutRequest(&pb.PutRequest{Key: []byte("a"), IgnoreValue: true, IgnoreLease: true})
		}, nil},
		{"delete empty key", func() error { return checkDeleteRequest(&pb.DeleteRangeRequest{}) }, rpctypes.ErrGRPCEmptyKey},
		{"delete ok", func() error { return checkDeleteRequest(&pb.DeleteRangeRequest{Key: []byte("a")}) }, nil},
		{"lease ttl max", func() error { return checkLeaseGrant(&pb.LeaseGrantRequest{TTL: maxLeaseTTL}) }, nil},
		{"lease ttl too large", func() error { return checkLeaseGrant(&pb.LeaseGrantRequest{TTL: maxLeaseTTL + 1}) }, rpctypes.ErrGRPCLeaseTTLTooLarge},
		{"size at limit", func() error {
			return checkProposalSize(&pb.PutRequest{Key: []byte("k"), Value: make([]byte, 100)}, 105)
		}, nil},
		{"size over limit", func() error {
			return checkProposalSize(&pb.PutRequest{Key: []byte("k"), Value: make([]byte, 100)}, 104)
		}, rpctypes.ErrGRPCRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckTxn(t *testing.T) {
	const maxOps = 4
	cmp := func(key string) *pb.Compare { return &pb.Compare{Key: []byte(key)} }
	tests := []struct {
		name string
		txn  *pb.TxnRequest
		want error
	}{
		{"empty", &pb.TxnRequest{}, nil},
		{"max ops", &pb.TxnRequest{Success: ops(maxOps, func(i int) *pb.RequestOp { return put(string(rune('a' + i))) })}, nil},
		{"too many success", &pb.TxnRequest{Success: ops(maxOps+1, func(i int) *pb.RequestOp { return get("a") })}, rpctypes.ErrGRPCTooManyOps},
		{"too many failure", &pb.TxnRequest{Failure: ops(maxOps+1, func(i int) *pb.RequestOp { return get("a") })}, rpctypes.ErrGRPCTooManyOps},
		{"too many compares", &pb.TxnRequest{Compare: []*pb.Compare{cmp("a"), cmp("b"), cmp("c"), cmp("d"), cmp("e")}}, rpctypes.ErrGRPCTooManyOps},
		{"nested too many", &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp(ops(maxOps, func(int) *pb.RequestOp { return get("a") }), nil),
		}}, rpctypes.ErrGRPCTooManyOps},
		{"nested within what is left", &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp(ops(maxOps-1, func(int) *pb.RequestOp { return get("a") }), nil),
		}}, nil},
		{"compare empty key", &pb.TxnRequest{Compare: []*pb.Compare{cmp("")}}, rpctypes.ErrGRPCEmptyKey},
		{"op empty key", &pb.TxnRequest{Success: []*pb.RequestOp{put("")}}, rpctypes.ErrGRPCEmptyKey},
		{"empty op", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, rpctypes.ErrGRPCKeyNotFound},
		{"nested bad sort", &pb.TxnRequest{Failure: []*pb.RequestOp{txnOp([]*pb.RequestOp{
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), SortOrder: 5}}},
		}, nil)}}, rpctypes.ErrGRPCInvalidSortOption},
		{"two puts", &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("a")}}, rpctypes.ErrGRPCDuplicateKey},
		{"puts in different branches", &pb.TxnRequest{Success: []*pb.RequestOp{put("a")}, Failure: []*pb.RequestOp{put("a")}}, nil},
		{"put and delete of key", &pb.TxnRequest{Success: []*pb.RequestOp{del("a", ""), put("a")}}, rpctypes.ErrGRPCDuplicateKey},
		{"put inside deleted range", &pb.TxnRequest{Success: []*pb.RequestOp{put("b"), del("a", "c")}}, rpctypes.ErrGRPCDuplicateKey},
		{"put at deleted range end", &pb.TxnRequest{Success: []*pb.RequestOp{put("c"), del("a", "c")}}, nil},
		{"put beside from-key delete (as etcd)", &pb.TxnRequest{Success: []*pb.RequestOp{put("b"), del("a", "\x00")}}, nil},
		{"two deletes overlap", &pb.TxnRequest{Success: []*pb.RequestOp{del("a", "c"), del("b", "d")}}, nil},
		{"reads and a put", &pb.TxnRequest{Success: []*pb.RequestOp{get("a"), get("a"), put("a")}}, nil},
		{"nested put twice", &pb.TxnRequest{Success: []*pb.RequestOp{
			put("a"), txnOp([]*pb.RequestOp{put("a")}, nil),
		}}, rpctypes.ErrGRPCDuplicateKey},
		{"nested then and else put same key", &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp([]*pb.RequestOp{put("a")}, []*pb.RequestOp{put("a")}),
		}}, nil},
		{"two nested txns put same key", &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp([]*pb.RequestOp{put("a")}, nil), txnOp(nil, []*pb.RequestOp{put("a")}),
		}}, rpctypes.ErrGRPCDuplicateKey},
		{"nested put under outer delete", &pb.TxnRequest{Success: []*pb.RequestOp{
			del("a", "z"), txnOp(nil, []*pb.RequestOp{put("m")}),
		}}, rpctypes.ErrGRPCDuplicateKey},
		{"outer put under nested delete", &pb.TxnRequest{Success: []*pb.RequestOp{
			put("m"), txnOp([]*pb.RequestOp{del("a", "z")}, nil),
		}}, rpctypes.ErrGRPCDuplicateKey},
		{"deeply nested conflict", &pb.TxnRequest{Failure: []*pb.RequestOp{
			txnOp([]*pb.RequestOp{txnOp([]*pb.RequestOp{put("x"), put("x")}, nil)}, nil),
		}}, rpctypes.ErrGRPCDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkTxn(tt.txn, maxOps); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIsTxnReadOnly(t *testing.T) {
	tests := []struct {
		txn  *pb.TxnRequest
		want bool
	}{
		{&pb.TxnRequest{}, true},
		{&pb.TxnRequest{Success: []*pb.RequestOp{get("a")}, Failure: []*pb.RequestOp{txnOp([]*pb.RequestOp{get("b")}, nil)}}, true},
		{&pb.TxnRequest{Success: []*pb.RequestOp{get("a"), put("b")}}, false},
		{&pb.TxnRequest{Failure: []*pb.RequestOp{txnOp(nil, []*pb.RequestOp{del("a", "")})}}, false},
	}
	for i, tt := range tests {
		if got := isTxnReadOnly(tt.txn); got != tt.want {
			t.Errorf("%d: got %v, want %v", i, got, tt.want)
		}
	}
}

func TestNormalizeTxnRangeEnds(t *testing.T) {
	r := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), RangeEnd: []byte{}}},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{}}}},
			txnOp([]*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte{}}}}}, nil),
		},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("\x00")}}}},
	}
	normalizeTxnRangeEnds(r)
	if r.Compare[0].RangeEnd != nil || r.Success[0].GetRequestRange().RangeEnd != nil ||
		r.Success[1].GetRequestTxn().Success[0].GetRequestDeleteRange().RangeEnd != nil {
		t.Fatalf("empty range ends not made nil: %v", r)
	}
	if string(r.Failure[0].GetRequestRange().RangeEnd) != "\x00" {
		t.Fatalf("from-key range end changed: %v", r)
	}
}

func TestNextChunkLimit(t *testing.T) {
	tests := []struct {
		last             int64
		lastSize, target int
		want             int64
	}{
		{10, 100, 1000, 20},
		{10, 600, 1000, 10},
		{10, 1900, 1000, 10},
		{10, 2100, 1000, 5},
		{1, 5000, 1000, 1},
	}
	for _, tt := range tests {
		if got := nextChunkLimit(tt.last, tt.lastSize, tt.target); got != tt.want {
			t.Errorf("nextChunkLimit(%d, %d, %d) = %d, want %d", tt.last, tt.lastSize, tt.target, got, tt.want)
		}
	}
}
