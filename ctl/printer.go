package ctl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/basaltkv/basalt/pkg/humanize"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// printer renders responses in one --write-out format. A format that cannot
// show a response returns an exitError (ExitBadFeature).
type printer interface {
	Del(*clientv3.DeleteResponse) error
	Get(*clientv3.GetResponse) error
	Put(*clientv3.PutResponse) error
	Txn(*clientv3.TxnResponse) error
	Watch(*clientv3.WatchResponse) error

	Grant(*clientv3.LeaseGrantResponse) error
	Revoke(id clientv3.LeaseID, r *clientv3.LeaseRevokeResponse) error
	KeepAlive(*clientv3.LeaseKeepAliveResponse) error
	TimeToLive(r *clientv3.LeaseTimeToLiveResponse, keys bool) error
	Leases(*clientv3.LeaseLeasesResponse) error

	MemberAdd(*clientv3.MemberAddResponse) error
	MemberRemove(id uint64, r *clientv3.MemberRemoveResponse) error
	MemberUpdate(id uint64, r *clientv3.MemberUpdateResponse) error
	MemberPromote(id uint64, r *clientv3.MemberPromoteResponse) error
	MemberList(*clientv3.MemberListResponse) error

	EndpointHealth([]epHealth) error
	EndpointStatus([]epStatus) error
	EndpointHashKV([]epHashKV) error
	MoveLeader(leader, target uint64, r *clientv3.MoveLeaderResponse) error
	downgradePrinter

	Alarm(*clientv3.AlarmResponse) error

	// The user, role and auth commands; their printers are in
	// printer_auth.go.
	UserAdd(name string, r *clientv3.AuthUserAddResponse) error
	UserGet(name string, r *clientv3.AuthUserGetResponse) error
	UserList(*clientv3.AuthUserListResponse) error
	UserDelete(name string, r *clientv3.AuthUserDeleteResponse) error
	UserChangePassword(*clientv3.AuthUserChangePasswordResponse) error
	UserGrantRole(user, role string, r *clientv3.AuthUserGrantRoleResponse) error
	UserRevokeRole(user, role string, r *clientv3.AuthUserRevokeRoleResponse) error
	RoleAdd(role string, r *clientv3.AuthRoleAddResponse) error
	RoleGet(role string, r *clientv3.AuthRoleGetResponse) error
	RoleList(*clientv3.AuthRoleListResponse) error
	RoleDelete(role string, r *clientv3.AuthRoleDeleteResponse) error
	RoleGrantPermission(role string, r *clientv3.AuthRoleGrantPermissionResponse) error
	// RoleRevokePermission's end is the range end sent: "" for one key,
	// "\x00" for all keys from key on.
	RoleRevokePermission(role, key, end string, r *clientv3.AuthRoleRevokePermissionResponse) error
	AuthStatus(*clientv3.AuthStatusResponse) error
}

// newPrinter is the printer of format, or nil for an unknown format.
func newPrinter(format string, isHex bool, out, errOut io.Writer) printer {
	switch format {
	case "simple":
		return &simplePrinter{out: out, errOut: errOut, isHex: isHex}
	case "fields":
		return &fieldsPrinter{messagePrinter: unsupportedPrinter("fields"), out: out, isHex: isHex}
	case "json":
		return newJSONPrinter(out, errOut, isHex)
	case "protobuf":
		return newProtobufPrinter(out, errOut)
	case "table":
		return &tablePrinter{messagePrinter: unsupportedPrinter("table"), out: out}
	}
	return nil
}

// messagePrinter prints every response as one message through emit: the
// json and protobuf formats, and the fallback of the others. The key-value
// responses are passed as their protobuf types (as etcdctl does), the lease
// and watch responses as clientv3's.
type messagePrinter struct {
	format string
	emit   func(any) error
}

func unsupportedPrinter(format string) messagePrinter {
	return messagePrinter{format: format, emit: func(any) error { return errUnsupported(format) }}
}

func errUnsupported(format string) error {
	return fail(ExitBadFeature, errors.New(format+" not supported as output format"))
}

