package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// TestDebugVars: /debug/vars answers as etcd's: the same variables as
// Debian's etcd (cmdline, memstats, raft.status, file_descriptor_limit),
// raft.status with etcd's fields, naming the member and its leadership;
// other methods than GET are refused.
func TestDebugVars(t *testing.T) {
	c := NewCluster(t, 1, nil)
	m := c.Members[0]
	vars := debugVars(t, m.ClientURL())
	var status map[string]any
	if err := json.Unmarshal(vars["raft.status"], &status); err != nil {
		t.Fatalf("raft.status %s: %v", vars["raft.status"], err)
	}
	resp, err := c.Client(t).MemberList(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%x", resp.Members[0].ID)
	if status["id"] != id || status["lead"] != id || status["raftState"] != "StateLeader" {
		t.Errorf("raft.status %v, want member %s leading", status, id)
	}
	if progress, _ := status["progress"].(map[string]any); progress[id] == nil {
		t.Errorf("raft.status has no progress of %s: %v", id, status)
	}
	if code := httpStatus(t, http.MethodPost, m.ClientURL()+"/debug/vars"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /debug/vars answered %d", code)
	}

	e := StartEtcd(t, "compare /debug/vars")
	theirs := debugVars(t, e.ClientURL)
	if got, want := slices.Sorted(maps.Keys(vars)), slices.Sorted(maps.Keys(theirs)); !slices.Equal(got, want) {
		t.Errorf("variables %v, etcd's %v", got, want)
	}
	var theirStatus map[string]any
	if err := json.Unmarshal(theirs["raft.status"], &theirStatus); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(status)), slices.Sorted(maps.Keys(theirStatus)); !slices.Equal(got, want) {
		t.Errorf("raft.status fields %v, etcd's %v", got, want)
	}
}

// debugVars reads /debug/vars at clientURL.
func debugVars(t *testing.T, clientURL string) map[string]json.RawMessage {
	t.Helper()
	code, body := httpGet(t, clientURL+"/debug/vars", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /debug/vars: %d %s", code, body)
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &vars); err != nil {
		t.Fatalf("/debug/vars is not JSON: %v\n%s", err, body)
	}
	return vars
}

// httpStatus sends an empty request with method to u and returns the
// answer's status.
func httpStatus(t *testing.T, method, u string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: opTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
