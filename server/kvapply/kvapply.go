// Package kvapply is the semantics of etcd's KV requests (Range, Put,
// DeleteRange, Txn) over an mvcc transaction: sorting and filtering,
// prev_kv, ignore_value/ignore_lease, compares, and mini-transactions
// checked whole before any change. The member applies through it, and so
// does the API layer's test fake, so both mean the same thing.
package kvapply

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Reader is what a Range needs: either kind of mvcc transaction.
type Reader interface {
	Range(key, end []byte, ro mvcc.RangeOptions) (*mvcc.RangeResult, error)
	Rev() int64
	FirstRev() int64
}

// Leases tells whether a lease exists.
type Leases interface {
	LeaseExists(id int64) bool
}

// rangeEnd maps the "\x00" end (every key from key on) to mvcc's empty end.
func rangeEnd(end []byte) []byte {
	if len(end) == 1 && end[0] == 0 {
		return []byte{}
	}
	return end
}

func isDefaultOrdering(target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) bool {
	// mvcc returns keys in ascending order already.
	return order == pb.RangeRequest_NONE || (target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND)
}

func hasRevisionFilters(r *pb.RangeRequest) bool {
	return r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
}

func Range(txn Reader, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	limit := r.Limit
	if !isDefaultOrdering(r.SortTarget, r.SortOrder) || hasRevisionFilters(r) {
		// Sorting and filtering need every key before the limit applies.
		limit = 0
	}
	if limit > 0 && limit < math.MaxInt64 {
		limit++ // one more tells whether there is More
	}
	rr, err := txn.Range(r.Key, rangeEnd(r.RangeEnd), mvcc.RangeOptions{Limit: limit, Rev: r.Revision, Count: r.CountOnly})
	if err != nil {
		return nil, err
	}
	kvs := rr.KVs
	prune := func(drop func(kv *mvccpb.KeyValue) bool) {
		kvs = slices.DeleteFunc(kvs, drop)
	}
	if r.MaxModRevision != 0 {
		prune(func(kv *mvccpb.KeyValue) bool { return kv.ModRevision > r.MaxModRevision })
	}
	if r.MinModRevision != 0 {
		prune(func(kv *mvccpb.KeyValue) bool { return kv.ModRevision < r.MinModRevision })
	}
	if r.MaxCreateRevision != 0 {
		prune(func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision > r.MaxCreateRevision })
	}
	if r.MinCreateRevision != 0 {
		prune(func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision < r.MinCreateRevision })
	}
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if !isDefaultOrdering(r.SortTarget, order) {
		cmp := kvComparator(r.SortTarget)
		if order == pb.RangeRequest_DESCEND {
			asc := cmp
			cmp = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
		}
		slices.SortStableFunc(kvs, cmp)
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: rr.Rev}, Count: int64(rr.Count)}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly {
		for _, kv := range kvs {
			kv.Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

func kvComparator(target pb.RangeRequest_SortTarget) func(a, b *mvccpb.KeyValue) int {
	switch target {
	case pb.RangeRequest_VERSION:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		return func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	}
	return func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) }
}

// prevKV reads the key's current value when the request needs it.
func prevKV(txn Reader, p *pb.PutRequest) (*mvccpb.KeyValue, error) {
	if !p.IgnoreValue && !p.IgnoreLease && !p.PrevKv {
		return nil, nil
	}
	rr, err := txn.Range(p.Key, nil, mvcc.RangeOptions{})
	if err != nil {
		return nil, err
	}
	if len(rr.KVs) == 0 {
		if p.IgnoreValue || p.IgnoreLease {
			return nil, serverr.ErrKeyNotFound
		}
		return nil, nil
	}
	return rr.KVs[0], nil
}

// CheckPut refuses a put that cannot be applied, before anything changes.
func CheckPut(txn Reader, leases Leases, p *pb.PutRequest) error {
	if p.Lease != 0 && !leases.LeaseExists(p.Lease) {
		return lease.ErrLeaseNotFound
	}
	_, err := prevKV(txn, p)
	return err
}

