package v3rpc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// maxLeaseTTL is the largest TTL a lease may be granted with, in seconds
// (etcd's lease.MaxLeaseTTL). A larger one fails before it is proposed.
const maxLeaseTTL = 9_000_000_000

// The checks in this file are etcd's (etcdserver/api/v3rpc/key.go): the
// same conditions, the same errors, in the same order, so a client sees
// the same error for the same bad request.

func checkRangeRequest(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func checkPutRequest(r *pb.PutRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.GetIgnoreValue() && len(r.GetValue()) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.GetIgnoreLease() && r.GetLease() != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func checkDeleteRequest(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// checkTxnRequest bounds each of compare, success and failure by
// maxTxnOps; a nested txn gets what its parent left over.
func checkTxnRequest(r *pb.TxnRequest, maxTxnOps int) error {
	ops := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if ops > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, branch := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range branch {
			if err := checkRequestOp(op, maxTxnOps-ops); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRequestOp(op *pb.RequestOp, maxTxnOps int) error {
	switch u := op.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		return checkRangeRequest(u.RequestRange)
	case *pb.RequestOp_RequestPut:
		return checkPutRequest(u.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return checkDeleteRequest(u.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return checkTxnRequest(u.RequestTxn, maxTxnOps)
	default:
		// An empty op: etcd answers "key not found".
		return rpctypes.ErrGRPCKeyNotFound
	}
}

// checkTxn is the full validation of a Txn: sizes and keys first, then
// overlaps (only after the op counts are bounded, so that the overlap
// check cannot be made quadratic on a huge request).
func checkTxn(r *pb.TxnRequest, maxTxnOps int) error {
	if err := checkTxnRequest(r, maxTxnOps); err != nil {
		return err
	}
	if _, _, err := checkOverlaps(r.Success); err != nil {
		return err
	}
	if _, _, err := checkOverlaps(r.Failure); err != nil {
		return err
	}
	return nil
}

// keySpan is a deleted interval [begin, end), or the single key begin
// when point is set.
//
// As in etcd, a non-empty end is compared as a plain string: a delete
// with range_end "\x00" (every key from begin on) spans nothing here, so
// a put beside it is not a conflict. etcd accepts such a txn and so do we.
type keySpan struct {
	begin, end string
	point      bool
}

func (s keySpan) contains(key string) bool {
	if s.point {
		return key == s.begin
	}
	return s.begin <= key && key < s.end
}

type spans []keySpan

func (ss spans) contains(key string) bool {
	for _, s := range ss {
		if s.contains(key) {
			return true
		}
	}
	return false
}

// checkOverlaps rejects a branch of a txn that writes a key twice: two
// puts of one key, or a put of a key a delete in the branch covers, at
// this level or in nested txns. The two branches of a nested txn exclude
// each other, so a key put in both is fine. It returns the keys put and
// the spans deleted for the parent's check.
func checkOverlaps(ops []*pb.RequestOp) (map[string]struct{}, spans, error) {
	var dels spans
	for _, op := range ops {
		d := op.GetRequestDeleteRange()
		if d == nil {
			continue
		}
		if len(d.GetRangeEnd()) == 0 {
			dels = append(dels, keySpan{begin: string(d.Key), point: true})
		} else {
			dels = append(dels, keySpan{begin: string(d.Key), end: string(d.RangeEnd)})
		}
	}

	puts := map[string]struct{}{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkOverlaps(t.GetSuccess())
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkOverlaps(t.GetFailure())
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if _, dup := puts[k]; dup || dels.contains(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range putsElse {
			if _, dup := puts[k]; dup {
				if _, sameTxn := putsThen[k]; !sameTxn {
					return nil, nil, rpctypes.ErrGRPCDuplicateKey
				}
			}
			if dels.contains(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		dels = append(dels, delsThen...)
		dels = append(dels, delsElse...)
	}

	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.GetKey())
		if _, dup := puts[k]; dup || dels.contains(k) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}

func checkLeaseGrant(r *pb.LeaseGrantRequest) error {
	if r.GetTTL() > maxLeaseTTL {
		return rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	return nil
}

// checkProposalSize rejects a write whose encoding exceeds the member's
// --max-request-bytes, as etcd rejects the raft proposal carrying it.
// Larger messages (beyond the gRPC receive limit, which leaves room for
// gRPC's own overhead) never reach here: gRPC fails them with
// codes.ResourceExhausted.
func checkProposalSize(m proto.Message, maxRequestBytes uint) error {
	if maxRequestBytes > 0 && uint(proto.Size(m)) > maxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

// isTxnReadOnly reports whether a txn only reads: etcd serves those
// without a raft proposal, so they are not bound by the proposal size.
func isTxnReadOnly(r *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range branch {
			switch u := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
			case *pb.RequestOp_RequestTxn:
				if !isTxnReadOnly(u.RequestTxn) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}
