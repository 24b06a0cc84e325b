package ctl

import (
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// protobufPrinter writes the wire encoding of each response, unframed.
// Responses that clientv3 wraps in its own types (leases) are not protobuf
// messages and are refused, as etcdctl refuses them.
type protobufPrinter struct {
	messagePrinter
	out, errOut io.Writer
}

func newProtobufPrinter(out, errOut io.Writer) *protobufPrinter {
	p := &protobufPrinter{out: out, errOut: errOut}
	p.messagePrinter = messagePrinter{format: "protobuf", emit: p.write}
	return p
}

func (p *protobufPrinter) write(v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return failf(ExitBadFeature, "marshal unsupported for type %T (%v)", v, v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		fmt.Fprintf(p.errOut, "%v\n", err)
		return nil
	}
	p.out.Write(b)
	return nil
}

func (p *protobufPrinter) Watch(r *clientv3.WatchResponse) error {
	wr := &pb.WatchResponse{}
	if r != nil {
		wr = &pb.WatchResponse{
			Header:          r.Header,
			Events:          r.Events,
			CompactRevision: r.CompactRevision,
			Canceled:        r.Canceled,
			Created:         r.Created,
		}
	}
	return p.write(wr)
}
