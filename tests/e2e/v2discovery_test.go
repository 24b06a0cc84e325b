package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// v2DiscoveryService is a v2 keys API that etcd 3.4's discovery URL
// protocol goes through; start returns its client URL. The tests run
// against each, so they will run against basalt once it serves the v2 API.
type v2DiscoveryService struct {
	name  string
	start func(t *testing.T) string
}

var v2DiscoveryServices = []v2DiscoveryService{
	{"etcd 3.4", func(t *testing.T) string {
		return StartEtcd(t, "the v2 discovery service is etcd 3.4's v2 keys API", "--enable-v2").ClientURL
	}},
	{"basalt --enable-v2", func(t *testing.T) string {
		p, u := StartLoneMember(t, t.TempDir(), "--enable-v2")
		if err := p.WaitOutput(ReadyLine, 30*time.Second); err != nil {
			t.Skipf("basalt does not start with --enable-v2 yet (%v): the v2 keys API is being built", err)
		}
		if a, err := doHTTP(http.MethodGet, u+"/v2/keys/", ""); err != nil || a.Code != http.StatusOK {
			t.Skipf("basalt does not serve the v2 keys API yet (%v, %v)", a, err)
		}
		return u
	}},
}

// newV2Token makes a discovery URL on the service at svc for a cluster of
// size, writing its _config/size as an operator does.
func newV2Token(t *testing.T, svc, token string, size int) string {
	t.Helper()
	durl := svc + "/v2/keys/_etcd/registry/" + token
	mustHTTP(t, http.MethodPut, durl+"/_config/size", "value="+strconv.Itoa(size), http.StatusCreated)
	return durl
}

// v2Registrations are the members registered under durl: key base name
// (the member ID in hex) -> value.
func v2Registrations(t *testing.T, durl string) map[string]string {
	t.Helper()
	a := mustHTTP(t, http.MethodGet, durl, "", http.StatusOK)
	var resp struct {
		Node struct {
			Nodes []struct {
				Key, Value string
				Dir        bool
			}
		}
	}
	if err := json.Unmarshal([]byte(a.Body), &resp); err != nil {
		t.Fatalf("registrations %q: %v", a.Body, err)
	}
	out := map[string]string{}
	for _, n := range resp.Node.Nodes {
		if !n.Dir {
			out[path.Base(n.Key)] = n.Value
		}
	}
	return out
}

// TestV2Discovery bootstraps three basalt members by etcd 3.4's discovery
// URL: they form one cluster whose member and cluster IDs are the ones
// etcd's own code computes for the same flags, registered under the
// token with their IDs; a fourth member finds the cluster full and exits
// with etcd's messages, and a fifth with --discovery-fallback proxy
// becomes a proxy in front of the cluster; a proxy started with
// --discovery finds the cluster too.
func TestV2Discovery(t *testing.T) {
	for _, service := range v2DiscoveryServices {
		t.Run(service.name, func(t *testing.T) {
			svc := service.start(t)
			var mu sync.Mutex
			durls := map[string]string{}
			c := NewCluster(t, 3, &Options{Bootstrap: func(_ []*Member, m *Member, tok string) []string {
				mu.Lock()
				defer mu.Unlock()
				if durls[tok] == "" {
					durls[tok] = newV2Token(t, svc, "v2-"+tok, 3)
				}
				args := []string{"--discovery", durls[tok]}
				if m.Name == "fallback" {
					args = append(args, "--discovery-fallback", "proxy")
				}
				return args
			}})
			var durl string
			for _, u := range durls {
				durl = u // the start that succeeded is the last
			}
			cli := c.Client(t)
			memberList(t, cli, 3)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ml, err := cli.MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			var ids []uint64
			for _, m := range ml.Members {
				want[strconv.FormatUint(m.ID, 16)] = m.Name + "=" + m.PeerURLs[0]
				ids = append(ids, m.ID)
			}
			if got := v2Registrations(t, durl); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("registrations %v, want %v", got, want)
			}
			// etcd's rule for the cluster ID, over the member IDs.
			if id := clusterIDOf(ids); ml.Header.ClusterId != id {
				t.Errorf("cluster ID %x, want %x", ml.Header.ClusterId, id)
			}
			// etcd 3.4 started with a member's flags and a fresh data dir
			// finds its own registration: its member ID is the basalt
			// member's. basalt says the same, in etcd's zap words.
			refusals := []struct{ bin, want string }{{Binary(), "member has been registered with discovery service"}}
			if _, err := os.Stat(DebianEtcd); err == nil {
				refusals = append(refusals, struct{ bin, want string }{DebianEtcd, "has previously registered with discovery service token"})
			}
			m := c.Members[0]
			m.Stop(t)
			for _, r := range refusals {
				args := m.Args()
				args[slices.Index(args, "--data-dir")+1] = filepath.Join(t.TempDir(), "fresh")
				code, out, err := RunProcess(r.bin, args, nil, 30*time.Second)
				if err != nil || code != 1 || !strings.Contains(out, r.want) {
					t.Errorf("%s with %s's flags and no data: exit %d, %v; want 1 and %q:\n%s", r.bin, m.Name, code, err, r.want, out)
				}
			}
			m.Start(t)
			if !LogContains(m.Logs(), "discovery token is ignored since cluster already initialized; valid logs are found") {
				t.Errorf("restarted member did not say it ignores the discovery URL:\n%s", m.Logs())
			}
			if _, err := cli.Put(ctx, "k", "v"); err != nil {
				t.Fatalf("put: %v", err)
			}

			// A fourth member is turned away.
			late := c.PrepareMember(t, "late")
			if err := c.StartNew(late); err != nil {
				t.Fatal(err)
			}
			code, err := late.Process().Wait(30 * time.Second)
			if err != nil || code != 1 {
				t.Fatalf("late member: exit %d, %v; want 1\n%s", code, err, late.Process().Output())
			}
			for _, line := range []string{"discovery: cluster is full", "failed to bootstrap; discovery token was already used",
				"do not reuse discovery token; generate a new one to bootstrap a cluster"} {
				if !LogContains(late.Process().Output(), line) {
					t.Errorf("late member's output lacks %q:\n%s", line, late.Process().Output())
				}
			}
			c.Drop(late)

			// A fifth becomes a proxy.
			fb := c.PrepareMember(t, "fallback")
			if err := c.StartNew(fb); err != nil {
				t.Fatal(err)
			}
			if err := fb.Process().WaitOutput("v2 proxy started listening on client requests", 30*time.Second); err != nil {
				t.Fatalf("fallback member: %v\n%s", err, fb.Process().Output())
			}
			if !LogContains(fb.Process().Output(), "discovery cluster is full, falling back to proxy") {
				t.Errorf("fallback member did not say it falls back:\n%s", fb.Process().Output())
			}
			mustHTTP(t, http.MethodGet, fb.ClientURL()+"/health", "", http.StatusOK)
			range1 := mustHTTP(t, http.MethodPost, fb.ClientURL()+"/v3/kv/range", `{"key":"`+b64("k")+`"}`, http.StatusOK)
			if !strings.Contains(range1.Body, b64("v")) {
				t.Errorf("range through the fallback proxy: %v", range1)
			}
			if _, err := os.Stat(filepath.Join(fb.DataDir, "member")); !os.IsNotExist(err) {
				t.Errorf("fallback proxy kept a member dir: %v", err)
			}
			c.Drop(fb)

			// A proxy reads the cluster from the discovery URL.
			p := startV2Proxy(t, Binary(), "on", t.TempDir(), "--discovery", durl)
			mustHTTP(t, http.MethodGet, p.url+"/health", "", http.StatusOK)
		})
	}
}

