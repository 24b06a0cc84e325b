package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/api/internal/fakemember"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// field walks a decoded JSON object.
func field(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no object at %q in %v", p, v)
		}
		v = m[p]
	}
	return v
}

func TestSharedPort(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", secure), func(t *testing.T) {
			n := newNode(t, nodeOptions{tls: secure})
			// gRPC and HTTP on the same port.
			if _, err := n.client.Put(ctx(t), "foo", "bar"); err != nil {
				t.Fatal(err)
			}
			code, body := n.get(t, "/health")
			if code != http.StatusOK || body != `{"health":"true","reason":""}` {
				t.Fatalf("/health: %d %s", code, body)
			}
			code, out := n.post(t, "/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64("foo")))
			if code != http.StatusOK || field(t, out, "kvs").([]any)[0].(map[string]any)["value"] != b64("bar") {
				t.Fatalf("gateway range: %d %v", code, out)
			}
			// Watch through the gateway streams over HTTP/1.1 or HTTP/2.
			lines := n.stream(t, "/v3/watch", fmt.Sprintf(`{"create_request":{"key":%q}}`, b64("foo")))
			if !lines.Scan() || field(t, decode(t, lines.Bytes()), "result", "created") != true {
				t.Fatalf("watch: %s %v", lines.Text(), lines.Err())
			}
			if _, err := n.client.Put(ctx(t), "foo", "baz"); err != nil {
				t.Fatal(err)
			}
			if !lines.Scan() {
				t.Fatal(lines.Err())
			}
			ev := field(t, decode(t, lines.Bytes()), "result", "events").([]any)[0]
			if field(t, ev, "kv", "value") != b64("baz") {
				t.Fatalf("watch event: %v", ev)
			}
		})
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func TestGatewayJSON(t *testing.T) {
	n := newNode(t, nodeOptions{})
	code, out := n.post(t, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("foo"), b64("bar")))
	if code != http.StatusOK {
		t.Fatalf("put: %d %v", code, out)
	}
	// etcd's JSON: proto field names, 64-bit integers as strings, empty
	// fields left out.
	wantHeader := map[string]any{
		"cluster_id": fmt.Sprint(fakemember.ClusterID),
		"member_id":  fmt.Sprint(fakemember.MemberID),
		"revision":   "2",
		"raft_term":  fmt.Sprint(fakemember.RaftTerm),
	}
	if fmt.Sprint(out) != fmt.Sprint(map[string]any{"header": wantHeader}) {
		t.Fatalf("put: %v", out)
	}

	_, out = n.post(t, "/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q}`, b64("a"), b64("z")))
	want := map[string]any{
		"header": wantHeader,
		"kvs": []any{map[string]any{
			"key": b64("foo"), "value": b64("bar"),
			"create_revision": "2", "mod_revision": "2", "version": "1",
		}},
		"count": "1",
	}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("range:\n got %v\nwant %v", out, want)
	}

	// /v3beta is an alias.
	if code, _ := n.post(t, "/v3beta/kv/range", fmt.Sprintf(`{"key":%q}`, b64("foo"))); code != http.StatusOK {
		t.Fatalf("v3beta: %d", code)
	}

	// Errors: the gRPC status as JSON.
	code, out = n.post(t, "/v3/kv/put", `{"value":"eA=="}`)
	if code != http.StatusBadRequest || out["message"] != "etcdserver: key is not provided" || out["code"] != float64(3) {
		t.Fatalf("empty key: %d %v", code, out)
	}

	tests := []struct {
		path, body string
		check      func(map[string]any) bool
	}{
		{"/v3/kv/txn", fmt.Sprintf(`{"compare":[{"key":%q,"target":"VALUE","value":%q}],"success":[{"request_put":{"key":%q,"value":%q}}]}`, b64("foo"), b64("bar"), b64("foo"), b64("qux")),
			func(m map[string]any) bool { return m["succeeded"] == true }},
		{"/v3/kv/deleterange", fmt.Sprintf(`{"key":%q}`, b64("foo")), func(m map[string]any) bool { return m["deleted"] == "1" }},
		{"/v3/kv/compaction", `{"revision":"2"}`, func(m map[string]any) bool { return m["header"] != nil }},
		{"/v3/lease/grant", `{"TTL":"30","ID":"77"}`, func(m map[string]any) bool { return m["ID"] == "77" && m["TTL"] == "30" }},
		{"/v3/lease/timetolive", `{"ID":"77"}`, func(m map[string]any) bool { return m["grantedTTL"] == "30" }},
		{"/v3/lease/leases", `{}`, func(m map[string]any) bool { return len(m["leases"].([]any)) == 1 }},
		{"/v3/lease/revoke", `{"ID":"77"}`, func(m map[string]any) bool { return m["header"] != nil }},
		{"/v3/maintenance/status", `{}`, func(m map[string]any) bool {
			return m["version"] == "3.7.0" && m["leader"] == fmt.Sprint(fakemember.MemberID)
		}},
		{"/v3/cluster/member/list", `{}`, func(m map[string]any) bool { return m["members"].([]any)[0].(map[string]any)["name"] == "fake" }},
		{"/v3/auth/status", `{}`, func(m map[string]any) bool { return m["authRevision"] == "1" }},
		// etcd's Defragment answers an empty message: no header.
		{"/v3/maintenance/defragment", `{}`, func(m map[string]any) bool { return len(m) == 0 }},
	}
	for _, tt := range tests {
		code, out := n.post(t, tt.path, tt.body)
		if code != http.StatusOK || !tt.check(out) {
			t.Errorf("%s: %d %v", tt.path, code, out)
		}
	}
}

