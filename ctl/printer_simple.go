package ctl

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// simplePrinter is the default, human-oriented format: keys and values on
// lines of their own, short sentences for everything else.
type simplePrinter struct {
	out, errOut io.Writer
	isHex       bool
	// valueOnly leaves keys out (get --print-value-only).
	valueOnly bool
}

// hexBytes writes b as \x-escaped hex pairs: "\x61\x62".
func hexBytes(b []byte) string {
	var sb strings.Builder
	sb.Grow(4 * len(b))
	h := hex.EncodeToString(b)
	for i := 0; i < len(h); i += 2 {
		sb.WriteString(`\x`)
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

func (s *simplePrinter) kv(kv *mvccpb.KeyValue) {
	k, v := string(kv.GetKey()), string(kv.GetValue())
	if s.isHex {
		k, v = hexBytes(kv.GetKey()), hexBytes(kv.GetValue())
	}
	if !s.valueOnly {
		fmt.Fprintln(s.out, k)
	}
	fmt.Fprintln(s.out, v)
}

func (s *simplePrinter) Del(r *clientv3.DeleteResponse) error {
	fmt.Fprintln(s.out, r.Deleted)
	for _, kv := range r.PrevKvs {
		s.kv(kv)
	}
	return nil
}

func (s *simplePrinter) Get(r *clientv3.GetResponse) error {
	for _, kv := range r.Kvs {
		s.kv(kv)
	}
	return nil
}

func (s *simplePrinter) Put(r *clientv3.PutResponse) error {
	fmt.Fprintln(s.out, "OK")
	if r.PrevKv != nil {
		s.kv(r.PrevKv)
	}
	return nil
}

func (s *simplePrinter) Txn(r *clientv3.TxnResponse) error {
	if r.Succeeded {
		fmt.Fprintln(s.out, "SUCCESS")
	} else {
		fmt.Fprintln(s.out, "FAILURE")
	}
	for _, op := range r.Responses {
		fmt.Fprintln(s.out)
		switch v := op.GetResponse().(type) {
		case *pb.ResponseOp_ResponseDeleteRange:
			s.Del((*clientv3.DeleteResponse)(v.ResponseDeleteRange))
		case *pb.ResponseOp_ResponsePut:
			s.Put((*clientv3.PutResponse)(v.ResponsePut))
		case *pb.ResponseOp_ResponseRange:
			s.Get((*clientv3.GetResponse)(v.ResponseRange))
		default:
			fmt.Fprintf(s.out, "unexpected response %+v\n", op)
		}
	}
	return nil
}

func (s *simplePrinter) Watch(r *clientv3.WatchResponse) error {
	for _, ev := range r.Events {
		fmt.Fprintln(s.out, ev.Type)
		if ev.PrevKv != nil {
			s.kv(ev.PrevKv)
		}
		s.kv(ev.Kv)
	}
	return nil
}

func (s *simplePrinter) Grant(r *clientv3.LeaseGrantResponse) error {
	fmt.Fprintf(s.out, "lease %016x granted with TTL(%ds)\n", r.ID, r.TTL)
	return nil
}

func (s *simplePrinter) Revoke(id clientv3.LeaseID, _ *clientv3.LeaseRevokeResponse) error {
	fmt.Fprintf(s.out, "lease %016x revoked\n", id)
	return nil
}

func (s *simplePrinter) KeepAlive(r *clientv3.LeaseKeepAliveResponse) error {
	fmt.Fprintf(s.out, "lease %016x keepalived with TTL(%d)\n", r.ID, r.TTL)
	return nil
}

func (s *simplePrinter) TimeToLive(r *clientv3.LeaseTimeToLiveResponse, keys bool) error {
	if r.GrantedTTL == 0 && r.TTL == -1 {
		fmt.Fprintf(s.out, "lease %016x already expired\n", r.ID)
		return nil
	}
	line := fmt.Sprintf("lease %016x granted with TTL(%ds), remaining(%ds)", r.ID, r.GrantedTTL, r.TTL)
	if keys {
		ks := make([]string, len(r.Keys))
		for i, k := range r.Keys {
			ks[i] = string(k)
		}
		line += fmt.Sprintf(", attached keys(%v)", ks)
	}
	fmt.Fprintln(s.out, line)
	return nil
}

func (s *simplePrinter) Leases(r *clientv3.LeaseLeasesResponse) error {
	fmt.Fprintf(s.out, "found %d leases\n", len(r.Leases))
	for _, l := range r.Leases {
		fmt.Fprintf(s.out, "%016x\n", l.ID)
	}
	return nil
}

func (s *simplePrinter) Alarm(r *clientv3.AlarmResponse) error {
	for _, a := range r.Alarms {
		fmt.Fprintf(s.out, "%+v\n", a)
	}
	return nil
}

// The member change sentences write IDs as etcdctl does: hex, padded with
// spaces to 16 characters.
func (s *simplePrinter) MemberAdd(r *clientv3.MemberAddResponse) error {
	as := " "
	if r.Member.GetIsLearner() {
		as = " as learner "
	}
	fmt.Fprintf(s.out, "Member %16x added%sto cluster %16x\n", r.Member.GetID(), as, r.Header.GetClusterId())
	return nil
}

func (s *simplePrinter) MemberRemove(id uint64, r *clientv3.MemberRemoveResponse) error {
	fmt.Fprintf(s.out, "Member %16x removed from cluster %16x\n", id, r.Header.GetClusterId())
	return nil
}

func (s *simplePrinter) MemberUpdate(id uint64, r *clientv3.MemberUpdateResponse) error {
	fmt.Fprintf(s.out, "Member %16x updated in cluster %16x\n", id, r.Header.GetClusterId())
	return nil
}

func (s *simplePrinter) MemberPromote(id uint64, r *clientv3.MemberPromoteResponse) error {
	fmt.Fprintf(s.out, "Member %16x promoted in cluster %16x\n", id, r.Header.GetClusterId())
	return nil
}

func (s *simplePrinter) MemberList(r *clientv3.MemberListResponse) error {
	_, rows := memberListRows(r)
	s.rows(rows)
	return nil
}

func (s *simplePrinter) rows(rows [][]string) {
	for _, row := range rows {
		fmt.Fprintln(s.out, strings.Join(row, ", "))
	}
}

func (s *simplePrinter) EndpointHealth(hs []epHealth) error {
	for _, h := range hs {
		if h.Error == "" {
			fmt.Fprintf(s.out, "%s is healthy: successfully committed proposal: took = %v\n", h.Ep, h.Took)
		} else {
			fmt.Fprintf(s.errOut, "%s is unhealthy: failed to commit proposal: %v\n", h.Ep, h.Error)
		}
	}
	return nil
}

func (s *simplePrinter) EndpointStatus(sts []epStatus) error {
	_, rows := endpointStatusRows(sts)
	s.rows(rows)
	return nil
}

func (s *simplePrinter) EndpointHashKV(hs []epHashKV) error {
	_, rows := endpointHashKVRows(hs)
	s.rows(rows)
	return nil
}

func (s *simplePrinter) MoveLeader(leader, target uint64, _ *clientv3.MoveLeaderResponse) error {
	fmt.Fprintf(s.out, "Leadership transferred from %s to %s\n", hexID(leader), hexID(target))
	return nil
}