func (p messagePrinter) Del(r *clientv3.DeleteResponse) error {
	return p.emit((*pb.DeleteRangeResponse)(r))
}
func (p messagePrinter) Get(r *clientv3.GetResponse) error { return p.emit((*pb.RangeResponse)(r)) }
func (p messagePrinter) Put(r *clientv3.PutResponse) error { return p.emit((*pb.PutResponse)(r)) }
func (p messagePrinter) Txn(r *clientv3.TxnResponse) error { return p.emit((*pb.TxnResponse)(r)) }
func (p messagePrinter) Watch(r *clientv3.WatchResponse) error {
	return p.emit(r)
}
func (p messagePrinter) Grant(r *clientv3.LeaseGrantResponse) error { return p.emit(r) }
func (p messagePrinter) Revoke(_ clientv3.LeaseID, r *clientv3.LeaseRevokeResponse) error {
	return p.emit(r)
}
func (p messagePrinter) KeepAlive(r *clientv3.LeaseKeepAliveResponse) error { return p.emit(r) }
func (p messagePrinter) TimeToLive(r *clientv3.LeaseTimeToLiveResponse, _ bool) error {
	return p.emit(r)
}
func (p messagePrinter) Leases(r *clientv3.LeaseLeasesResponse) error { return p.emit(r) }
func (p messagePrinter) MemberAdd(r *clientv3.MemberAddResponse) error {
	return p.emit((*pb.MemberAddResponse)(r))
}
func (p messagePrinter) MemberRemove(_ uint64, r *clientv3.MemberRemoveResponse) error {
	return p.emit((*pb.MemberRemoveResponse)(r))
}
func (p messagePrinter) MemberUpdate(_ uint64, r *clientv3.MemberUpdateResponse) error {
	return p.emit((*pb.MemberUpdateResponse)(r))
}
func (p messagePrinter) MemberPromote(_ uint64, r *clientv3.MemberPromoteResponse) error {
	return p.emit((*pb.MemberPromoteResponse)(r))
}
func (p messagePrinter) MemberList(r *clientv3.MemberListResponse) error {
	return p.emit((*pb.MemberListResponse)(r))
}
func (p messagePrinter) Alarm(r *clientv3.AlarmResponse) error { return p.emit((*pb.AlarmResponse)(r)) }

// Endpoint and move-leader results are not single messages: formats that
// do not know them refuse them.
func (p messagePrinter) EndpointHealth([]epHealth) error { return errUnsupported(p.format) }
func (p messagePrinter) EndpointStatus([]epStatus) error { return errUnsupported(p.format) }
func (p messagePrinter) EndpointHashKV([]epHashKV) error { return errUnsupported(p.format) }
func (p messagePrinter) MoveLeader(uint64, uint64, *clientv3.MoveLeaderResponse) error {
	return errUnsupported(p.format)
}

// epHealth is one endpoint's health as "endpoint health" reports it.
type epHealth struct {
	Ep     string `json:"endpoint"`
	Health bool   `json:"health"`
	Took   string `json:"took"`
	Error  string `json:"error,omitempty"`
}

// epStatus is one endpoint's status.
type epStatus struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.StatusResponse `json:"Status"`
}

// epHashKV is one endpoint's KV hash.
type epHashKV struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.HashKVResponse `json:"HashKV"`
}

// hexID is how etcd writes member and cluster IDs: lower-case hex, no
// padding.
func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

func memberListRows(r *clientv3.MemberListResponse) (hdr []string, rows [][]string) {
	hdr = []string{"ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"}
	if r == nil {
		return hdr, nil
	}
	for _, m := range r.Members {
		status := "started"
		if m.Name == "" {
			status = "unstarted"
		}
		rows = append(rows, []string{
			hexID(m.ID),
			status,
			m.Name,
			strings.Join(m.PeerURLs, ","),
			strings.Join(m.ClientURLs, ","),
			strconv.FormatBool(m.IsLearner),
		})
	}
	return hdr, rows
}

func endpointHealthRows(hs []epHealth) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "health", "took", "error"}
	for _, h := range hs {
		rows = append(rows, []string{h.Ep, strconv.FormatBool(h.Health), h.Took, h.Error})
	}
	return hdr, rows
}

func endpointStatusRows(sts []epStatus) (hdr []string, rows [][]string) {
	hdr = []string{
		"endpoint", "ID", "version", "storage version", "db size", "in use", "percentage not in use", "quota",
		"is leader", "is learner", "raft term", "raft index", "raft applied index", "errors",
		"downgrade target version", "downgrade enabled",
	}
	for _, st := range sts {
		r := (*pb.StatusResponse)(st.Resp)
		notInUse := "0%"
		if r.GetDbSize() != 0 {
			notInUse = fmt.Sprintf("%d%%", int(float64(100-(r.GetDbSizeInUse()*100/r.GetDbSize()))))
		}
		rows = append(rows, []string{
			st.Ep,
			hexID(r.GetHeader().GetMemberId()),
			r.GetVersion(),
			r.GetStorageVersion(),
			humanize.Bytes(uint64(r.GetDbSize())),
			humanize.Bytes(uint64(r.GetDbSizeInUse())),
			notInUse,
			humanize.Bytes(uint64(r.GetDbSizeQuota())),
			strconv.FormatBool(r.GetLeader() == r.GetHeader().GetMemberId()),
			strconv.FormatBool(r.GetIsLearner()),
			strconv.FormatUint(r.GetRaftTerm(), 10),
			strconv.FormatUint(r.GetRaftIndex(), 10),
			strconv.FormatUint(r.GetRaftAppliedIndex(), 10),
			strings.Join(r.GetErrors(), ", "),
			r.GetDowngradeInfo().GetTargetVersion(),
			strconv.FormatBool(r.GetDowngradeInfo().GetEnabled()),
		})
	}
	return hdr, rows
}

func endpointHashKVRows(hs []epHashKV) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "hash", "hash_revision"}
	for _, h := range hs {
		r := (*pb.HashKVResponse)(h.Resp)
		rows = append(rows, []string{
			h.Ep,
			strconv.FormatUint(uint64(r.GetHash()), 10),
			strconv.FormatInt(r.GetHashRevision(), 10),
		})
	}
	return hdr, rows
}