func TestGatewayRecipes(t *testing.T) {
	n := newNode(t, nodeOptions{})
	code, out := n.post(t, "/v3/lease/grant", `{"TTL":"60"}`)
	if code != http.StatusOK {
		t.Fatalf("grant: %v", out)
	}
	id := out["ID"].(string)
	code, out = n.post(t, "/v3/lock/lock", fmt.Sprintf(`{"name":%q,"lease":%q}`, b64("l"), id))
	if code != http.StatusOK || out["key"] == nil {
		t.Fatalf("lock: %d %v", code, out)
	}
	if code, out := n.post(t, "/v3/lock/unlock", fmt.Sprintf(`{"key":%q}`, out["key"])); code != http.StatusOK {
		t.Fatalf("unlock: %d %v", code, out)
	}

	code, out = n.post(t, "/v3/election/campaign", fmt.Sprintf(`{"name":%q,"lease":%q,"value":%q}`, b64("e"), id, b64("v1")))
	if code != http.StatusOK {
		t.Fatalf("campaign: %d %v", code, out)
	}
	leader, _ := json.Marshal(out["leader"])
	code, out = n.post(t, "/v3/election/leader", fmt.Sprintf(`{"name":%q}`, b64("e")))
	if code != http.StatusOK || field(t, out, "kv", "value") != b64("v1") {
		t.Fatalf("leader: %d %v", code, out)
	}
	lines := n.stream(t, "/v3/election/observe", fmt.Sprintf(`{"name":%q}`, b64("e")))
	if !lines.Scan() || field(t, decode(t, lines.Bytes()), "result", "kv", "value") != b64("v1") {
		t.Fatalf("observe: %s %v", lines.Text(), lines.Err())
	}
	if code, out := n.post(t, "/v3/election/proclaim", fmt.Sprintf(`{"leader":%s,"value":%q}`, leader, b64("v2"))); code != http.StatusOK {
		t.Fatalf("proclaim: %d %v", code, out)
	}
	if !lines.Scan() || field(t, decode(t, lines.Bytes()), "result", "kv", "value") != b64("v2") {
		t.Fatalf("observe: %s %v", lines.Text(), lines.Err())
	}
	if code, out := n.post(t, "/v3/election/resign", fmt.Sprintf(`{"leader":%s}`, leader)); code != http.StatusOK {
		t.Fatalf("resign: %d %v", code, out)
	}
	code, out = n.post(t, "/v3/election/proclaim", fmt.Sprintf(`{"value":%q}`, b64("v3")))
	if code == http.StatusOK || !strings.Contains(fmt.Sprint(out["message"]), `"leader" field must be provided`) {
		t.Fatalf("proclaim without leader: %d %v", code, out)
	}
}

