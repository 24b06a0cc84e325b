package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
)

// v2Proxy is a process started with --proxy: basalt's or etcd 3.4's.
type v2Proxy struct {
	proc    *Process
	url     string
	dataDir string
	bin     string
	args    []string
}

// startV2Proxy starts bin as a v2 proxy (mode "on" or "readonly") on a
// client URL the OS picks, its data under dir, with extra flags, and waits
// until it listens; it is killed when t ends.
func startV2Proxy(t *testing.T, bin, mode, dir string, extra ...string) *v2Proxy {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &v2Proxy{url: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), dataDir: filepath.Join(dir, "proxy.etcd"), bin: bin}
	p.args = append([]string{"--name", "p", "--proxy", mode, "--data-dir", p.dataDir, "--listen-client-urls", p.url}, extra...)
	p.start(t)
	return p
}

func (p *v2Proxy) start(t *testing.T) {
	t.Helper()
	proc, err := StartProcess(p.bin, p.args, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.proc = proc
	t.Cleanup(proc.Kill)
	if err := proc.WaitOutput("v2 proxy started listening on client requests", 30*time.Second); err != nil {
		t.Fatalf("proxy %s: %v\n%s", p.bin, err, proc.Output())
	}
}

// restart stops the proxy with SIGTERM and starts it again with args.
func (p *v2Proxy) restart(t *testing.T, args []string) {
	t.Helper()
	if err := p.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := p.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.args = args
	p.start(t)
}

// httpAnswer is what a request got: status, some headers, body.
type httpAnswer struct {
	Code        int
	ContentType string
	ClusterID   string
	Body        string
}

func (a httpAnswer) String() string {
	return fmt.Sprintf("%d %s cluster=%s %q", a.Code, a.ContentType, a.ClusterID, a.Body)
}

func doHTTP(method, rawURL, form string) (httpAnswer, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return httpAnswer{}, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return httpAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpAnswer{}, err
	}
	return httpAnswer{Code: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
		ClusterID: resp.Header.Get("X-Etcd-Cluster-Id"), Body: string(b)}, nil
}

