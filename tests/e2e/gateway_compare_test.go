package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// gatewayStep is one request to the JSON gateway; stream reads only the
// first message of a streaming answer.
type gatewayStep struct {
	name, method, path, body string
	stream                   bool
}

// gatewaySteps is a session with the gateway that touches every service:
// successes, refusals and the gateway's own errors. Lease IDs are fixed
// so that both servers see the same requests.
var gatewaySteps = []gatewayStep{
	{name: "put", path: "/v3/kv/put", body: `{"key":"Zm9v","value":"YmFy"}`},
	{name: "put prev_kv", path: "/v3/kv/put", body: `{"key":"Zm9v","value":"YmF6","prev_kv":true}`},
	{name: "range", path: "/v3/kv/range", body: `{"key":"Zm9v"}`},
	{name: "range missing", path: "/v3/kv/range", body: `{"key":"bm9uZQ=="}`},
	{name: "range count only", path: "/v3/kv/range", body: `{"key":"AA==","range_end":"AA==","count_only":true}`},
	{name: "range keys only sorted", path: "/v3/kv/range", body: `{"key":"AA==","range_end":"AA==","keys_only":true,"sort_order":"DESCEND","sort_target":"KEY"}`},
	{name: "range future revision", path: "/v3/kv/range", body: `{"key":"Zm9v","revision":"99"}`},
	{name: "put empty key", path: "/v3/kv/put", body: `{"value":"eA=="}`},
	{name: "txn", path: "/v3/kv/txn", body: `{"compare":[{"key":"Zm9v","target":"VALUE","result":"EQUAL","value":"YmF6"}],"success":[{"request_put":{"key":"Zm9v","value":"cXV4"}}],"failure":[{"request_range":{"key":"Zm9v"}}]}`},
	{name: "txn failure", path: "/v3/kv/txn", body: `{"compare":[{"key":"Zm9v","target":"VERSION","result":"GREATER","version":"10"}],"failure":[{"request_range":{"key":"Zm9v"}},{"request_delete_range":{"key":"bm9uZQ=="}}]}`},
	{name: "delete prev_kv", path: "/v3/kv/deleterange", body: `{"key":"Zm9v","prev_kv":true}`},
	{name: "compaction", path: "/v3/kv/compaction", body: `{"revision":"2"}`},
	{name: "compacted range", path: "/v3/kv/range", body: `{"key":"Zm9v","revision":"1"}`},
	{name: "lease grant", path: "/v3/lease/grant", body: `{"TTL":"60","ID":"4242"}`},
	{name: "lease grant again", path: "/v3/lease/grant", body: `{"TTL":"60","ID":"4242"}`},
	{name: "put with lease", path: "/v3/kv/put", body: `{"key":"bGVhc2Vk","value":"eA==","lease":"4242"}`},
	{name: "lease time to live", path: "/v3/lease/timetolive", body: `{"ID":"4242","keys":true}`},
	{name: "lease leases", path: "/v3/lease/leases", body: `{}`},
	{name: "lease keepalive", path: "/v3/lease/keepalive", body: `{"ID":"4242"}`, stream: true},
	{name: "lease revoke", path: "/v3/lease/revoke", body: `{"ID":"4242"}`},
	{name: "lease revoke missing", path: "/v3/lease/revoke", body: `{"ID":"4242"}`},
	{name: "watch", path: "/v3/watch", body: `{"create_request":{"key":"Zm9v"}}`, stream: true},
	{name: "member list", path: "/v3/cluster/member/list", body: `{}`},
	{name: "status", path: "/v3/maintenance/status", body: `{}`},
	{name: "alarm list", path: "/v3/maintenance/alarm", body: `{"action":"GET"}`},
	{name: "hash kv", path: "/v3/maintenance/hashkv", body: `{}`},
	{name: "defragment", path: "/v3/maintenance/defragment", body: `{}`},
	{name: "auth status", path: "/v3/auth/status", body: `{}`},
	{name: "user list", path: "/v3/auth/user/list", body: `{}`},
	{name: "user add and get", path: "/v3/auth/user/add", body: `{"name":"u","password":"p"}`},
	{name: "user get", path: "/v3/auth/user/get", body: `{"name":"u"}`},
	{name: "user get missing", path: "/v3/auth/user/get", body: `{"name":"nobody"}`},
	{name: "role add", path: "/v3/auth/role/add", body: `{"name":"r"}`},
	{name: "role grant", path: "/v3/auth/role/grant", body: `{"name":"r","perm":{"permType":"READWRITE","key":"YQ==","range_end":"Yg=="}}`},
	{name: "role get", path: "/v3/auth/role/get", body: `{"role":"r"}`},
	{name: "bad JSON", path: "/v3/kv/range", body: `{"key":`},
	{name: "unknown field", path: "/v3/kv/range", body: `{"nope":1}`},
	{name: "unknown path", path: "/v3/kv/nope", body: `{}`},
	{name: "GET of a POST endpoint", method: http.MethodGet, path: "/v3/kv/range"},
	{name: "member add learner", path: "/v3/cluster/member/add", body: `{"peerURLs":["http://127.0.0.1:1"],"isLearner":true}`},
	{name: "member add bad URL", path: "/v3/cluster/member/add", body: `{"peerURLs":["ftp://x"]}`},
}

