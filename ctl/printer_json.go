package ctl

import (
	"encoding/json"
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// jsonPrinter writes each response as one line of encoding/json output of
// the response's Go type, as etcdctl does: field names are the protobuf
// JSON tags (snake_case), byte strings are base64, IDs are decimal numbers
// and zero values are left out. With --hex, member IDs and the header's IDs
// of member responses are hex strings.
type jsonPrinter struct {
	messagePrinter
	out, errOut io.Writer
	isHex       bool
}

func newJSONPrinter(out, errOut io.Writer, isHex bool) *jsonPrinter {
	p := &jsonPrinter{out: out, errOut: errOut, isHex: isHex}
	p.messagePrinter = messagePrinter{format: "json", emit: p.write}
	return p
}

func (p *jsonPrinter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(p.errOut, "%v\n", err)
		return nil
	}
	fmt.Fprintln(p.out, string(b))
	return nil
}

func (p *jsonPrinter) EndpointHealth(r []epHealth) error { return p.write(r) }
func (p *jsonPrinter) EndpointStatus(r []epStatus) error { return p.write(r) }
func (p *jsonPrinter) EndpointHashKV(r []epHashKV) error { return p.write(r) }

func (p *jsonPrinter) MemberList(r *clientv3.MemberListResponse) error {
	if !p.isHex {
		return p.write(r)
	}
	return p.write(&struct {
		Header  *hexHeader   `json:"header"`
		Members []*hexMember `json:"members"`
	}{(*hexHeader)(r.Header), hexMembers(r.Members)})
}

// The member change responses follow MemberList: with --hex their header
// and member IDs are hex strings.
func (p *jsonPrinter) MemberAdd(r *clientv3.MemberAddResponse) error {
	if !p.isHex {
		return p.write(r)
	}
	return p.write(&struct {
		Header  *hexHeader   `json:"header"`
		Member  *hexMember   `json:"member"`
		Members []*hexMember `json:"members"`
	}{(*hexHeader)(r.Header), (*hexMember)(r.Member), hexMembers(r.Members)})
}

func (p *jsonPrinter) MemberRemove(_ uint64, r *clientv3.MemberRemoveResponse) error {
	return p.membersHex(r, r.Header, r.Members)
}

func (p *jsonPrinter) MemberUpdate(_ uint64, r *clientv3.MemberUpdateResponse) error {
	return p.membersHex(r, r.Header, r.Members)
}

func (p *jsonPrinter) MemberPromote(_ uint64, r *clientv3.MemberPromoteResponse) error {
	return p.membersHex(r, r.Header, r.Members)
}

// membersHex writes r, or with --hex its header and members in hex.
func (p *jsonPrinter) membersHex(r any, h *pb.ResponseHeader, ms []*pb.Member) error {
	if !p.isHex {
		return p.write(r)
	}
	return p.write(&struct {
		Header  *hexHeader   `json:"header"`
		Members []*hexMember `json:"members"`
	}{(*hexHeader)(h), hexMembers(ms)})
}

func (p *jsonPrinter) Txn(r *clientv3.TxnResponse) error {
	return p.write(txnJSON((*pb.TxnResponse)(r)))
}

// txnResponseJSON shows a txn's responses with the oneof made explicit:
// {"Response":{"response_put":{...}}}.
type txnResponseJSON struct {
	Header    *pb.ResponseHeader `json:"header,omitempty"`
	Succeeded bool               `json:"succeeded,omitempty"`
	Responses []responseOpJSON   `json:"responses,omitempty"`
}

type responseOpJSON struct {
	Response responseOpBodyJSON `json:"Response"`
}

type responseOpBodyJSON struct {
	ResponseRange       *pb.RangeResponse       `json:"response_range,omitempty"`
	ResponsePut         *pb.PutResponse         `json:"response_put,omitempty"`
	ResponseDeleteRange *pb.DeleteRangeResponse `json:"response_delete_range,omitempty"`
	ResponseTxn         *txnResponseJSON        `json:"response_txn,omitempty"`
}

func txnJSON(r *pb.TxnResponse) txnResponseJSON {
	out := txnResponseJSON{Header: r.GetHeader(), Succeeded: r.GetSucceeded()}
	for _, op := range r.GetResponses() {
		var body responseOpBodyJSON
		switch v := op.Response.(type) {
		case *pb.ResponseOp_ResponseRange:
			body.ResponseRange = v.ResponseRange
		case *pb.ResponseOp_ResponsePut:
			body.ResponsePut = v.ResponsePut
		case *pb.ResponseOp_ResponseDeleteRange:
			body.ResponseDeleteRange = v.ResponseDeleteRange
		case *pb.ResponseOp_ResponseTxn:
			nested := txnJSON(v.ResponseTxn)
			body.ResponseTxn = &nested
		}
		out.Responses = append(out.Responses, responseOpJSON{Response: body})
	}
	return out
}

// hexHeader is a response header with hex IDs (json --hex).
type hexHeader pb.ResponseHeader

func (h *hexHeader) MarshalJSON() ([]byte, error) {
	return json.Marshal(&struct {
		ClusterID string `json:"cluster_id"`
		MemberID  string `json:"member_id"`
		Revision  int64  `json:"revision,omitempty"`
		RaftTerm  uint64 `json:"raft_term,omitempty"`
	}{hexID(h.ClusterId), hexID(h.MemberId), h.Revision, h.RaftTerm})
}

// hexMember is a member with a hex ID (json --hex).
type hexMember pb.Member

func (m *hexMember) MarshalJSON() ([]byte, error) {
	return json.Marshal(&struct {
		ID         string   `json:"ID"`
		Name       string   `json:"name,omitempty"`
		PeerURLs   []string `json:"peerURLs,omitempty"`
		ClientURLs []string `json:"clientURLs,omitempty"`
		IsLearner  bool     `json:"isLearner,omitempty"`
	}{hexID(m.ID), m.Name, m.PeerURLs, m.ClientURLs, m.IsLearner})
}

func hexMembers(ms []*pb.Member) []*hexMember {
	out := make([]*hexMember, len(ms))
	for i, m := range ms {
		out[i] = (*hexMember)(m)
	}
	return out
}
