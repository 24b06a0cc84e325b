package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/storage/v2store"
)

// v2Step is one scripted v2 request. Values in path and params may name
// an index relative to the script's first write as {{idx:N}}.
type v2Step struct {
	method, path string
	// params go in the query for GET, HEAD and DELETE (and when query is
	// set), else in a form body.
	params string
	query  bool
	// unordered: the response lists a directory unsorted (Go map order
	// on both servers), so nodes are compared sorted.
	unordered bool
	// body, if set, is sent as is with contentType.
	body, contentType string
	// json, if set, is the body, sent as application/json.
	json string
	// auth, if set, is the Authorization header (see v2Basic).
	auth string
}

// v2Server is a server under comparison and the index its script
// started from.
type v2Server struct {
	name, url string
	base      uint64
	// client sends the requests (default: one with a 30s timeout).
	client *http.Client
}

// v2Answer is a response reduced to what must match.
type v2Answer struct {
	status  int
	headers string
	body    string
}

func (a v2Answer) String() string {
	return fmt.Sprintf("%d %s\n%s", a.status, a.headers, a.body)
}

// TestV2KeysMatchEtcd34 sends the same /v2/keys requests to Debian's etcd
// 3.4 (--enable-v2) and to basalt --enable-v2 and compares status, headers
// and bodies byte for byte, indexes taken relative to each server's first
// write and expiry times left out.
func TestV2KeysMatchEtcd34(t *testing.T) {
	etcd := StartEtcd(t, "the v2 API is compared with etcd 3.4's", "--enable-v2")
	c := NewCluster(t, 1, &Options{Args: []string{"--enable-v2"}})
	servers := []*v2Server{{name: "etcd 3.4", url: etcd.ClientURL}, {name: "basalt", url: c.Members[0].ClientURL()}}
	v2Bases(t, servers)
	steps := []v2Step{
		{method: "GET", path: "/v2/keys/nokey"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=bar"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=baz"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=qux", query: true},
		{method: "GET", path: "/v2/keys/foo"},
		{method: "GET", path: "/v2/keys/foo", params: "quorum=true"},
		{method: "HEAD", path: "/v2/keys/foo"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=x&prevExist=false"},
		{method: "PUT", path: "/v2/keys/foo2", params: "value=x&prevExist=false"},
		{method: "PUT", path: "/v2/keys/nofoo", params: "value=x&prevExist=true"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=y&prevExist=true"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=z&prevValue=y"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=z&prevValue=nope"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=w&prevIndex={{idx:7}}"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=w&prevIndex={{idx:2}}"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=w&prevIndex={{idx:2}}&prevValue=nope"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=v&prevIndex={{idx:8}}&prevValue=w&prevExist=true"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=v&prevIndex=abc"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=v&prevValue="},
		{method: "PUT", path: "/v2/keys/foo", params: "value=u&noValueOnSuccess=true"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=u&prevExist=maybe"},
		{method: "GET", path: "/v2/keys/foo", params: "recursive=maybe"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=u&wait=true"},
		{method: "PATCH", path: "/v2/keys/foo"},
		{method: "PUT", path: "/v2/keys/dir", params: "dir=true"},
		{method: "PUT", path: "/v2/keys/dir", params: "value=x"},
		{method: "PUT", path: "/v2/keys/dir", params: "dir=true"},
		{method: "PUT", path: "/v2/keys/dir/a", params: "value=1"},
		{method: "PUT", path: "/v2/keys/dir/b", params: "value=2"},
		{method: "PUT", path: "/v2/keys/dir/_hidden", params: "value=h"},
		{method: "PUT", path: "/v2/keys/dir/sub/c", params: "value=3"},
		{method: "GET", path: "/v2/keys/dir", unordered: true},
		{method: "GET", path: "/v2/keys/dir", params: "sorted=true"},
		{method: "GET", path: "/v2/keys/dir", params: "recursive=true&sorted=true"},
		{method: "GET", path: "/v2/keys/dir/", params: "recursive=true", unordered: true},
		{method: "GET", path: "/v2/keys/dir/_hidden"},
		{method: "GET", path: "/v2/keys/dir/a/b"},
		{method: "PUT", path: "/v2/keys/dir/a/b", params: "value=x"},
		{method: "PUT", path: "/v2/keys/dir/a", params: "dir=true"},
		{method: "PUT", path: "/v2/keys/dir/sub", params: "value=x&prevValue=y"},
		{method: "DELETE", path: "/v2/keys/dir"},
		{method: "DELETE", path: "/v2/keys/dir", params: "dir=true"},
		{method: "DELETE", path: "/v2/keys/dir/sub", params: "recursive=true"},
		{method: "DELETE", path: "/v2/keys/dir/a", params: "prevValue=nope"},
		{method: "DELETE", path: "/v2/keys/dir/a", params: "prevValue=1"},
		{method: "DELETE", path: "/v2/keys/dir/b", params: "prevIndex={{idx:2}}"},
		{method: "DELETE", path: "/v2/keys/dir/b", params: "prevIndex={{idx:29}}"},
		{method: "DELETE", path: "/v2/keys/dir/none"},
		{method: "DELETE", path: "/v2/keys/dir/_hidden", params: "dir=true"},
		{method: "DELETE", path: "/v2/keys/dir", params: "dir=true"},
		{method: "PUT", path: "/v2/keys/emptydir", params: "dir=true&prevExist=false"},
		{method: "PUT", path: "/v2/keys/emptydir", params: "dir=true&prevExist=true&ttl=100"},
		{method: "PUT", path: "/v2/keys/emptydir", params: "dir=true&prevExist=true&ttl="},
		{method: "DELETE", path: "/v2/keys/emptydir", params: "recursive=true"},
		{method: "POST", path: "/v2/keys/queue", params: "value=job1"},
		{method: "POST", path: "/v2/keys/queue", params: "value=job2"},
		{method: "POST", path: "/v2/keys/queue", params: "dir=true"},
		{method: "GET", path: "/v2/keys/queue", params: "recursive=true&sorted=true"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "value=t&ttl=100"},
		{method: "GET", path: "/v2/keys/ttlkey"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "value=t&ttl=abc"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "ttl=50&refresh=true&prevExist=true"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "ttl=50&refresh=true"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "ttl=50&refresh=true&value=x"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "refresh=true&prevExist=true"},
		{method: "PUT", path: "/v2/keys/ttlkey", params: "value=t2&ttl=&prevExist=true"},
		{method: "PUT", path: "/v2/keys/norefresh", params: "ttl=50&refresh=true"},
		{method: "PUT", path: "/v2/keys", params: "value=x"},
		{method: "PUT", path: "/v2/keys/", params: "dir=true"},
		{method: "DELETE", path: "/v2/keys/", params: "recursive=true"},
		{method: "POST", path: "/v2/keys/", params: "value=x"},
		{method: "GET", path: "/v2/keys/foo", params: "wait=true&waitIndex={{idx:2}}"},
		{method: "GET", path: "/v2/keys/dir", params: "wait=true&waitIndex={{idx:9}}&recursive=true"},
		{method: "GET", path: "/v2/keys/foo", params: "wait=true&waitIndex=abc"},
		{method: "GET", path: "/v2/keys/", params: "sorted=true"},
	}
	v2CompareSteps(t, servers, steps)
}

// TestV2MembersMatchEtcd34 compares the v2 members API's refusals and
// lookups (the member list itself holds IDs and URLs that differ; the
// etcdctl cross-checks in package ctl compare it normalised).
func TestV2MembersMatchEtcd34(t *testing.T) {
	etcd := StartEtcd(t, "the v2 members API is compared with etcd 3.4's", "--enable-v2")
	c := NewCluster(t, 1, &Options{Args: []string{"--enable-v2"}})
	servers := []*v2Server{{name: "etcd 3.4", url: etcd.ClientURL}, {name: "basalt", url: c.Members[0].ClientURL()}}
	const js = "application/json"
	steps := []v2Step{
		{method: "POST", path: "/v2/members", body: `{"peerURLs":["http://127.0.0.1:1"]}`, contentType: "text/plain"},
		{method: "POST", path: "/v2/members", body: `{"peerURLs":`, contentType: js},
		{method: "POST", path: "/v2/members", body: `{"peerURLs":["ftp://127.0.0.1:1"]}`, contentType: js},
		{method: "DELETE", path: "/v2/members/1234"},
		{method: "DELETE", path: "/v2/members/xyz"},
		{method: "DELETE", path: "/v2/members"},
		{method: "PUT", path: "/v2/members/1234", body: `{"peerURLs":["http://127.0.0.1:2"]}`, contentType: js},
		{method: "PATCH", path: "/v2/members"},
		{method: "GET", path: "/v2/members/foo"},
		{method: "HEAD", path: "/v2/machines"},
		{method: "POST", path: "/v2/machines"},
		{method: "POST", path: "/v2/stats/self"},
		{method: "GET", path: "/v2/nothing"},
	}
	v2CompareSteps(t, servers, steps)
}

// v2CompareSteps sends each step to both servers and compares the
// answers.
func v2CompareSteps(t *testing.T, servers []*v2Server, steps []v2Step) {
	t.Helper()
	for i, step := range steps {
		want := v2Do(t, servers[0], step)
		got := v2Do(t, servers[1], step)
		if want != got {
			t.Errorf("step %d: %s %s %s %s%s (auth %q):\n%s:\n%s\n%s:\n%s", i, step.method, step.path, step.params, step.body, step.json, step.auth,
				servers[0].name, want, servers[1].name, got)
		}
	}
}

// TestV2WaitsMatchEtcd34 compares waits that fire: on a key, recursive on
// a directory, a stream, a watcher of a key whose directory is deleted,
// and a wait on history that has been cleared.
func TestV2WaitsMatchEtcd34(t *testing.T) {
	etcd := StartEtcd(t, "the v2 API's waits are compared with etcd 3.4's", "--enable-v2")
	c := NewCluster(t, 1, &Options{Args: []string{"--enable-v2"}})
	servers := []*v2Server{{name: "etcd 3.4", url: etcd.ClientURL}, {name: "basalt", url: c.Members[0].ClientURL()}}
	v2Bases(t, servers)
	cases := []struct {
		name   string
		wait   v2Step
		events int
		writes []v2Step
	}{
		{"key", v2Step{method: "GET", path: "/v2/keys/w", params: "wait=true"}, 1,
			[]v2Step{{method: "PUT", path: "/v2/keys/other", params: "value=o"}, {method: "PUT", path: "/v2/keys/w", params: "value=1"}}},
		{"recursive", v2Step{method: "GET", path: "/v2/keys/wd", params: "wait=true&recursive=true"}, 1,
			[]v2Step{{method: "PUT", path: "/v2/keys/wd/x/y", params: "value=1"}}},
		{"not recursive", v2Step{method: "GET", path: "/v2/keys/wd", params: "wait=true"}, 1,
			[]v2Step{{method: "PUT", path: "/v2/keys/wd/x/z", params: "value=1"}, {method: "PUT", path: "/v2/keys/wd", params: "dir=true&prevExist=true&ttl=100"}}},
		{"hidden", v2Step{method: "GET", path: "/v2/keys/hd", params: "wait=true&recursive=true"}, 1,
			[]v2Step{{method: "PUT", path: "/v2/keys/hd/_h", params: "value=1"}, {method: "PUT", path: "/v2/keys/hd/v", params: "value=1"}}},
		{"stream", v2Step{method: "GET", path: "/v2/keys/ws", params: "wait=true&stream=true&recursive=true"}, 3,
			[]v2Step{{method: "PUT", path: "/v2/keys/ws/a", params: "value=1"}, {method: "PUT", path: "/v2/keys/ws/a", params: "value=2"}, {method: "DELETE", path: "/v2/keys/ws/a"}}},
		{"directory deleted", v2Step{method: "GET", path: "/v2/keys/wd/x/y", params: "wait=true"}, 1,
			[]v2Step{{method: "DELETE", path: "/v2/keys/wd", params: "recursive=true"}}},
		{"expired", v2Step{method: "GET", path: "/v2/keys/exp", params: "wait=true&stream=true"}, 2,
			[]v2Step{{method: "PUT", path: "/v2/keys/exp", params: "value=1&ttl=1&prevExist=false", query: true}}},
		{"from history", v2Step{method: "GET", path: "/v2/keys/w", params: "wait=true&waitIndex={{idx:1}}"}, 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var answers [2][]string
			for i, s := range servers {
				answers[i] = v2Wait(t, s, tc.wait, tc.events, tc.writes)
			}
			for i := range max(len(answers[0]), len(answers[1])) {
				var want, got string
				if i < len(answers[0]) {
					want = answers[0][i]
				}
				if i < len(answers[1]) {
					got = answers[1][i]
				}
				if want != got {
					t.Errorf("answer %d:\n%s: %s\n%s: %s", i, servers[0].name, want, servers[1].name, got)
				}
			}
			// Both stores are at the same index after the case.
			base := v2Step{method: "GET", path: "/v2/keys/base"}
			if want, got := v2Do(t, servers[0], base), v2Do(t, servers[1], base); want != got {
				t.Errorf("after the case:\n%s: %s\n%s: %s", servers[0].name, want, servers[1].name, got)
			}
		})
	}
	t.Run("history cleared", func(t *testing.T) {
		var answers [2]v2Answer
		for i, s := range servers {
			// 1,000 more events push the first ones out of the history.
			// Writes are counted by the index they answer: one that timed
			// out (a slow disk under load) may or may not have been
			// applied, and both stores must end at the same index.
			last := v2Do(t, s, v2Step{method: "GET", path: "/v2/keys/base"})
			target := s.base + 1000 + v2IndexOf(t, last)
			for idx := uint64(0); idx < target; {
				a := v2Do(t, s, v2Step{method: "PUT", path: "/v2/keys/many", params: "value=v"})
				idx = s.base + v2IndexOf(t, a)
			}
			answers[i] = v2Do(t, s, v2Step{method: "GET", path: "/v2/keys/many", params: "wait=true&waitIndex={{idx:1}}"})
		}
		if answers[0] != answers[1] {
			t.Errorf("%s:\n%s\n%s:\n%s", servers[0].name, answers[0], servers[1].name, answers[1])
		}
	})
}

// v2Bases writes a first key on each server: every index the script
// sees is taken relative to its index.
func v2Bases(t *testing.T, servers []*v2Server) {
	t.Helper()
	for _, s := range servers {
		req, err := http.NewRequest(http.MethodPut, s.url+"/v2/keys/base?value=0", nil)
		if err != nil {
			t.Fatal(err)
		}
		client := s.client
		if client == nil {
			client = http.DefaultClient
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: base write: %v", s.name, err)
		}
		var ev v2store.Event
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if err != nil || ev.Node == nil {
			t.Fatalf("%s: base write: %v", s.name, err)
		}
		s.base = ev.Node.ModifiedIndex
	}
}

// v2IndexOf is an answer's X-Etcd-Index, relative to the server's base.
func v2IndexOf(t *testing.T, a v2Answer) uint64 {
	t.Helper()
	m := regexp.MustCompile(`X-Etcd-Index:\+(\d+)`).FindStringSubmatch(a.headers)
	if m == nil {
		t.Fatalf("no X-Etcd-Index in %s", a)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// v2Wait starts a wait, makes the writes once the server counts the
// watcher, and returns the status line and the events received.
func v2Wait(t *testing.T, s *v2Server, wait v2Step, events int, writes []v2Step) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := v2Watchers(t, s)
	req, err := http.NewRequestWithContext(ctx, wait.method, s.url+v2Subst(wait.path, s)+"?"+v2Subst(wait.params, s), nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		done <- result{resp, err}
	}()
	var res result
	if len(writes) > 0 {
		// The response's headers come once the watcher is registered.
		res = <-done
		if res.err != nil {
			t.Fatalf("%s: wait: %v", s.name, res.err)
		}
		testutil.WaitUntil(t, 10*time.Second, s.name+" counts the watcher", func() bool { return v2Watchers(t, s) > before })
		for _, w := range writes {
			v2Do(t, s, w)
		}
	} else {
		res = <-done
		if res.err != nil {
			t.Fatalf("%s: wait: %v", s.name, res.err)
		}
	}
	defer res.resp.Body.Close()
	out := []string{fmt.Sprintf("%d X-Etcd-Index:%s", res.resp.StatusCode, v2RelIndex(res.resp.Header.Get("X-Etcd-Index"), s))}
	r := bufio.NewReader(res.resp.Body)
	for range events {
		line, err := r.ReadString('\n')
		if err != nil {
			out = append(out, "read error: "+err.Error())
			break
		}
		out = append(out, v2Normalize(strings.TrimSuffix(line, "\n"), s, false))
	}
	return out
}

// v2Watchers is the server's count of v2 watchers.
func v2Watchers(t *testing.T, s *v2Server) uint64 {
	t.Helper()
	resp, err := http.Get(s.url + "/v2/stats/store")
	if err != nil {
		t.Fatalf("%s: stats: %v", s.name, err)
	}
	defer resp.Body.Close()
	var st v2store.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s: stats: %v", s.name, err)
	}
	return st.Watchers
}

// v2Do sends a step to a server and reduces its answer.
func v2Do(t *testing.T, s *v2Server, step v2Step) v2Answer {
	t.Helper()
	target := s.url + v2Subst(step.path, s)
	params := v2Subst(step.params, s)
	var body io.Reader
	contentType := "application/x-www-form-urlencoded"
	inQuery := step.query || step.method == "GET" || step.method == "HEAD" || step.method == "DELETE" || step.method == "PATCH"
	switch {
	case step.body != "":
		body, contentType = strings.NewReader(step.body), step.contentType
	case step.json != "":
		if params != "" {
			target += "?" + params
		}
		body, contentType = strings.NewReader(step.json), "application/json"
	case inQuery && params != "":
		target += "?" + params
	case !inQuery:
		body = strings.NewReader(params)
	}
	req, err := http.NewRequest(step.method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if step.auth != "" {
		req.Header.Set("Authorization", step.auth)
	}
	client := s.client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, step.method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, step.method, target, err)
	}
	var hs []string
	for _, h := range []string{"Content-Type", "Allow", "X-Etcd-Index", "Www-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			if h == "X-Etcd-Index" {
				v = v2RelIndex(v, s)
			}
			hs = append(hs, h+":"+v)
		}
	}
	for _, h := range []string{"X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id"} {
		if resp.Header.Get(h) != "" {
			hs = append(hs, h)
		}
	}
	return v2Answer{status: resp.StatusCode, headers: strings.Join(hs, " "), body: v2Normalize(string(b), s, step.unordered)}
}

var v2IdxRef = regexp.MustCompile(`\{\{idx:(\d+)\}\}`)

// v2Subst replaces {{idx:N}} with the server's index base+N.
func v2Subst(s string, srv *v2Server) string {
	return v2IdxRef.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(v2IdxRef.FindStringSubmatch(m)[1], 10, 64)
		return strconv.FormatUint(srv.base+n, 10)
	})
}

