package ctl

import (
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fieldsPrinter writes one `"Name" : value` line per field, for scripts
// that grep. Responses it does not know are refused.
type fieldsPrinter struct {
	messagePrinter
	out   io.Writer
	isHex bool
}

func (p *fieldsPrinter) line(name string, v any) { fmt.Fprintf(p.out, "\"%s\" : %v\n", name, v) }
func (p *fieldsPrinter) quoted(name, v string)   { fmt.Fprintf(p.out, "\"%s\" : %q\n", name, v) }

// id writes a member or cluster ID: decimal, or unpadded hex with --hex.
func (p *fieldsPrinter) id(name string, id uint64) {
	if p.isHex {
		p.line(name, hexID(id))
	} else {
		p.line(name, id)
	}
}

// leaseID writes a lease ID: decimal, or 16-digit hex with --hex.
func (p *fieldsPrinter) leaseID(name string, id int64) {
	if p.isHex {
		fmt.Fprintf(p.out, "\"%s\" : %016x\n", name, id)
	} else {
		p.line(name, id)
	}
}

func (p *fieldsPrinter) kv(prefix string, kv *mvccpb.KeyValue) {
	p.quoted(prefix+"Key", string(kv.GetKey()))
	p.line(prefix+"CreateRevision", kv.GetCreateRevision())
	p.line(prefix+"ModRevision", kv.GetModRevision())
	p.line(prefix+"Version", kv.GetVersion())
	p.quoted(prefix+"Value", string(kv.GetValue()))
	p.leaseID(prefix+"Lease", kv.GetLease())
}

func (p *fieldsPrinter) hdr(h *pb.ResponseHeader) {
	p.id("ClusterID", h.GetClusterId())
	p.id("MemberID", h.GetMemberId())
	// Only key-value responses carry a revision; others leave it out.
	if h.GetRevision() > 0 {
		p.line("Revision", h.GetRevision())
	}
	p.line("RaftTerm", h.GetRaftTerm())
}

func (p *fieldsPrinter) Del(r *clientv3.DeleteResponse) error {
	p.hdr(r.Header)
	p.line("Deleted", r.Deleted)
	for _, kv := range r.PrevKvs {
		p.kv("Prev", kv)
	}
	return nil
}

func (p *fieldsPrinter) Get(r *clientv3.GetResponse) error {
	p.hdr(r.Header)
	for _, kv := range r.Kvs {
		p.kv("", kv)
	}
	p.line("More", r.More)
	p.line("Count", r.Count)
	return nil
}

func (p *fieldsPrinter) Put(r *clientv3.PutResponse) error {
	p.hdr(r.Header)
	if r.PrevKv != nil {
		p.kv("Prev", r.PrevKv)
	}
	return nil
}

func (p *fieldsPrinter) Txn(r *clientv3.TxnResponse) error {
	p.hdr(r.Header)
	p.line("Succeeded", r.Succeeded)
	for _, op := range r.Responses {
		switch v := op.GetResponse().(type) {
		case *pb.ResponseOp_ResponseDeleteRange:
			p.Del((*clientv3.DeleteResponse)(v.ResponseDeleteRange))
		case *pb.ResponseOp_ResponsePut:
			p.Put((*clientv3.PutResponse)(v.ResponsePut))
		case *pb.ResponseOp_ResponseRange:
			p.Get((*clientv3.GetResponse)(v.ResponseRange))
		default:
			p.quoted("Unknown", fmt.Sprintf("%+v", v))
		}
	}
	return nil
}

func (p *fieldsPrinter) Watch(r *clientv3.WatchResponse) error {
	if r == nil {
		return nil
	}
	p.hdr(r.Header)
	for _, ev := range r.Events {
		p.line("Type", ev.GetType())
		if ev.GetPrevKv() != nil {
			p.kv("Prev", ev.GetPrevKv())
		}
		p.kv("", ev.GetKv())
	}
	return nil
}

func (p *fieldsPrinter) Grant(r *clientv3.LeaseGrantResponse) error {
	p.hdr(r.ResponseHeader)
	p.leaseID("ID", int64(r.ID))
	p.line("TTL", r.TTL)
	return nil
}

func (p *fieldsPrinter) Revoke(_ clientv3.LeaseID, r *clientv3.LeaseRevokeResponse) error {
	p.hdr(r.Header)
	return nil
}

func (p *fieldsPrinter) KeepAlive(r *clientv3.LeaseKeepAliveResponse) error {
	p.hdr(r.ResponseHeader)
	p.leaseID("ID", int64(r.ID))
	p.line("TTL", r.TTL)
	return nil
}

func (p *fieldsPrinter) TimeToLive(r *clientv3.LeaseTimeToLiveResponse, _ bool) error {
	p.hdr(r.ResponseHeader)
	p.leaseID("ID", int64(r.ID))
	p.line("TTL", r.TTL)
	p.line("GrantedTTL", r.GrantedTTL)
	for _, k := range r.Keys {
		p.quoted("Key", string(k))
	}
	return nil
}

func (p *fieldsPrinter) Leases(r *clientv3.LeaseLeasesResponse) error {
	p.hdr(r.ResponseHeader)
	for _, l := range r.Leases {
		p.leaseID("ID", int64(l.ID))
	}
	return nil
}

func (p *fieldsPrinter) MemberList(r *clientv3.MemberListResponse) error {
	p.hdr(r.Header)
	for _, m := range r.Members {
		p.id("ID", m.GetID())
		p.quoted("Name", m.GetName())
		for _, u := range m.GetPeerURLs() {
			p.quoted("PeerURL", u)
		}
		for _, u := range m.GetClientURLs() {
			p.quoted("ClientURL", u)
		}
		p.line("IsLearner", m.GetIsLearner())
		fmt.Fprintln(p.out)
	}
	return nil
}

func (p *fieldsPrinter) EndpointHealth(hs []epHealth) error {
	for _, h := range hs {
		p.quoted("Endpoint", h.Ep)
		p.line("Health", h.Health)
		p.line("Took", h.Took)
		p.line("Error", h.Error)
		fmt.Fprintln(p.out)
	}
	return nil
}

func (p *fieldsPrinter) EndpointStatus(sts []epStatus) error {
	for _, st := range sts {
		r := (*pb.StatusResponse)(st.Resp)
		p.hdr(r.GetHeader())
		p.quoted("Version", r.GetVersion())
		p.quoted("StorageVersion", r.GetStorageVersion())
		p.line("DBSize", r.GetDbSize())
		p.line("DBSizeInUse", r.GetDbSizeInUse())
		p.line("DBSizeQuota", r.GetDbSizeQuota())
		p.line("Leader", r.GetLeader())
		p.line("IsLearner", r.GetIsLearner())
		p.line("RaftIndex", r.GetRaftIndex())
		p.line("RaftAppliedIndex", r.GetRaftAppliedIndex())
		p.line("Errors", r.GetErrors())
		p.quoted("Endpoint", st.Ep)
		p.quoted("DowngradeTargetVersion", r.GetDowngradeInfo().GetTargetVersion())
		p.line("DowngradeEnabled", r.GetDowngradeInfo().GetEnabled())
		fmt.Fprintln(p.out)
	}
	return nil
}

func (p *fieldsPrinter) EndpointHashKV(hs []epHashKV) error {
	for _, h := range hs {
		r := (*pb.HashKVResponse)(h.Resp)
		p.hdr(r.GetHeader())
		p.quoted("Endpoint", h.Ep)
		p.line("Hash", r.GetHash())
		p.line("HashRevision", r.GetHashRevision())
		fmt.Fprintln(p.out)
	}
	return nil
}

func (p *fieldsPrinter) Alarm(r *clientv3.AlarmResponse) error {
	p.hdr(r.Header)
	for _, a := range r.Alarms {
		p.id("MemberID", a.GetMemberID())
		p.line("AlarmType", a.GetAlarm())
		fmt.Fprintln(p.out)
	}
	return nil
}
