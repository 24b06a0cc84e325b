package v3rpc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// header fills response headers: every response names the cluster, the
// member and its raft term, and the store revision it reflects.
type header struct {
	m Member
}

// fill completes h where the member left it empty; the revision, when the
// member gave none, is the store's current one. h must not be nil.
func (hd header) fill(h *pb.ResponseHeader) {
	hd.fillWithoutRevision(h)
	if h.Revision == 0 {
		h.Revision = hd.m.Store().Rev()
	}
}

// fillWithoutRevision is fill for responses whose revision must stay as
// the handler set it (a pinned read revision).
func (hd header) fillWithoutRevision(h *pb.ResponseHeader) {
	if h.ClusterId == 0 {
		h.ClusterId = hd.m.ClusterID()
	}
	if h.MemberId == 0 {
		h.MemberId = hd.m.ID()
	}
	if h.RaftTerm == 0 {
		h.RaftTerm = hd.m.Term()
	}
}

// new returns a complete header at revision rev (0: the current one).
func (hd header) new(rev int64) *pb.ResponseHeader {
	h := &pb.ResponseHeader{Revision: rev}
	hd.fill(h)
	return h
}

// ensure returns h, allocating it when the member returned none.
func ensureHeader(h **pb.ResponseHeader) *pb.ResponseHeader {
	if *h == nil {
		*h = &pb.ResponseHeader{}
	}
	return *h
}
