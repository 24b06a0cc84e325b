package ctl

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// downgradePrinter renders a downgrade action's response. As in etcdctl,
// simple prints a sentence, json and protobuf the response message, and
// fields and table refuse it.
type downgradePrinter interface {
	Downgrade(action clientv3.DowngradeAction, r *clientv3.DowngradeResponse) error
}

// downgradeActionNames are the words etcdctl's simple output uses.
var downgradeActionNames = map[clientv3.DowngradeAction]string{
	clientv3.DowngradeValidate: "validate",
	clientv3.DowngradeEnable:   "enable",
	clientv3.DowngradeCancel:   "cancel",
}

func (p messagePrinter) Downgrade(_ clientv3.DowngradeAction, r *clientv3.DowngradeResponse) error {
	return p.emit((*pb.DowngradeResponse)(r))
}

// fieldsPrinter and tablePrinter inherit messagePrinter's Downgrade, whose
// emit refuses every message; the refusal is spelled out here so that a
// later fields or table message method cannot turn it on by accident.
func (p *fieldsPrinter) Downgrade(clientv3.DowngradeAction, *clientv3.DowngradeResponse) error {
	return errUnsupported("fields")
}

func (p *tablePrinter) Downgrade(clientv3.DowngradeAction, *clientv3.DowngradeResponse) error {
	return errUnsupported("table")
}

func (s *simplePrinter) Downgrade(action clientv3.DowngradeAction, r *clientv3.DowngradeResponse) error {
	fmt.Fprintf(s.out, "Downgrade %s success, cluster version %s\n",
		downgradeActionNames[action], (*pb.DowngradeResponse)(r).GetVersion())
	return nil
}