func TestHealth(t *testing.T) {
	n := newNode(t, nodeOptions{})
	alarm := func(action pb.AlarmRequest_AlarmAction, a pb.AlarmType) {
		if _, err := n.m.Alarm(ctx(t), &pb.AlarmRequest{Action: action, MemberID: fakemember.MemberID, Alarm: a}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		setup    func()
		path     string
		wantCode int
		wantBody string
	}{
		{"healthy", nil, "/health", 200, `{"health":"true","reason":""}`},
		{"serializable", nil, "/health?serializable=true", 200, `{"health":"true","reason":""}`},
		{"livez", nil, "/livez", 200, "ok\n"},
		{"readyz verbose", nil, "/readyz?verbose", 200,
			"[+]data_corruption ok\n[+]linearizable_read ok\n[+]non_learner ok\n[+]serializable_read ok\nok\n"},
		{"readyz one check", nil, "/readyz/data_corruption?verbose", 200, "[+]data_corruption ok\nok\n"},
		{"no leader", func() { n.m.SetLeader(0) }, "/health", 503, `{"health":"false","reason":"RAFT NO LEADER"}` + "\n"},
		{"no leader, serializable", nil, "/health?serializable=true", 200, `{"health":"true","reason":""}`},
		{"no leader, livez", nil, "/livez", 200, "ok\n"},
		{"no leader, readyz", nil, "/readyz", 503,
			"[+]data_corruption ok\n[-]linearizable_read failed: etcdserver: no leader\n[+]non_learner ok\n[+]serializable_read ok\n\n"},
		{"no leader, readyz excluding it", nil, "/readyz?exclude=linearizable_read&exclude=unknown", 200, "ok\n"},
		{"nospace alarm", func() { n.m.SetLeader(fakemember.MemberID); alarm(pb.AlarmRequest_ACTIVATE, pb.AlarmType_NOSPACE) },
			"/health", 503, `{"health":"false","reason":"ALARM NOSPACE"}` + "\n"},
		{"nospace alarm excluded", nil, "/health?exclude=NOSPACE", 200, `{"health":"true","reason":""}`},
		{"corrupt alarm", func() { alarm(pb.AlarmRequest_ACTIVATE, pb.AlarmType_CORRUPT) }, "/readyz/data_corruption", 503,
			"[-]data_corruption failed: alarm activated: CORRUPT\n\n"},
		{"range error", func() {
			alarm(pb.AlarmRequest_DEACTIVATE, pb.AlarmType_NOSPACE)
			alarm(pb.AlarmRequest_DEACTIVATE, pb.AlarmType_CORRUPT)
			n.m.FailNext(fmt.Errorf("disk on fire"))
		}, "/health", 503, `{"health":"false","reason":"RANGE ERROR:disk on fire"}` + "\n"},
	}
	// A failure's body is the checks' lines and the newline http.Error
	// adds, as etcd's.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			code, body := n.get(t, tt.path)
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("%s: %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	resp, err := n.http.Post(n.url("/health"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("POST /health: %d", resp.StatusCode)
	}
}

func TestVersionAndMetrics(t *testing.T) {
	n := newNode(t, nodeOptions{})
	// The storage version is the member's Status's.
	code, body := n.get(t, "/version")
	if code != 200 || body != `{"etcdserver":"3.7.0","etcdcluster":"3.7.0","storage":"3.7.0","basalt":"0.1.0-dev"}` {
		t.Fatalf("/version: %d %s", code, body)
	}
	if _, err := n.client.Get(ctx(t), "x"); err != nil {
		t.Fatal(err)
	}
	n.get(t, "/health")
	code, body = n.get(t, "/metrics")
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}`,
		"etcd_server_health_success",
		"etcd_network_client_grpc_received_bytes_total",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAccessControl(t *testing.T) {
	n := newNode(t, nodeOptions{hostWhitelist: []string{"etcd.example"}, cors: []string{"https://ui.example"}})
	code, body := n.get(t, "/health")
	if code != http.StatusMisdirectedRequest || !strings.Contains(body, "--host-whitelist") {
		t.Fatalf("unlisted host: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, n.url("/version"), nil)
	req.Host = "etcd.example:2379"
	req.Header.Set("Origin", "https://ui.example")
	resp, err := n.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://ui.example" {
		t.Fatalf("listed host and origin: %d %v", resp.StatusCode, resp.Header)
	}

	// etcd's defaults: every host, CORS for every origin.
	d := newNode(t, nodeOptions{})
	resp, err = d.http.Get(d.url("/version"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("default CORS: %v", resp.Header)
	}
}

func TestCloseEndsServe(t *testing.T) {
	n := newNode(t, nodeOptions{})
	if _, err := n.client.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.http.Get(n.url("/health")); err == nil {
		t.Fatal("served after Close")
	}
	// The Cleanup checks that Serve returned nil.
}
