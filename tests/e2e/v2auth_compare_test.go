package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
)

// v2Basic is an Authorization header of basic auth.
func v2Basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestV2AuthMatchEtcd34 sends the same /v2/auth, /v2/keys and /v2/members
// requests to Debian's etcd 3.4 (--enable-v2) and to basalt --enable-v2
// and compares status, headers and bodies: users and roles created,
// changed, refused and deleted, auth enabled, keys read and written by
// users, by the guest role and by no one, root-only changes, auth
// disabled. The last write's index shows both stores made the same
// writes for the auth state.
func TestV2AuthMatchEtcd34(t *testing.T) {
	etcd := StartEtcd(t, "the v2 auth API is compared with etcd 3.4's", "--enable-v2")
	c := NewCluster(t, 1, &Options{Args: []string{"--enable-v2"}})
	servers := []*v2Server{{name: "etcd 3.4", url: etcd.ClientURL}, {name: "basalt", url: c.Members[0].ClientURL()}}
	v2Bases(t, servers)
	before := []map[string]int64{v2Stats(t, servers[0]), v2Stats(t, servers[1])}
	root := v2Basic("root", "rootpw")
	badRoot := v2Basic("root", "nope")
	alice := v2Basic("alice", "alicepw")
	bob := v2Basic("bob", "bobpw")
	steps := []v2Step{
		// Auth off: the state is empty, and anyone may change it.
		{method: "GET", path: "/v2/auth/enable"},
		{method: "PUT", path: "/v2/auth/enable"},
		{method: "DELETE", path: "/v2/auth/enable"},
		{method: "POST", path: "/v2/auth/enable"},
		{method: "GET", path: "/v2/auth/users"},
		{method: "GET", path: "/v2/auth/users/"},
		{method: "GET", path: "/v2/auth/roles"},
		{method: "GET", path: "/v2/auth/users/root"},
		{method: "GET", path: "/v2/auth/roles/root"},
		{method: "GET", path: "/v2/auth/roles/guest"},
		{method: "POST", path: "/v2/auth/users"},
		{method: "PATCH", path: "/v2/auth/users/root"},
		{method: "GET", path: "/v2/auth/users/a/b"},
		{method: "GET", path: "/v2/auth/roles/a/b/c"},
		{method: "GET", path: "/v2/auth"},
		{method: "GET", path: "/v2/auth/"},
		{method: "GET", path: "/v2/auth/foo"},
		{method: "GET", path: "/v2/auth/users/a%2Fb"},
		{method: "GET", path: "/v2/auth/users/root/"},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root"}`},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":`},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"other","password":"x"}`},
		{method: "PUT", path: "/v2/auth/users/nobody", json: `{"user":"nobody","grant":["x"]}`},
		{method: "DELETE", path: "/v2/auth/users/nobody"},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root","password":"rootpw"}`},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root","password":"rootpw"}`},
		{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root"}`},
		{method: "PUT", path: "/v2/auth/users/alice", json: `{"user":"alice","password":"alicepw","roles":["reader"]}`},
		{method: "PUT", path: "/v2/auth/users/alice", json: `{"user":"alice","password":"alicepw","roles":["reader"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","password":"bobpw"}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["writer"],"roles":["x"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["writer","zed","writer"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["writer","zed"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["writer"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","revoke":["nope"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","revoke":["zed"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob"}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["100%s"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","grant":["100%s"]}`},
		{method: "PUT", path: "/v2/auth/users/bob", json: `{"user":"bob","revoke":["100%s"]}`},
		{method: "PUT", path: "/v2/auth/users/carol", json: `{"user":"carol","password":"c","roles":[]}`},
		{method: "GET", path: "/v2/auth/users"},
		{method: "GET", path: "/v2/auth/users/alice"},
		{method: "GET", path: "/v2/auth/users/bob"},
		{method: "PUT", path: "/v2/auth/roles/reader", json: `{"role":"reader","permissions":{"kv":{"read":["/pub/*","/exact"],"write":[]}}}`},
		{method: "PUT", path: "/v2/auth/roles/reader", json: `{"role":"reader"}`},
		{method: "PUT", path: "/v2/auth/roles/root", json: `{"role":"root"}`},
		{method: "PUT", path: "/v2/auth/roles/root", json: `{"role":"root","grant":{"kv":{"read":["/a"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/x", json: `{"role":"y"}`},
		{method: "PUT", path: "/v2/auth/roles/x", json: `[`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","permissions":{"kv":{"read":["/w/*"],"write":["/w/*"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","grant":{"kv":{"read":["/w/*"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","grant":{"kv":{"write":["/x","/x"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","grant":{"kv":{"write":["/x"]}},"revoke":{"kv":{"read":["/w/*","/none"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","permissions":{"kv":{"read":["/a"]}},"grant":{"kv":{"read":["/b"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/writer", json: `{"role":"writer","revoke":{"kv":{"read":["/none"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/nope", json: `{"role":"nope","grant":{"kv":{"read":["/a"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/empty", json: `{"role":"empty","grant":{"kv":{"read":[]}},"permissions":{"kv":{"read":["/e"]}}}`},
		{method: "GET", path: "/v2/auth/roles/empty"},
		{method: "DELETE", path: "/v2/auth/roles/empty"},
		{method: "DELETE", path: "/v2/auth/roles/empty"},
		{method: "DELETE", path: "/v2/auth/roles/root"},
		{method: "GET", path: "/v2/auth/roles"},
		{method: "GET", path: "/v2/auth/roles/writer"},
		{method: "GET", path: "/v2/auth/roles/nope"},
		{method: "GET", path: "/v2/auth/users/alice"},
		{method: "GET", path: "/v2/auth/users"},
		// Auth on: a guest role with access to every key appears.
		{method: "PUT", path: "/v2/auth/enable"},
		{method: "GET", path: "/v2/auth/enable"},
		{method: "PUT", path: "/v2/auth/enable"},
		{method: "PUT", path: "/v2/auth/enable", auth: root},
		{method: "GET", path: "/v2/auth/users"},
		{method: "GET", path: "/v2/auth/users", auth: bob},
		{method: "GET", path: "/v2/auth/users", auth: badRoot},
		{method: "GET", path: "/v2/auth/users", auth: "Bearer token"},
		{method: "GET", path: "/v2/auth/users", auth: root},
		{method: "GET", path: "/v2/auth/roles", auth: root},
		{method: "GET", path: "/v2/auth/roles/guest", auth: root},
		{method: "GET", path: "/v2/auth/roles/guest"},
		{method: "GET", path: "/v2/auth/users/a/b"},
		{method: "POST", path: "/v2/auth/roles"},
		{method: "DELETE", path: "/v2/auth/users/root", auth: root},
		// The guest role: every key, but the key API's root ("").
		{method: "PUT", path: "/v2/keys/foo", params: "value=guest"},
		{method: "GET", path: "/v2/keys/foo"},
		{method: "GET", path: "/v2/keys"},
		{method: "GET", path: "/v2/keys/", params: "sorted=true"},
		{method: "GET", path: "/v2/keys/foo", params: "recursive=true"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=x", auth: badRoot},
		{method: "PUT", path: "/v2/keys/foo", params: "value=x", auth: "Bearer token"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=x&prevIndex=abc", auth: badRoot},
		{method: "PUT", path: "/v2/auth/roles/guest", json: `{"role":"guest","revoke":{"kv":{"write":["/*"]}}}`},
		{method: "PUT", path: "/v2/auth/roles/guest", json: `{"role":"guest","revoke":{"kv":{"write":["/*"]}}}`, auth: root},
		{method: "PUT", path: "/v2/keys/foo", params: "value=x"},
		{method: "DELETE", path: "/v2/keys/foo"},
		{method: "GET", path: "/v2/keys/foo"},
		{method: "HEAD", path: "/v2/keys/foo"},
		// bob: writer (write /w/* and /x, read nothing).
		{method: "PUT", path: "/v2/keys/w/a", params: "value=1", auth: bob},
		{method: "GET", path: "/v2/keys/w/a", auth: bob},
		{method: "PUT", path: "/v2/keys/x", params: "value=1", auth: bob},
		{method: "PUT", path: "/v2/keys/x/y", params: "value=1", auth: bob},
		{method: "POST", path: "/v2/keys/w/q", params: "value=1", auth: bob},
		{method: "DELETE", path: "/v2/keys/w", params: "recursive=true", auth: bob},
		{method: "DELETE", path: "/v2/keys/w/", params: "recursive=true", auth: bob},
		{method: "PUT", path: "/v2/keys/w/b", params: "value=1", auth: bob},
		{method: "DELETE", path: "/v2/keys/w/b", auth: bob},
		// alice: reader (read /pub/* and /exact).
		{method: "PUT", path: "/v2/keys/pub/a", params: "value=1", auth: root},
		{method: "PUT", path: "/v2/keys/exact", params: "value=1", auth: root},
		{method: "GET", path: "/v2/keys/pub/a", auth: alice},
		{method: "GET", path: "/v2/keys/pub", params: "recursive=true", auth: alice},
		{method: "GET", path: "/v2/keys/pub/", params: "recursive=true", auth: alice},
		{method: "GET", path: "/v2/keys/exact", auth: alice},
		{method: "GET", path: "/v2/keys/exact", params: "recursive=true", auth: alice},
		{method: "GET", path: "/v2/keys/exact", params: "quorum=true", auth: alice},
		{method: "PUT", path: "/v2/keys/pub/a", params: "value=2", auth: alice},
		{method: "GET", path: "/v2/keys/foo", auth: alice},
		{method: "GET", path: "/v2/keys/", params: "recursive=true&sorted=true", auth: root},
		// carol holds no role; a user's deleted role grants nothing.
		{method: "GET", path: "/v2/keys/pub/a", auth: v2Basic("carol", "c")},
		{method: "DELETE", path: "/v2/auth/roles/reader", auth: root},
		{method: "GET", path: "/v2/keys/pub/a", auth: alice},
		{method: "GET", path: "/v2/auth/users/alice", auth: root},
		{method: "GET", path: "/v2/auth/users", auth: root},
		// Members: reads are open, changes are root's.
		{method: "POST", path: "/v2/members", json: `{"peerURLs":["http://127.0.0.1:1"]}`},
		{method: "POST", path: "/v2/members", json: `{"peerURLs":["http://127.0.0.1:1"]}`, auth: bob},
		{method: "DELETE", path: "/v2/members/1234", auth: alice},
		{method: "PUT", path: "/v2/members/1234", json: `{}`},
		{method: "POST", path: "/v2/members", params: "x=1", auth: root},
		{method: "PATCH", path: "/v2/members", auth: bob},
		// Without a guest role, requests without credentials reach nothing.
		{method: "DELETE", path: "/v2/auth/roles/guest", auth: root},
		{method: "GET", path: "/v2/keys/foo"},
		{method: "GET", path: "/v2/auth/enable"},
		{method: "DELETE", path: "/v2/auth/enable", auth: bob},
		{method: "DELETE", path: "/v2/auth/enable", auth: root},
		{method: "DELETE", path: "/v2/auth/enable", auth: root},
		{method: "GET", path: "/v2/auth/enable"},
		// Auth off again: keys for anyone; enabling brings the guest back.
		{method: "PUT", path: "/v2/keys/foo", params: "value=free"},
		{method: "PUT", path: "/v2/keys/foo", params: "value=free", auth: badRoot},
		{method: "DELETE", path: "/v2/auth/users/bob"},
		{method: "GET", path: "/v2/auth/users/bob"},
		{method: "PUT", path: "/v2/auth/enable"},
		{method: "GET", path: "/v2/auth/roles/guest", auth: root},
		{method: "DELETE", path: "/v2/auth/enable", auth: root},
		{method: "DELETE", path: "/v2/auth/users/root"},
		{method: "PUT", path: "/v2/auth/enable"},
		{method: "PUT", path: "/v2/keys/last", params: "value=1"},
	}
	v2CompareSteps(t, servers, steps)
	// The checks' reads of the auth state count in the store's
	// statistics as etcd's do.
	for name := range before[0] {
		want := v2Stats(t, servers[0])[name] - before[0][name]
		got := v2Stats(t, servers[1])[name] - before[1][name]
		if want != got {
			t.Errorf("/v2/stats/store %s moved by %d on %s, by %d on %s", name, want, servers[0].name, got, servers[1].name)
		}
	}
}

// v2Stats is the server's /v2/stats/store.
func v2Stats(t *testing.T, s *v2Server) map[string]int64 {
	t.Helper()
	resp, err := http.Get(s.url + "/v2/stats/store")
	if err != nil {
		t.Fatalf("%s: stats: %v", s.name, err)
	}
	defer resp.Body.Close()
	var st map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s: stats: %v", s.name, err)
	}
	return st
}

// TestV2AuthClientCertMatchEtcd34: with --client-cert-auth, a request
// without an Authorization header is the user its certificate's common
// name names, and one whose name is no user is the guest; basic auth
// beats the certificate. Compared with Debian's etcd 3.4 over mutual TLS,
// both trusting the same CA.
func TestV2AuthClientCertMatchEtcd34(t *testing.T) {
	if _, err := os.Stat(DebianEtcd); err != nil {
		t.Skipf("%s is missing (install Debian's etcd-server): v2 auth by client certificate is compared with etcd 3.4's", DebianEtcd)
	}
	certs := NewCerts(t, t.TempDir())
	opts := Options{ClientTLS: MutualTLS, Certs: certs, Args: []string{"--enable-v2"}}
	etcdOpts := opts
	etcdOpts.Binary = DebianEtcd
	etcd := NewCluster(t, 1, &etcdOpts)
	basalt := NewCluster(t, 1, &opts)
	// identities[cn] are the two servers as a client with that
	// certificate sees them.
	identities := map[string][]*v2Server{}
	for _, cn := range []string{"root", "alice", "nobody"} {
		cert := certs.Client
		if cn != "root" {
			cert = certs.CA.Issue(t, cn, tlstest.Options{CommonName: cn, Client: true})
		}
		info := tlsutil.Info{TrustedCAFile: certs.CA.CertFile, ServerName: "127.0.0.1", CertFile: cert.CertFile, KeyFile: cert.KeyFile}
		cfg, err := info.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		identities[cn] = []*v2Server{
			{name: "etcd 3.4", url: etcd.Members[0].ClientURL(), client: client},
			{name: "basalt", url: basalt.Members[0].ClientURL(), client: client},
		}
	}
	v2Bases(t, identities["root"])
	for _, servers := range identities {
		for i, s := range servers {
			s.base = identities["root"][i].base
		}
	}
	steps := []struct {
		cn string
		v2Step
	}{
		{"nobody", v2Step{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root","password":"rootpw"}`}},
		{"nobody", v2Step{method: "PUT", path: "/v2/auth/users/alice", json: `{"user":"alice","password":"alicepw","roles":["reader"]}`}},
		{"nobody", v2Step{method: "PUT", path: "/v2/auth/roles/reader", json: `{"role":"reader","permissions":{"kv":{"read":["/pub/*"],"write":["/pub/*"]}}}`}},
		{"alice", v2Step{method: "PUT", path: "/v2/auth/enable"}},
		{"alice", v2Step{method: "GET", path: "/v2/auth/enable"}},
		{"alice", v2Step{method: "GET", path: "/v2/auth/users"}},
		{"nobody", v2Step{method: "GET", path: "/v2/auth/users"}},
		{"root", v2Step{method: "GET", path: "/v2/auth/users"}},
		{"alice", v2Step{method: "GET", path: "/v2/auth/users", auth: v2Basic("root", "rootpw")}},
		{"root", v2Step{method: "GET", path: "/v2/auth/users", auth: v2Basic("alice", "alicepw")}},
		{"root", v2Step{method: "GET", path: "/v2/auth/users", auth: v2Basic("root", "wrong")}},
		{"alice", v2Step{method: "PUT", path: "/v2/keys/pub/a", params: "value=1"}},
		{"alice", v2Step{method: "GET", path: "/v2/keys/pub/a"}},
		{"alice", v2Step{method: "PUT", path: "/v2/keys/other", params: "value=1"}},
		{"nobody", v2Step{method: "PUT", path: "/v2/keys/other", params: "value=guest"}},
		{"root", v2Step{method: "PUT", path: "/v2/auth/roles/guest", json: `{"role":"guest","revoke":{"kv":{"write":["/*"]}}}`}},
		{"nobody", v2Step{method: "PUT", path: "/v2/keys/other", params: "value=guest"}},
		{"nobody", v2Step{method: "GET", path: "/v2/keys/other"}},
		{"alice", v2Step{method: "PUT", path: "/v2/keys/other", params: "value=root", auth: v2Basic("root", "rootpw")}},
		{"root", v2Step{method: "DELETE", path: "/v2/keys/other"}},
		{"alice", v2Step{method: "POST", path: "/v2/members", json: `{"peerURLs":["http://127.0.0.1:1"]}`}},
		{"root", v2Step{method: "DELETE", path: "/v2/members/1234"}},
		{"alice", v2Step{method: "DELETE", path: "/v2/auth/enable"}},
		{"root", v2Step{method: "DELETE", path: "/v2/auth/enable"}},
		{"nobody", v2Step{method: "PUT", path: "/v2/keys/last", params: "value=1"}},
	}
	for i, step := range steps {
		servers := identities[step.cn]
		want := v2Do(t, servers[0], step.v2Step)
		got := v2Do(t, servers[1], step.v2Step)
		if want != got {
			t.Errorf("step %d: as %s: %s %s %s %s (auth %q):\n%s:\n%s\n%s:\n%s", i, step.cn, step.method, step.path, step.params, step.json, step.auth,
				servers[0].name, want, servers[1].name, got)
		}
	}
}
