package v3rpc

import (
	"bytes"
	"context"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

type kvServer struct {
	pb.UnimplementedKVServer
	m               Member
	hdr             header
	maxTxnOps       int
	maxRequestBytes uint
}

func (s *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRangeRequest(r); err != nil {
		return nil, err
	}
	r.RangeEnd = normalizeRangeEnd(r.RangeEnd)
	resp, err := s.m.Range(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPutRequest(r); err != nil {
		return nil, err
	}
	if err := checkProposalSize(r, s.maxRequestBytes); err != nil {
		return nil, err
	}
	resp, err := s.m.Put(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := checkDeleteRequest(r); err != nil {
		return nil, err
	}
	if err := checkProposalSize(r, s.maxRequestBytes); err != nil {
		return nil, err
	}
	r.RangeEnd = normalizeRangeEnd(r.RangeEnd)
	resp, err := s.m.DeleteRange(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxn(r, s.maxTxnOps); err != nil {
		return nil, err
	}
	if !isTxnReadOnly(r) {
		if err := checkProposalSize(r, s.maxRequestBytes); err != nil {
			return nil, err
		}
	}
	normalizeTxnRangeEnds(r)
	resp, err := s.m.Txn(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := s.m.Compact(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

// rangeStreamFirstChunk is the number of keys in the first chunk of a
// RangeStream; later chunks grow or shrink towards maxRequestBytes.
const rangeStreamFirstChunk = 10

// RangeStream answers a range in chunks, each a page of keys read at one
// pinned revision, so that a huge range never has to fit one message.
// Header, More and Count come with the last chunk only.
func (s *kvServer) RangeStream(r *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	if err := checkRangeRequest(r); err != nil {
		return err
	}
	defaultOrder := r.SortOrder == pb.RangeRequest_NONE ||
		(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)
	if !defaultOrder {
		return status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders")
	}
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return status.Error(codes.Unimplemented, "RangeStream does not support revision filters")
	}
	r.RangeEnd = normalizeRangeEnd(r.RangeEnd)
	if err := s.rangeStream(stream.Context(), proto.CloneOf(r), stream); err != nil {
		return toGRPCError(err)
	}
	return nil
}

func (s *kvServer) rangeStream(ctx context.Context, r *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	if r.CountOnly {
		resp, err := s.m.Range(ctx, r)
		if err != nil {
			return err
		}
		out := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: ensureHeader(&resp.Header).Revision}, Count: resp.Count}
		s.hdr.fillWithoutRevision(out.Header)
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: out})
	}
	total := r.Limit
	if total <= 0 {
		total = math.MaxInt64
	}
	r.Limit = min(int64(rangeStreamFirstChunk), total)
	var sent, pinnedRev int64
	for {
		resp, err := s.m.Range(ctx, r)
		if err != nil {
			return err
		}
		if pinnedRev == 0 {
			// Every chunk reads the revision the first one saw; the first
			// read carried the request's consistency, later ones are local
			// reads of that same revision.
			pinnedRev = ensureHeader(&resp.Header).Revision
			if r.Revision == 0 {
				r.Revision = pinnedRev
			}
			r.Serializable = true
		}
		sent += int64(len(resp.Kvs))
		out := &pb.RangeResponse{Kvs: resp.Kvs}
		done := !resp.More || sent >= total || len(resp.Kvs) == 0
		var next []byte
		if resp.More && len(resp.Kvs) > 0 {
			next = append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0)
		}
		if done {
			out.Header = &pb.ResponseHeader{Revision: pinnedRev}
			s.hdr.fillWithoutRevision(out.Header)
			out.More = resp.More
			out.Count = sent
			if resp.More && next != nil {
				rest, err := s.m.Range(ctx, &pb.RangeRequest{Key: next, RangeEnd: r.RangeEnd, Revision: r.Revision, CountOnly: true, Serializable: true})
				if err != nil {
					return err
				}
				out.Count += rest.Count
			}
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: out}); err != nil {
			return err
		}
		if done {
			return nil
		}
		r.Key = next
		r.Limit = min(nextChunkLimit(r.Limit, proto.Size(resp), int(s.maxRequestBytes)), total-sent)
	}
}

// nextChunkLimit doubles or halves the page size when the last page was
// far from the target size, and keeps it otherwise.
func nextChunkLimit(last int64, lastSize, target int) int64 {
	switch {
	case lastSize < target/2:
		last *= 2
	case lastSize > target*2:
		last /= 2
	}
	return max(last, 1)
}

// normalizeRangeEnd makes an empty range end nil. Both mean "the key
// alone" on the wire, but a decoder may produce either (protojson makes
// "" an empty slice), and the store reads an empty, non-nil end as "every
// key from key on".
func normalizeRangeEnd(end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	return end
}

func normalizeTxnRangeEnds(r *pb.TxnRequest) {
	if r == nil {
		return
	}
	for _, c := range r.Compare {
		if c != nil {
			c.RangeEnd = normalizeRangeEnd(c.RangeEnd)
		}
	}
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			switch u := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
				if u.RequestRange != nil {
					u.RequestRange.RangeEnd = normalizeRangeEnd(u.RequestRange.RangeEnd)
				}
			case *pb.RequestOp_RequestDeleteRange:
				if u.RequestDeleteRange != nil {
					u.RequestDeleteRange.RangeEnd = normalizeRangeEnd(u.RequestDeleteRange.RangeEnd)
				}
			case *pb.RequestOp_RequestTxn:
				normalizeTxnRangeEnds(u.RequestTxn)
			}
		}
	}
}
