package v3rpc

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// A write watched by many is sent to each of its watchers in a response
// of its own, which differ only in the watch ID and header: encoding the
// events once for all of them takes most of the encoding off the watch
// path. The store hands every watcher of a single-event write the same
// events slice; the encoder remembers the last events it encoded and
// reuses the bytes while the same events come by.

// watchEventsField is WatchResponse.events' field number.
const watchEventsField = 11

// encodedResponse is a WatchResponse in wire form, as head (every field
// but the events) then the events; the server codec sends the bytes as
// they are. The events bytes are shared and never written to.
type encodedResponse struct {
	head, events []byte
}

// eventsEncoder holds the last events encoded and their bytes.
type eventsEncoder struct {
	mu  sync.Mutex
	evs []*mvccpb.Event
	enc []byte
}

// sharedEvents is the process's encoder: watchers of one write are spread
// over many streams.
var sharedEvents eventsEncoder

// encode returns the wire form of r, whose events must not change once
// handed to a watcher (the store's events are not).
func (c *eventsEncoder) encode(r *pb.WatchResponse) (*encodedResponse, error) {
	evs := r.Events
	head := appendHead(make([]byte, 0, 64), r)
	c.mu.Lock()
	same := slices.Equal(c.evs, evs) // the same events: the same pointers
	enc := c.enc
	c.mu.Unlock()
	if !same {
		// Encoded outside the lock: other streams' different events
		// (watchers catching up) encode in parallel.
		var err error
		if enc, err = appendEvents(nil, evs); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.evs, c.enc = evs, enc
		c.mu.Unlock()
	}
	return &encodedResponse{head: head, events: enc}, nil
}

// appendHead appends r's fields but the events, as proto.Marshal writes
// them (in field number order, zero values left out); the test checks the
// result against proto.Marshal, and that WatchResponse and ResponseHeader
// have no fields but these.
func appendHead(b []byte, r *pb.WatchResponse) []byte {
	if h := r.Header; h != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(headerSize(h)))
		b = appendVarintField(b, 1, h.ClusterId)
		b = appendVarintField(b, 2, h.MemberId)
		b = appendVarintField(b, 3, uint64(h.Revision))
		b = appendVarintField(b, 4, h.RaftTerm)
	}
	b = appendVarintField(b, 2, uint64(r.WatchId))
	b = appendVarintField(b, 3, protowire.EncodeBool(r.Created))
	b = appendVarintField(b, 4, protowire.EncodeBool(r.Canceled))
	b = appendVarintField(b, 5, uint64(r.CompactRevision))
	if r.CancelReason != "" {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendString(b, r.CancelReason)
	}
	return appendVarintField(b, 7, protowire.EncodeBool(r.Fragment))
}

func headerSize(h *pb.ResponseHeader) int {
	n := 0
	for _, v := range []uint64{h.ClusterId, h.MemberId, uint64(h.Revision), h.RaftTerm} {
		if v != 0 {
			n += 1 + protowire.SizeVarint(v)
		}
	}
	return n
}

// appendVarintField appends a varint field unless it is zero (proto3).
func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendEvents appends evs encoded as WatchResponse's events field.
// proto.Marshal writes fields in number order and events has the highest,
// so head followed by these bytes is what it would write for the whole.
func appendEvents(b []byte, evs []*mvccpb.Event) ([]byte, error) {
	for _, e := range evs {
		b = protowire.AppendTag(b, watchEventsField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(proto.Size(e)))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, e); err != nil {
			return nil, err
		}
	}
	return b, nil
}
