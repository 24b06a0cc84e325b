package ctl

import (
	"io"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// tablePrinter draws member and endpoint listings as tables and refuses
// everything else.
type tablePrinter struct {
	messagePrinter
	out io.Writer
}

func (p *tablePrinter) MemberList(r *clientv3.MemberListResponse) error {
	hdr, rows := memberListRows(r)
	renderTable(p.out, hdr, rows)
	return nil
}

func (p *tablePrinter) EndpointHealth(hs []epHealth) error {
	hdr, rows := endpointHealthRows(hs)
	renderTable(p.out, hdr, rows)
	return nil
}

func (p *tablePrinter) EndpointStatus(sts []epStatus) error {
	hdr, rows := endpointStatusRows(sts)
	renderTable(p.out, hdr, rows)
	return nil
}

func (p *tablePrinter) EndpointHashKV(hs []epHashKV) error {
	hdr, rows := endpointHashKVRows(hs)
	renderTable(p.out, hdr, rows)
	return nil
}