// mustHTTP polls until the request gets an answer (the proxy may not
// have found its endpoints yet) with code.
func mustHTTP(t *testing.T, method, rawURL, form string, code int) httpAnswer {
	t.Helper()
	var a httpAnswer
	err := testutil.Poll(30*time.Second, func() error {
		var err error
		if a, err = doHTTP(method, rawURL, form); err != nil {
			return err
		}
		if a.Code != code {
			return fmt.Errorf("%s %s: %v, want status %d", method, rawURL, a, code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestProxyBasaltMembers puts a basalt proxy in front of three basalt
// members: the client API's HTTP side (/version, /health, the v3 JSON
// gateway) passes through, and keeps working, request after request,
// with a member killed; a readonly proxy refuses the gateway's POSTs with
// etcd's bare 501; a proxy restarted with a wrong --initial-cluster finds
// the cluster in its data dir.
func TestProxyBasaltMembers(t *testing.T) {
	c := NewCluster(t, 3, nil)
	p := startV2Proxy(t, Binary(), "on", t.TempDir(), "--initial-cluster", c.InitialCluster())
	ro := startV2Proxy(t, Binary(), "readonly", t.TempDir(), "--initial-cluster", c.InitialCluster())

	version := mustHTTP(t, http.MethodGet, p.url+"/version", "", http.StatusOK)
	if direct := mustHTTP(t, http.MethodGet, c.Members[0].ClientURL()+"/version", "", http.StatusOK); version.Body != direct.Body {
		t.Fatalf("/version through the proxy %v, direct %v", version, direct)
	}
	put := `{"key":"` + b64("k") + `","value":"` + b64("v") + `"}`
	mustHTTP(t, http.MethodPost, p.url+"/v3/kv/put", put, http.StatusOK)
	if a := mustHTTP(t, http.MethodPost, ro.url+"/v3/kv/put", put, http.StatusNotImplemented); a.Body != "" {
		t.Fatalf("readonly proxy: body %q, want none (etcd's 501)", a.Body)
	}
	mustHTTP(t, http.MethodGet, ro.url+"/version", "", http.StatusOK)

	c.Members[0].Kill()
	// If it led, the others elect a leader first: that is the cluster's
	// wait, not the proxy's.
	mustHTTP(t, http.MethodPost, p.url+"/v3/kv/range", `{"key":"`+b64("k")+`"}`, http.StatusOK)
	for i := range 20 {
		for _, path := range []string{"/version", "/health"} {
			a, err := doHTTP(http.MethodGet, p.url+path, "")
			if err != nil || a.Code != http.StatusOK {
				t.Fatalf("request %d to %s with a member down: %v, %v", i, path, a, err)
			}
		}
		a, err := doHTTP(http.MethodPost, p.url+"/v3/kv/range", `{"key":"`+b64("k")+`"}`)
		if err != nil || a.Code != http.StatusOK || !strings.Contains(a.Body, b64("v")) {
			t.Fatalf("range %d with a member down: %v, %v", i, a, err)
		}
	}

	// The cluster file holds the three peer URLs, as etcd writes it.
	var file struct{ PeerURLs []string }
	b, err := os.ReadFile(filepath.Join(p.dataDir, "proxy", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range c.Members {
		want = append(want, m.PeerURL())
	}
	slices.Sort(want)
	if !slices.Equal(file.PeerURLs, want) {
		t.Fatalf("cluster file %s, want peer URLs %v", b, want)
	}

	// Restarted with a cluster that does not exist, the proxy uses its file.
	args := slices.Clone(p.args)
	args[slices.Index(args, "--initial-cluster")+1] = "x=http://127.0.0.1:1"
	p.restart(t, args)
	if !LogContains(p.proc.Output(), "proxy using peer URLS from cluster file") {
		t.Errorf("restarted proxy did not read its cluster file:\n%s", p.proc.Output())
	}
	mustHTTP(t, http.MethodGet, p.url+"/health", "", http.StatusOK)
}

// TestProxyEtcdV2 puts a basalt proxy in front of three etcd 3.4 members
// serving the v2 API: /v2/keys writes and reads pass through, and keep
// working with a member killed; a readonly proxy refuses a v2 write with
// etcd's 501.
func TestProxyEtcdV2(t *testing.T) {
	c := etcdV2Cluster(t)
	p := startV2Proxy(t, Binary(), "on", t.TempDir(), "--initial-cluster", c.InitialCluster())
	ro := startV2Proxy(t, Binary(), "readonly", t.TempDir(), "--initial-cluster", c.InitialCluster())

	mustHTTP(t, http.MethodPut, p.url+"/v2/keys/foo", "value=bar", http.StatusCreated)
	if a := mustHTTP(t, http.MethodGet, ro.url+"/v2/keys/foo", "", http.StatusOK); !strings.Contains(a.Body, `"value":"bar"`) {
		t.Fatalf("get through the readonly proxy: %v", a)
	}
	if a := mustHTTP(t, http.MethodPut, ro.url+"/v2/keys/foo", "value=baz", http.StatusNotImplemented); a.Body != "" {
		t.Fatalf("readonly proxy: %v, want etcd's bare 501", a)
	}
	c.Members[1].Kill()
	// If it led, the others elect a leader first: that is the cluster's
	// wait, not the proxy's.
	mustHTTP(t, http.MethodPut, p.url+"/v2/keys/n", "value=-1", http.StatusOK)
	for i := range 20 {
		a, err := doHTTP(http.MethodPut, p.url+"/v2/keys/n", fmt.Sprintf("value=%d", i))
		if err != nil || a.Code != http.StatusOK && a.Code != http.StatusCreated {
			t.Fatalf("put %d with a member down: %v, %v", i, a, err)
		}
		a, err = doHTTP(http.MethodGet, p.url+"/v2/keys/n?quorum=true", "")
		if err != nil || a.Code != http.StatusOK || !strings.Contains(a.Body, fmt.Sprintf(`"value":"%d"`, i)) {
			t.Fatalf("get %d with a member down: %v, %v", i, a, err)
		}
	}
}

// etcdV2Cluster is three etcd 3.4 members serving the v2 API; the test
// skips without Debian's etcd.
func etcdV2Cluster(t *testing.T) *Cluster {
	t.Helper()
	if _, err := os.Stat(DebianEtcd); err != nil {
		t.Skipf("%s is missing (install Debian's etcd-server): the v2 keys API behind the proxy is etcd 3.4's until basalt serves it", DebianEtcd)
	}
	return NewCluster(t, 3, &Options{Binary: DebianEtcd, Args: []string{"--enable-v2"}, ReadyTimeout: 30 * time.Second, StopTimeout: 10 * time.Second})
}

// TestProxySideBySide runs etcd 3.4's proxy and basalt's in front of the
// same etcd 3.4 cluster, in both modes: every request gets the same
// answer from both, and both keep the same cluster file.
func TestProxySideBySide(t *testing.T) {
	c := etcdV2Cluster(t)
	type pair struct{ etcd, basalt *v2Proxy }
	proxies := map[string]pair{}
	for _, mode := range []string{"on", "readonly"} {
		proxies[mode] = pair{
			etcd:   startV2Proxy(t, DebianEtcd, mode, t.TempDir(), "--initial-cluster", c.InitialCluster()),
			basalt: startV2Proxy(t, Binary(), mode, t.TempDir(), "--initial-cluster", c.InitialCluster()),
		}
	}
	mustHTTP(t, http.MethodPut, proxies["on"].etcd.url+"/v2/keys/dir/a", "value=1", http.StatusCreated)
	// Wait until both proxies have endpoints.
	for _, pr := range proxies {
		mustHTTP(t, http.MethodGet, pr.etcd.url+"/v2/keys/dir/a", "", http.StatusOK)
		mustHTTP(t, http.MethodGet, pr.basalt.url+"/v2/keys/dir/a", "", http.StatusOK)
	}

	tests := []struct {
		method, path, form string
	}{
		{http.MethodGet, "/version", ""},
		{http.MethodGet, "/v2/keys/dir/a", ""},
		{http.MethodGet, "/v2/keys/dir?recursive=true", ""},
		{http.MethodGet, "/v2/keys/missing", ""},
		{http.MethodGet, "/v2/members", ""},
		{http.MethodGet, "/v2/machines", ""},
		{http.MethodGet, "/health", ""},
		{http.MethodGet, "/nowhere", ""},
		{http.MethodPut, "/v2/keys/dir/a?prevExist=false", "value=2"},
		{http.MethodDelete, "/v2/keys/missing", ""},
		{http.MethodPut, "/v2/keys/dir/a?prevValue=nope", "value=3"},
		{http.MethodGet, "/v2/config/local/proxy?x", ""},
		{http.MethodPut, "/v2/config/local/proxy", ""},
	}
	for mode, pr := range proxies {
		for _, tt := range tests {
			t.Run(mode+" "+tt.method+" "+tt.path, func(t *testing.T) {
				want, err := doHTTP(tt.method, pr.etcd.url+tt.path, tt.form)
				if err != nil {
					t.Fatal(err)
				}
				got, err := doHTTP(tt.method, pr.basalt.url+tt.path, tt.form)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(tt.path, "/v2/config/local/proxy") && got.Code == http.StatusOK {
					// The endpoints are listed in each proxy's own random order.
					got.Body, want.Body = sortedEndpoints(t, got.Body), sortedEndpoints(t, want.Body)
				}
				t.Logf("%v", got)
				if got != want {
					t.Errorf("basalt's proxy: %v\netcd's proxy:   %v", got, want)
				}
			})
		}
	}
	// Without a cluster to reach, both answer 503 with the same JSON.
	dead := "x=http://127.0.0.1:1"
	etcdDead := startV2Proxy(t, DebianEtcd, "on", t.TempDir(), "--initial-cluster", dead)
	basaltDead := startV2Proxy(t, Binary(), "on", t.TempDir(), "--initial-cluster", dead)
	want, err := doHTTP(http.MethodGet, etcdDead.url+"/v2/keys/a", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := doHTTP(http.MethodGet, basaltDead.url+"/v2/keys/a", "")
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got.Code != http.StatusServiceUnavailable {
		t.Errorf("no cluster: basalt's proxy %v, etcd's %v", got, want)
	}

	for mode, pr := range proxies {
		want, err := os.ReadFile(filepath.Join(pr.etcd.dataDir, "proxy", "cluster"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(pr.basalt.dataDir, "proxy", "cluster"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: basalt's cluster file %s, etcd's %s", mode, got, want)
		}
	}
}

func sortedEndpoints(t *testing.T, body string) string {
	var v struct {
		Endpoints []string `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("proxy config %q: %v", body, err)
	}
	slices.Sort(v.Endpoints)
	return fmt.Sprint(v.Endpoints)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