func v2RelIndex(v string, s *v2Server) string {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return v
	}
	return v2Rel(n, s)
}

// v2Rel is an index relative to the server's base; indexes before it
// (membership writes in etcd's store) read "pre".
func v2Rel(n uint64, s *v2Server) string {
	if n < s.base {
		return "pre"
	}
	return "+" + strconv.FormatUint(n-s.base, 10)
}

var (
	v2IndexField = regexp.MustCompile(`"(modifiedIndex|createdIndex|index)":(\d+)`)
	v2Expiration = regexp.MustCompile(`"expiration":"[^"]*"`)
	v2InOrderKey = regexp.MustCompile(`/(\d{20})\b`)
	v2CauseIdx   = regexp.MustCompile(`\[(\d+) != (\d+)\]|\[(\d+)/(\d+)\]`)
)

// v2Normalize makes a body comparable across servers: indexes relative,
// expiry times and in-order key names too, unordered listings sorted.
func v2Normalize(body string, s *v2Server, unordered bool) string {
	if unordered {
		var ev v2store.Event
		if err := json.Unmarshal([]byte(body), &ev); err == nil && ev.Node != nil {
			sortNodes(ev.Node)
			b, _ := json.Marshal(ev)
			body = string(b) + "\n"
		}
	}
	rel := func(d string) string {
		n, _ := strconv.ParseUint(d, 10, 64)
		return v2Rel(n, s)
	}
	body = v2IndexField.ReplaceAllStringFunc(body, func(m string) string {
		sub := v2IndexField.FindStringSubmatch(m)
		return `"` + sub[1] + `":"` + rel(sub[2]) + `"`
	})
	body = v2Expiration.ReplaceAllString(body, `"expiration":"<time>"`)
	body = v2InOrderKey.ReplaceAllStringFunc(body, func(m string) string { return "/<" + rel(m[1:]) + ">" })
	body = v2CauseIdx.ReplaceAllStringFunc(body, func(m string) string {
		sub := v2CauseIdx.FindStringSubmatch(m)
		if sub[1] != "" {
			return "[" + rel(sub[1]) + " != " + rel(sub[2]) + "]"
		}
		return "[" + rel(sub[3]) + "/" + rel(sub[4]) + "]"
	})
	return body
}

func sortNodes(n *v2store.NodeExtern) {
	slices.SortFunc(n.Nodes, func(a, b *v2store.NodeExtern) int { return strings.Compare(a.Key, b.Key) })
	for _, c := range n.Nodes {
		sortNodes(c)
	}
}
