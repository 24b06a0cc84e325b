package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/storage/v2store"
)

// v2Call sends one v2 request to a member and decodes the event or the
// error it answers with; it returns the status and X-Etcd-Index too.
func v2Call(t *testing.T, base, method, path string, params url.Values) (int, uint64, *v2store.Event, *v2store.Error) {
	t.Helper()
	target := base + path
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		if len(params) > 0 {
			target += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	var index uint64
	fmt.Sscan(resp.Header.Get("X-Etcd-Index"), &index)
	if resp.StatusCode >= 300 {
		var e v2store.Error
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: %d %s", method, target, resp.StatusCode, b)
		}
		return resp.StatusCode, index, nil, &e
	}
	var ev v2store.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, target, resp.StatusCode, b, err)
	}
	return resp.StatusCode, index, &ev, nil
}

// v2Leader is the index of the member that leads, as /v2/members/leader
// tells.
func v2Leader(t *testing.T, c *Cluster, asked *Member) int {
	t.Helper()
	var leader int
	testutil.WaitUntil(t, 20*time.Second, "a leader", func() bool {
		resp, err := http.Get(asked.ClientURL() + "/v2/members/leader")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var m struct {
			ClientURLs []string `json:"clientURLs"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil || len(m.ClientURLs) == 0 {
			return false
		}
		for i, mem := range c.Members {
			if mem.ClientURL() == m.ClientURLs[0] {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// TestV2TTLExpiryAcrossLeaderChange: keys with a TTL expire on every
// member at the same index, decided by the leader through raft, also
// once the leader that accepted them was killed; a member restarted
// afterwards learns the same expiry.
func TestV2TTLExpiryAcrossLeaderChange(t *testing.T) {
	c := NewCluster(t, 3, &Options{Args: []string{"--enable-v2"}})
	m0 := c.Members[0]
	_, _, short, _ := v2Call(t, m0.ClientURL(), http.MethodPut, "/v2/keys/short", url.Values{"value": {"s"}, "ttl": {"3"}})
	v2Call(t, m0.ClientURL(), http.MethodPut, "/v2/keys/long", url.Values{"value": {"l"}, "ttl": {"600"}})
	leader := v2Leader(t, c, m0)
	c.Members[leader].Kill()
	var live []*Member
	for i, m := range c.Members {
		if i != leader {
			live = append(live, m)
		}
	}
	v2Leader(t, c, live[0])
	// Each live member sees the expiry, at the same index.
	var expiredAt []uint64
	for _, m := range live {
		testutil.WaitUntil(t, 30*time.Second, "short expires on "+m.ClientURL(), func() bool {
			status, _, _, _ := v2Call(t, m.ClientURL(), http.MethodGet, "/v2/keys/short", nil)
			return status == http.StatusNotFound
		})
		_, _, ev, verr := v2Call(t, m.ClientURL(), http.MethodGet, "/v2/keys/short",
			url.Values{"wait": {"true"}, "waitIndex": {fmt.Sprint(short.Node.ModifiedIndex + 1)}})
		if verr != nil || ev.Action != v2store.Expire || ev.PrevNode == nil || *ev.PrevNode.Value != "s" {
			t.Fatalf("%s: expiry event %+v, error %v", m.ClientURL(), ev, verr)
		}
		expiredAt = append(expiredAt, ev.Node.ModifiedIndex)
		_, _, long, verr := v2Call(t, m.ClientURL(), http.MethodGet, "/v2/keys/long", nil)
		if verr != nil || long.Node.TTL <= 0 || long.Node.TTL > 600 {
			t.Fatalf("%s: long: %+v %v", m.ClientURL(), long, verr)
		}
	}
	if expiredAt[0] != expiredAt[1] {
		t.Fatalf("short expired at %d on one member, %d on the other", expiredAt[0], expiredAt[1])
	}
	// The killed member catches up to the same expiry.
	old := c.Members[leader]
	old.Restart(t)
	testutil.WaitUntil(t, 30*time.Second, "the restarted member learns the expiry", func() bool {
		status, _, _, _ := v2Call(t, old.ClientURL(), http.MethodGet, "/v2/keys/short", nil)
		return status == http.StatusNotFound
	})
	_, _, ev, verr := v2Call(t, old.ClientURL(), http.MethodGet, "/v2/keys/short",
		url.Values{"wait": {"true"}, "waitIndex": {fmt.Sprint(short.Node.ModifiedIndex + 1)}})
	if verr != nil || ev.Action != v2store.Expire || ev.Node.ModifiedIndex != expiredAt[0] {
		t.Fatalf("restarted member: expiry event %+v, error %v; want at %d", ev, verr, expiredAt[0])
	}
}

// TestV2StoreSurvivesRestartsAndSnapshots: the v2 store lives in raft
// snapshots and the log. A member killed with -9 after several snapshots
// restarts with every key, TTL and index; a member that was down while
// the others compacted their logs receives the store in a snapshot.
func TestV2StoreSurvivesRestartsAndSnapshots(t *testing.T) {
	c := NewCluster(t, 3, &Options{Args: []string{"--enable-v2", "--snapshot-count", "20", "--snapshot-catchup-entries", "5"}})
	m0, behind := c.Members[0], c.Members[2]
	behind.Kill()
	for i := range 60 {
		v2Call(t, m0.ClientURL(), http.MethodPut, fmt.Sprintf("/v2/keys/dir/k%02d", i), url.Values{"value": {fmt.Sprint("v", i)}})
	}
	v2Call(t, m0.ClientURL(), http.MethodPut, "/v2/keys/ttl", url.Values{"value": {"t"}, "ttl": {"600"}})
	v2Call(t, m0.ClientURL(), http.MethodPost, "/v2/keys/queue", url.Values{"value": {"job"}})
	v2Call(t, m0.ClientURL(), http.MethodDelete, "/v2/keys/dir/k07", nil)
	listing := func(m *Member) string {
		_, index, ev, verr := v2Call(t, m.ClientURL(), http.MethodGet, "/v2/keys/", url.Values{"recursive": {"true"}, "sorted": {"true"}})
		if verr != nil {
			t.Fatalf("%s: %v", m.ClientURL(), verr)
		}
		for _, n := range ev.Node.Nodes {
			if n.Key == "/ttl" {
				if n.TTL <= 0 || n.TTL > 600 {
					t.Errorf("%s: ttl key's TTL %d", m.ClientURL(), n.TTL)
				}
				n.TTL, n.Expiration = 0, nil
			}
		}
		b, _ := json.Marshal(ev)
		return fmt.Sprintf("index %d %s", index, b)
	}
	want := listing(m0)
	// Every member that was up restarts from its snapshot and log.
	for _, m := range c.Members[:2] {
		m.Kill()
	}
	// Two members start together: one alone has no quorum to be ready.
	errs := make(chan error, 2)
	for _, m := range c.Members[:2] {
		go func() { errs <- m.TryStart() }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members[:2] {
		testutil.WaitUntil(t, 30*time.Second, "the store is back on "+m.ClientURL(), func() bool { return listing(m) == want })
	}
	// The member that was down gets the rest by snapshot.
	behind.Restart(t)
	testutil.WaitUntil(t, 30*time.Second, "the store reaches the member that was down", func() bool { return listing(behind) == want })
	if !strings.Contains(behind.Logs(), "applying snapshot") {
		t.Errorf("the member that was down did not receive a snapshot")
	}
}

// TestV2Stats: /v2/stats/self and /v2/stats/leader carry etcd 3.4's
// fields with live counts: the leader counts appends sent and times its
// followers, a follower counts appends received and names its leader, and
// a follower refuses leader stats as etcd's does. The shape is compared
// with Debian's etcd 3.4.
func TestV2Stats(t *testing.T) {
	c := NewCluster(t, 3, &Options{Args: []string{"--enable-v2"}})
	leader := c.Members[v2Leader(t, c, c.Members[0])]
	for i := range 10 {
		v2Call(t, leader.ClientURL(), http.MethodPut, "/v2/keys/s", url.Values{"value": {fmt.Sprint(i)}})
	}
	getJSON := func(u string) (int, map[string]any) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		return resp.StatusCode, m
	}
	_, self := getJSON(leader.ClientURL() + "/v2/stats/self")
	if self["state"] != "StateLeader" || self["leaderInfo"].(map[string]any)["leader"] != self["id"] || self["sendAppendRequestCnt"].(float64) == 0 {
		t.Errorf("leader's self stats: %v", self)
	}
	testutil.WaitUntil(t, 10*time.Second, "the leader times both followers", func() bool {
		_, ls := getJSON(leader.ClientURL() + "/v2/stats/leader")
		fs, _ := ls["followers"].(map[string]any)
		if len(fs) != 2 {
			return false
		}
		for _, f := range fs {
			counts := f.(map[string]any)["counts"].(map[string]any)
			if counts["success"].(float64) == 0 {
				return false
			}
		}
		return ls["leader"] == self["id"]
	})
	for _, m := range c.Members {
		if m == leader {
			continue
		}
		_, fself := getJSON(m.ClientURL() + "/v2/stats/self")
		if fself["state"] != "StateFollower" || fself["leaderInfo"].(map[string]any)["leader"] != self["id"] || fself["recvAppendRequestCnt"].(float64) == 0 {
			t.Errorf("follower's self stats: %v", fself)
		}
		if status, body := getJSON(m.ClientURL() + "/v2/stats/leader"); status != http.StatusForbidden || body["message"] != "not current leader" {
			t.Errorf("follower's leader stats: %d %v", status, body)
		}
	}
	// The same fields as etcd 3.4's (rates appear with recent traffic in
	// both, so they are left out).
	etcd := StartEtcd(t, "the v2 stats' fields are compared with etcd 3.4's", "--enable-v2")
	lone := NewCluster(t, 1, &Options{Args: []string{"--enable-v2"}})
	keys := func(m map[string]any) string {
		var ks []string
		for k, v := range m {
			if strings.HasSuffix(k, "Rate") {
				continue
			}
			if sub, ok := v.(map[string]any); ok && k != "followers" {
				k += "{" + jsonKeys(sub) + "}"
			}
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, " ")
	}
	for _, p := range []string{"/v2/stats/self", "/v2/stats/leader", "/v2/stats/store"} {
		_, want := getJSON(etcd.ClientURL + p)
		_, got := getJSON(lone.Members[0].ClientURL() + p)
		if keys(want) != keys(got) {
			t.Errorf("%s: etcd 3.4 has %s, basalt %s", p, keys(want), keys(got))
		}
	}
}

// jsonKeys are an object's keys, sorted.
func jsonKeys(m map[string]any) string {
	ks := slices.Sorted(maps.Keys(m))
	return strings.Join(ks, " ")
}