// volatile are the fields whose values differ between two servers: IDs,
// terms, sizes, versions, hashes, times.
var volatile = map[string]bool{
	"cluster_id": true, "member_id": true, "raft_term": true, "ID": true, "id": true, "leader": true,
	"name": true, "peerURLs": true, "clientURLs": true, "version": true, "storageVersion": true,
	"dbSize": true, "dbSizeInUse": true, "dbSizeQuota": true, "raftIndex": true, "raftTerm": true,
	"raftAppliedIndex": true, "hash": true, "TTL": true, "watch_id": true,
}

// TestGatewayBodiesAsEtcds runs the same gateway session against etcd
// 3.7.3 and basalt and compares every answer: status, content type and
// the JSON body, field by field, with volatile values (IDs, terms, sizes)
// compared by presence only.
func TestGatewayBodiesAsEtcds(t *testing.T) {
	e := StartEtcd37(t, "compare the JSON gateway's answers")
	c := NewCluster(t, 1, nil)
	for _, st := range gatewaySteps {
		theirs := gatewayAnswer(t, e.ClientURL, st)
		ours := gatewayAnswer(t, c.Members[0].ClientURL(), st)
		if ours.status != theirs.status || ours.contentType != theirs.contentType {
			t.Errorf("%s: answered %d %q, etcd %d %q", st.name, ours.status, ours.contentType, theirs.status, theirs.contentType)
		}
		if !reflect.DeepEqual(ours.body, theirs.body) {
			t.Errorf("%s: body\n%s\netcd's\n%s", st.name, ours.raw, theirs.raw)
		}
	}
}

type gatewayResult struct {
	status      int
	contentType string
	raw         string
	body        any
}

func gatewayAnswer(t *testing.T, clientURL string, st gatewayStep) gatewayResult {
	t.Helper()
	method := st.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, clientURL+st.path, strings.NewReader(st.body))
	if err != nil {
		t.Fatal(err)
	}
	if st.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s: %v", st.name, err)
	}
	defer resp.Body.Close()
	var raw []byte
	if st.stream {
		line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
		if err != nil && len(line) == 0 {
			t.Fatalf("%s: first message: %v", st.name, err)
		}
		raw = line
	} else if raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s: %v", st.name, err)
	}
	r := gatewayResult{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), raw: strings.TrimSpace(string(raw))}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		r.body = r.raw
	}
	r.body = normalizeVolatile(r.body)
	return r
}

// normalizeVolatile replaces the values of volatile fields with a mark
// of their presence, and sorts member lists (whose order is that of
// random IDs) by their normalized members.
func normalizeVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if volatile[k] {
				x[k] = fmt.Sprintf("<%T>", val)
				continue
			}
			x[k] = normalizeVolatile(val)
			if l, ok := x[k].([]any); ok && k == "members" {
				slices.SortFunc(l, func(a, b any) int {
					ja, _ := json.Marshal(a)
					jb, _ := json.Marshal(b)
					return bytes.Compare(ja, jb)
				})
			}
		}
	case []any:
		for i := range x {
			x[i] = normalizeVolatile(x[i])
		}
	}
	return v
}