func Put(tw *mvcc.WriteTxn, p *pb.PutRequest) (*pb.PutResponse, error) {
	prev, err := prevKV(tw, p)
	if err != nil {
		return nil, err
	}
	val, leaseID := p.Value, p.Lease
	if p.IgnoreValue {
		val = prev.Value
	}
	if p.IgnoreLease {
		leaseID = prev.Lease
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	if p.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	resp.Header.Revision = tw.Put(p.Key, val, leaseID)
	return resp, nil
}

func DeleteRange(tw *mvcc.WriteTxn, d *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	end := rangeEnd(d.RangeEnd)
	if d.PrevKv {
		rr, err := tw.Range(d.Key, end, mvcc.RangeOptions{})
		if err != nil {
			return nil, err
		}
		resp.PrevKvs = rr.KVs
	}
	resp.Deleted, resp.Header.Revision = tw.DeleteRange(d.Key, end)
	return resp, nil
}

// txnPath is the branch taken at each txn, depth first: path[0] for the
// outer txn, then its nested txns in order.
func txnPath(txn Reader, rt *pb.TxnRequest) []bool {
	ok := applyCompares(txn, rt.Compare)
	path := []bool{ok}
	for _, op := range txnBranch(rt, ok) {
		if nested := op.GetRequestTxn(); nested != nil {
			path = append(path, txnPath(txn, nested)...)
		}
	}
	return path
}

func txnBranch(rt *pb.TxnRequest, succeeded bool) []*pb.RequestOp {
	if succeeded {
		return rt.Success
	}
	return rt.Failure
}

func applyCompares(txn Reader, cmps []*pb.Compare) bool {
	for _, c := range cmps {
		if !applyCompare(txn, c) {
			return false
		}
	}
	return true
}

// applyCompare holds when every key in the compare's range satisfies it.
// Over no keys, a value compare fails (a missing value is not the empty
// value) and other targets compare against zero.
func applyCompare(txn Reader, c *pb.Compare) bool {
	rr, err := txn.Range(c.Key, rangeEnd(c.RangeEnd), mvcc.RangeOptions{})
	if err != nil {
		return false
	}
	if len(rr.KVs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range rr.KVs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		result = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		result = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		result = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

// checkTxn refuses, before anything changes, a txn whose chosen branches
// hold a request that cannot be applied: a mini-transaction is applied
// whole or not at all. It returns how many nested txns it walked.
func checkTxn(txn Reader, leases Leases, rt *pb.TxnRequest, path []bool) (int, error) {
	walked := 0
	for _, op := range txnBranch(rt, path[0]) {
		switch {
		case op.GetRequestRange() != nil:
			r := op.GetRequestRange()
			switch {
			case r.Revision > txn.Rev():
				return 0, mvcc.ErrFutureRev
			case r.Revision != 0 && r.Revision < txn.FirstRev():
				return 0, mvcc.ErrCompacted
			}
		case op.GetRequestPut() != nil:
			if err := CheckPut(txn, leases, op.GetRequestPut()); err != nil {
				return 0, err
			}
		case op.GetRequestTxn() != nil:
			n, err := checkTxn(txn, leases, op.GetRequestTxn(), path[1:])
			if err != nil {
				return 0, err
			}
			walked += n + 1
			path = path[n+1:]
		}
	}
	return walked, nil
}

// executeTxn runs the chosen branches. txn is a read transaction for a
// read-only txn, else the entry's write transaction (tw != nil).
func executeTxn(txn Reader, tw *mvcc.WriteTxn, rt *pb.TxnRequest, path []bool) (*pb.TxnResponse, int, error) {
	ops := txnBranch(rt, path[0])
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: path[0], Responses: make([]*pb.ResponseOp, len(ops))}
	walked := 0
	for i, op := range ops {
		var err error
		switch {
		case op.GetRequestRange() != nil:
			var r *pb.RangeResponse
			if r, err = Range(txn, op.GetRequestRange()); err == nil {
				resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
			}
		case op.GetRequestPut() != nil:
			var r *pb.PutResponse
			if r, err = Put(tw, op.GetRequestPut()); err == nil {
				resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: r}}
			}
		case op.GetRequestDeleteRange() != nil:
			var r *pb.DeleteRangeResponse
			if r, err = DeleteRange(tw, op.GetRequestDeleteRange()); err == nil {
				resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: r}}
			}
		case op.GetRequestTxn() != nil:
			var r *pb.TxnResponse
			var n int
			if r, n, err = executeTxn(txn, tw, op.GetRequestTxn(), path[1:]); err == nil {
				resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: r}}
				walked += n + 1
				path = path[n+1:]
			}
		default:
			resp.Responses[i] = &pb.ResponseOp{}
		}
		if err != nil {
			// checkTxn ruled out every expected failure.
			return nil, 0, fmt.Errorf("apply txn: %w", err)
		}
	}
	return resp, walked, nil
}

// IsTxnReadonly reports whether no branch of rt (at any depth) writes.
func IsTxnReadonly(rt *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{rt.Success, rt.Failure} {
		for _, op := range ops {
			if op.GetRequestPut() != nil || op.GetRequestDeleteRange() != nil {
				return false
			}
			if nested := op.GetRequestTxn(); nested != nil && !IsTxnReadonly(nested) {
				return false
			}
		}
	}
	return true
}

// IsTxnSerializable reports whether every op of rt is a serializable range.
func IsTxnSerializable(rt *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{rt.Success, rt.Failure} {
		for _, op := range ops {
			r := op.GetRequestRange()
			if r == nil || !r.Serializable {
				return false
			}
		}
	}
	return true
}

// Txn runs a whole mini-transaction: pick the branches, check them, apply
// them. The response's revision is the transaction's.
func Txn(txn Reader, tw *mvcc.WriteTxn, leases Leases, rt *pb.TxnRequest) (*pb.TxnResponse, error) {
	path := txnPath(txn, rt)
	if _, err := checkTxn(txn, leases, rt, path); err != nil {
		return nil, err
	}
	resp, _, err := executeTxn(txn, tw, rt, path)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = txn.Rev()
	return resp, nil
}
