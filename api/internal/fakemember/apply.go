package fakemember

import (
	"bytes"
	"sort"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// ranger is what read and write transactions share.
type ranger interface {
	Range(key, end []byte, ro mvcc.RangeOptions) (*mvcc.RangeResult, error)
}

// A small, test-only applier of KV requests straight onto an mvcc
// transaction: enough of etcd's semantics for clientv3 and the
// concurrency recipes.

func rangeOp(txn ranger, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	sorted := r.SortOrder != pb.RangeRequest_NONE &&
		!(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)
	filtered := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	limit := r.Limit
	if sorted || filtered {
		limit = 0
	}
	if limit > 0 {
		limit++ // one more, to tell whether there is more
	}
	res, err := txn.Range(r.Key, r.RangeEnd, mvcc.RangeOptions{Limit: limit, Rev: r.Revision, Count: r.CountOnly})
	if err != nil {
		return nil, err
	}
	kvs := res.KVs
	keep := func(f func(*mvccpb.KeyValue) bool) {
		out := kvs[:0]
		for _, kv := range kvs {
			if f(kv) {
				out = append(out, kv)
			}
		}
		kvs = out
	}
	if r.MaxModRevision != 0 {
		keep(func(kv *mvccpb.KeyValue) bool { return kv.ModRevision <= r.MaxModRevision })
	}
	if r.MinModRevision != 0 {
		keep(func(kv *mvccpb.KeyValue) bool { return kv.ModRevision >= r.MinModRevision })
	}
	if r.MaxCreateRevision != 0 {
		keep(func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision <= r.MaxCreateRevision })
	}
	if r.MinCreateRevision != 0 {
		keep(func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision >= r.MinCreateRevision })
	}
	if sorted {
		less := func(a, b *mvccpb.KeyValue) bool {
			switch r.SortTarget {
			case pb.RangeRequest_VERSION:
				return a.Version < b.Version
			case pb.RangeRequest_CREATE:
				return a.CreateRevision < b.CreateRevision
			case pb.RangeRequest_MOD:
				return a.ModRevision < b.ModRevision
			case pb.RangeRequest_VALUE:
				return bytes.Compare(a.Value, b.Value) < 0
			}
			return bytes.Compare(a.Key, b.Key) < 0
		}
		if r.SortOrder == pb.RangeRequest_DESCEND {
			sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[j], kvs[i]) })
		} else {
			sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[i], kvs[j]) })
		}
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: res.Rev}, Count: int64(res.Count)}
	if r.Limit > 0 && len(kvs) > int(r.Limit) {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly {
		for i, kv := range kvs {
			kvs[i] = &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
		}
	}
	if !r.CountOnly {
		resp.Kvs = kvs
	}
	return resp, nil
}

func (f *Member) putOp(txn *mvcc.WriteTxn, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	var prev *mvccpb.KeyValue
	if r.PrevKv || r.IgnoreValue || r.IgnoreLease {
		res, err := txn.Range(r.Key, nil, mvcc.RangeOptions{})
		if err != nil {
			return nil, err
		}
		if len(res.KVs) > 0 {
			prev = res.KVs[0]
		}
	}
	val, leaseID := r.Value, r.Lease
	if r.IgnoreValue || r.IgnoreLease {
		if prev == nil {
			return nil, serverr.ErrKeyNotFound
		}
		if r.IgnoreValue {
			val = prev.Value
		}
		if r.IgnoreLease {
			leaseID = prev.Lease
		}
	}
	if leaseID != 0 && !f.leaseExists(leaseID) {
		return nil, lease.ErrLeaseNotFound
	}
	if r.PrevKv {
		resp.PrevKv = prev
	}
	resp.Header.Revision = txn.Put(r.Key, val, leaseID)
	return resp, nil
}

func deleteOp(txn *mvcc.WriteTxn, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	if r.PrevKv {
		res, err := txn.Range(r.Key, r.RangeEnd, mvcc.RangeOptions{})
		if err != nil {
			return nil, err
		}
		resp.PrevKvs = res.KVs
	}
	n, rev := txn.DeleteRange(r.Key, r.RangeEnd)
	resp.Deleted, resp.Header.Revision = n, rev
	return resp, nil
}

func compare(txn ranger, c *pb.Compare) (bool, error) {
	res, err := txn.Range(c.Key, c.RangeEnd, mvcc.RangeOptions{})
	if err != nil {
		return false, err
	}
	if len(res.KVs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false, nil
		}
		return compareKV(c, &mvccpb.KeyValue{}), nil
	}
	for _, kv := range res.KVs {
		if !compareKV(c, kv) {
			return false, nil
		}
	}
	return true, nil
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var cmp int
	cmpInt := func(a, b int64) int {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	switch c.Target {
	case pb.Compare_VALUE:
		cmp = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_VERSION:
		cmp = cmpInt(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		cmp = cmpInt(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		cmp = cmpInt(kv.ModRevision, c.GetModRevision())
	case pb.Compare_LEASE:
		cmp = cmpInt(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return cmp == 0
	case pb.Compare_NOT_EQUAL:
		return cmp != 0
	case pb.Compare_GREATER:
		return cmp > 0
	case pb.Compare_LESS:
		return cmp < 0
	}
	return false
}

func (f *Member) txnOp(txn *mvcc.WriteTxn, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	ok := true
	for _, c := range r.Compare {
		good, err := compare(txn, c)
		if err != nil {
			return nil, err
		}
		if !good {
			ok = false
			break
		}
	}
	ops := r.Success
	if !ok {
		ops = r.Failure
	}
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok}
	for _, op := range ops {
		var out *pb.ResponseOp
		switch u := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			rr, err := rangeOp(txn, u.RequestRange)
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}}
		case *pb.RequestOp_RequestPut:
			pr, err := f.putOp(txn, u.RequestPut)
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: pr}}
		case *pb.RequestOp_RequestDeleteRange:
			dr, err := deleteOp(txn, u.RequestDeleteRange)
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: dr}}
		case *pb.RequestOp_RequestTxn:
			tr, err := f.txnOp(txn, u.RequestTxn)
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: tr}}
		}
		resp.Responses = append(resp.Responses, out)
	}
	resp.Header.Revision = txn.Rev()
	return resp, nil
}