// TestV2DiscoveryRefusals starts a basalt member and etcd 3.4's with the
// same bad discovery settings: both exit 1, and basalt says what etcd
// says.
func TestV2DiscoveryRefusals(t *testing.T) {
	if _, err := os.Stat(DebianEtcd); err != nil {
		t.Skipf("%s is missing: basalt's refusals are compared with etcd 3.4's", DebianEtcd)
	}
	svc := v2DiscoveryServices[0].start(t)
	bad := newV2Token(t, svc, "bad-size", 3)
	mustHTTP(t, http.MethodPut, bad+"/_config/size", "value=three", http.StatusOK)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no size key", []string{"--discovery", svc + "/v2/keys/_etcd/registry/nosize"}, "100: Key not found"},
		{"bad size key", []string{"--discovery", bad}, "discovery: size key is bad"},
		{"not a keys API", []string{"--discovery", svc + "/version"}, "discovery: bad discovery endpoint"},
		{"with --initial-cluster", []string{"--discovery", bad, "--initial-cluster", "m=http://127.0.0.1:1"},
			"multiple discovery or bootstrap flags are set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, bin := range []string{DebianEtcd, Binary()} {
				ports, err := FreePorts(2)
				if err != nil {
					t.Fatal(err)
				}
				client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
				args := append([]string{"--name", "m", "--data-dir", filepath.Join(t.TempDir(), "m.etcd"),
					"--listen-client-urls", client, "--advertise-client-urls", client,
					"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer}, tt.args...)
				code, out, err := RunProcess(bin, args, nil, 30*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", bin, err)
				}
				if code != 1 || !strings.Contains(out, tt.want) {
					t.Errorf("%s: exit %d, want 1 with %q:\n%s", bin, code, tt.want, out)
				}
			}
		})
	}
}

// clusterIDOf is etcd's cluster ID for members ids: the first 8 bytes of
// the SHA-1 of the sorted IDs, each 8 bytes big-endian.
func clusterIDOf(ids []uint64) uint64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// TestV2DiscoveryProxy bootstraps a one-member cluster by a discovery URL
// reached through --discovery-proxy, an HTTP proxy in the test that
// counts what goes through it.
func TestV2DiscoveryProxy(t *testing.T) {
	svc := v2DiscoveryServices[0].start(t)
	var mu sync.Mutex
	var seen []string
	fwd := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		// A forward proxy gets absolute URLs: send each where it names.
		mu.Lock()
		seen = append(seen, r.In.Method+" "+r.In.URL.Path)
		mu.Unlock()
		r.Out.URL = r.In.URL
	}})
	defer fwd.Close()
	var durl string
	c := NewCluster(t, 1, &Options{Bootstrap: func(_ []*Member, _ *Member, tok string) []string {
		durl = newV2Token(t, svc, "via-proxy-"+tok, 1)
		return []string{"--discovery", durl, "--discovery-proxy", strings.TrimPrefix(fwd.URL, "http://")}
	}})
	memberList(t, c.Client(t), 1)
	u, err := url.Parse(durl)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, "GET "+u.Path+"/_config/size") || !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, "PUT "+u.Path+"/") }) {
		t.Fatalf("requests through the discovery proxy: %v", seen)
	}
}
